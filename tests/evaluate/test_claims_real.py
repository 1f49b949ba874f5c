"""Two devices claiming one link: the real udevd 252 (loop6 stands for the XenServer
host's sdb, loop7 for another disk), triggered "add" and then "change" on both, gives the
link to the higher link_priority; `check --root` over the very files udevd ran says the
same: drift (status `claimed`, the other disk's rule as the cause) where udevd moved the
link, compliant where it stayed. The controls are claims udevd did not give the link to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluate.check_tree import check_like_udevd
from tests.evaluate.udevd import Outcome, run_sets, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

LINK = "xapi/block/loop6"
BLOCK = 'ACTION!="remove", KERNEL=="loop6", SYMLINK+="xapi/block/%k"\n'
# name -> (60-other.rules, the device udevd gives the link after add and after change)
CASES: dict[str, tuple[str, str]] = {
    "another disk's rule with link_priority=100 (the issue's row 3)": (
        'KERNEL=="loop7", SYMLINK+="xapi/block/loop6", OPTIONS+="link_priority=100"\n', "loop7"),
    "the other disk's link made through a substitution": (
        'KERNEL=="loop7", ENV{WHICH}="block/loop6"\n'
        'KERNEL=="loop7", SYMLINK+="xapi/$env{WHICH}", OPTIONS+="link_priority=5"\n', "loop7"),
    "a priority set by a rule that names no link": (
        'KERNEL=="loop7", SYMLINK+="xapi/block/loop6"\nKERNEL=="loop7", OPTIONS+="link_priority=1"\n', "loop7"),
    "control: another disk's rule with link_priority=-100": (
        'KERNEL=="loop7", SYMLINK+="xapi/block/loop6", OPTIONS+="link_priority=-100"\n', "loop6"),
    "control: the block's own higher priority": (
        'KERNEL=="loop7", SYMLINK+="xapi/block/loop6", OPTIONS+="link_priority=100"\n'
        'KERNEL=="loop6", OPTIONS+="link_priority=200"\n', "loop6"),
    "control: a pattern that gives the other disk its own link": (
        'KERNEL=="loop*", SYMLINK+="xapi/block/%k", OPTIONS+="link_priority=100"\n', "loop6"),
}


def files_of(name: str) -> dict[str, str]:
    return {"50-udev.rules": BLOCK, "60-other.rules": CASES[name][0]}


@pytest.fixture(scope="module")
def real() -> dict[str, Outcome]:
    names = sorted(CASES)
    # every rule here names loop6 or loop7: other devices' events get nothing from them
    return dict(zip(names, run_sets([files_of(name) for name in names], guard=False, change=True)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_udevd_gives_the_link_to_the_higher_priority_at_add_and_at_change(
        name: str, real: dict[str, Outcome]) -> None:
    owner = CASES[name][1]
    outcome = real[name]
    assert outcome.changed_links is not None
    for links in (outcome.dev_links, outcome.changed_links):
        assert links.get(LINK, "").rsplit("/", 1)[-1] == owner, links


@pytest.mark.parametrize("as_udevd_left_it", [True, False], ids=["link-as-udevd-left-it", "link-on-loop6"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_check_on_the_same_files_says_where_udevd_puts_the_link(
        name: str, as_udevd_left_it: bool, real: dict[str, Outcome], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    owner = CASES[name][1]
    outcome = real[name]
    target = outcome.dev_links[LINK] if as_udevd_left_it else "../../loop6"
    status, findings = check_like_udevd(tmp_path, capsys, outcome.files, BLOCK, LINK, target, ("loop6", "loop7"))
    link = next(f for f in findings if f["kind"] == "symlink")
    if owner == "loop6":
        assert status == 0 and link["status"] == "ok" and link["effect"] == "yes", link
        return
    assert status == 1 and link["drift"] and link["effect"] == "no", link
    assert link["status"] == ("wrong-target" if as_udevd_left_it else "claimed"), link
    assert link["cause"]["why"] == "claimed" and link["cause"]["file"] == "/etc/udev/rules.d/60-other.rules"
    said = link["message"] if link["status"] == "claimed" else " ".join(link["details"])
    assert "udev gives it to loop7" in said, link
