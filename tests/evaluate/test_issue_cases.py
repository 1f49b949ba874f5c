"""The cases that made a text check say "compliant" while udev makes no link: the real
udevd 252 (loop6 standing in for the XenServer host's sdb) shows that no link is made, and
the evaluator says so, with the rule to look at. Harmless neighbours keep the link, by
both."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri
from checker.observe.udev import device_facts
from tests.evaluate.udevd import Outcome, run_sets, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

# the link rule as the shipped policy writes it: on every event but remove (a change event
# would remove a link made at add only: tests/evaluate/test_every_event_real.py)
BLOCK = 'ACTION!="remove", KERNEL=="loop6", SYMLINK+="xapi/block/%k"\n'
LINK = "xapi/block/loop6"

# name -> (rules files, is the link made, the cause the evaluator gives when it is not)
CASES: dict[str, tuple[Mapping[str, str], bool, str | None]] = {
    "vendor GOTO over the block": (
        {"50-udev.rules": 'KERNEL=="loop*", GOTO="x_end"\n' + BLOCK + 'LABEL="x_end"\n'},
        False, "the rule at 50-udev.rules:2 is skipped by the GOTO at 50-udev.rules:1"),
    "later SYMLINK= replaces the list": (
        {"50-udev.rules": BLOCK, "60-other.rules": 'KERNEL=="loop6", SYMLINK="other/%k"\n'},
        False, "replaced by the SYMLINK= at 60-other.rules:1 (after 50-udev.rules:1 added it)"),
    "earlier SYMLINK:= makes the list final": (
        {"10-fixed.rules": 'KERNEL=="loop6", SYMLINK:="fixed/%k"\n', "50-udev.rules": BLOCK},
        False, "the rule at 50-udev.rules:1 is ignored: the links were made final by the "
               "SYMLINK:= at 10-fixed.rules:1"),
    "ENV{ID_SERIAL} matched before it is set": (
        {"50-udev.rules": 'ENV{ID_SERIAL}=="loopserial", SYMLINK+="xapi/block/%k"\n',
         "60-persistent-storage.rules": 'KERNEL=="loop6", ENV{ID_SERIAL}="loopserial"\n'},
        False, 'the rule at 50-udev.rules:1 does not match: ENV{ID_SERIAL}=="loopserial"; '
               "ENV{ID_SERIAL} is set only later, by 60-persistent-storage.rules:1"),
    "a GOTO whose LABEL comes before the block": (
        {"50-udev.rules": 'KERNEL=="loop*", GOTO="x_end"\nLABEL="x_end"\n' + BLOCK}, True, None),
    "a later SYMLINK+= for the same disk": (
        {"50-udev.rules": BLOCK, "60-other.rules": 'KERNEL=="loop6", SYMLINK+="other/%k"\n'}, True, None),
    "a later SYMLINK= for another disk": (
        {"50-udev.rules": BLOCK, "60-other.rules": 'KERNEL=="loop7", SYMLINK="other/%k"\n'}, True, None),
    "a GOTO in another file": (
        {"10-vendor.rules": 'KERNEL=="loop*", GOTO="x_end"\nLABEL="x_end"\n', "50-udev.rules": BLOCK},
        True, None),
}  # fmt: skip


@pytest.fixture(scope="module")
def real() -> dict[str, Outcome]:
    names = sorted(CASES)
    # every rule here names loop6 (or jumps): other devices' events get nothing from them
    return dict(zip(names, run_sets([CASES[name][0] for name in names], guard=False)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_udevd_and_the_evaluator_agree_on_the_link_and_the_evaluator_says_why(
        name: str, real: dict[str, Outcome]) -> None:
    _, made, cause = CASES[name]
    outcome = real[name]
    assert (LINK in outcome.devices["loop6"].links) is made
    assert (LINK in outcome.dev_links) is made
    rules = RuleSet.from_texts(sorted(outcome.files.items()))
    evaluation = evaluate(rules, device_facts("/sys/block/loop6", "add"))
    assert evaluation.link(LINK) is (Tri.YES if made else Tri.NO)
    assert evaluation.cause(LINK) == cause


WANTED = {  # the rule each case's policy wants in 50-udev.rules
    name: ('ENV{ID_SERIAL}=="loopserial", SYMLINK+="xapi/block/%k"' if "ID_SERIAL" in name
           else BLOCK.strip())
    for name in CASES
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_on_the_same_rules_files_says_what_udevd_did(
        name: str, real: dict[str, Outcome], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check --root` over a tree holding exactly the files udevd ran: drift with the
    evaluator's cause where udevd made no link, compliant where it did."""
    from checker.cli import main

    files, made, cause = CASES[name]
    assert (LINK in real[name].devices["loop6"].links) is made
    rules_d = tmp_path / "etc/udev/rules.d"
    rules_d.mkdir(parents=True)
    for file_name, text in files.items():
        (rules_d / file_name).write_text(text)
    (tmp_path / "dev/xapi/block").mkdir(parents=True)
    (tmp_path / "dev/loop6").write_text("")
    (tmp_path / "dev/xapi/block/loop6").symlink_to("../../loop6")  # there now, from before
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nname: case\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n    ensure: lines\n"
        f"    content: |\n      {WANTED[name]}\nsymlinks:\n  - link: /dev/xapi/block/loop6\n"
        "    target: /dev/loop6\n")
    status = main(["check", "--root", str(tmp_path), "--skip-policy-permission-check", "--format", "json",
                   str(policy)])
    report = json.loads(capsys.readouterr().out)
    link = next(f for f in report["policies"][0]["findings"] if f["kind"] == "symlink")
    if made:
        assert status == 0 and link["status"] == "ok" and link["effect"] == "yes", link
    else:
        assert status == 1 and link["status"] == "not-made", link
        expected = (cause or "").replace("50-udev.rules", "/etc/udev/rules.d/50-udev.rules") \
            .replace("60-other.rules", "/etc/udev/rules.d/60-other.rules") \
            .replace("10-fixed.rules", "/etc/udev/rules.d/10-fixed.rules") \
            .replace("60-persistent-storage.rules", "/etc/udev/rules.d/60-persistent-storage.rules")
        assert link["message"] == f"udev would not make it at the next event for loop6: {expected}"
