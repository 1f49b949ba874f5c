"""Link names as udev 252 writes them, and the ones it lists but does not create.

Each rule set runs through the real udevd 252 on loop6 (tests/evaluate/udevd.py), at add
and at the change after it. What counts is what udevd left in /dev: DEVLINKS and the
database list some names udev then fails to create. On the same files, `check --root`
with the links as udevd made them must call a wanted link made exactly where udevd made
it, drift where it did not (with udev's reason), and unknown where udev's order decides;
`explain` lists the names udev does not create; the evaluator says the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.evaluate.causes import link_on_disk
from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri
from checker.observe.udev import device_facts
from tests.evaluate.udevd import Outcome, run_sets, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

LONG = "n" * 256  # one part over NAME_MAX

# name -> (50-names.rules for loop6, the name udev lists, the link a policy wants (None: a
# policy cannot name it), what udevd leaves in /dev: "made", "not made" or "varies")
CASES: dict[str, tuple[str, str, str | None, str]] = {
    "a comma": ('SYMLINK+="fz/a,b"', "fz/a_b", "fz/a_b", "made"),
    "a single quote": ("SYMLINK+=\"fz/q'x\"", "fz/q_x", "fz/q_x", "made"),
    "%% (a literal %) then k": ('SYMLINK="fz/%%k"', "fz/_k", "fz/_k", "made"),
    "two backslashes": ('SYMLINK+="fz/back\\\\slash"', "fz/back__slash", "fz/back__slash", "made"),
    "a space, string_escape=replace": ('SYMLINK+="fz/sp ace", OPTIONS+="string_escape=replace"',
                                       "fz/sp_ace", "fz/sp_ace", "made"),
    "spaces around, string_escape=replace": ('SYMLINK+=" fz/s3 ", OPTIONS+="string_escape=replace"',
                                             "_fz/s3_", "_fz/s3_", "made"),
    "$$ (a literal $) then $kernel": ('SYMLINK+="fz/$$$kernel"', "fz/_loop6", "fz/_loop6", "made"),
    "control: a space without string_escape makes two links": ('SYMLINK+="fz/sp ace"', "fz/sp", "fz/sp", "made"),
    "an empty last part": ('ENV{Y}=""\nKERNEL=="loop6", SYMLINK="fz/$env{Y}"', "fz/", "fz", "not made"),
    "a trailing slash": ('SYMLINK+="fz/a/"', "fz/a/", "fz/a", "not made"),
    "a .. part": ('SYMLINK+="fz/../fz/up"', "fz/../fz/up", "fz/up", "not made"),
    "a part over 255 bytes": (f'SYMLINK+="fz/{LONG}"', f"fz/{LONG}", None, "not made"),
    "a link that is the directory of another": ('SYMLINK+="fz/2 fz/2/x"', "fz/2", "fz/2", "varies"),
    "a link under another": ('SYMLINK+="fz/2 fz/2/x"', "fz/2/x", "fz/2/x", "varies"),
}  # fmt: skip


def files_of(name: str) -> dict[str, str]:
    return {"50-names.rules": f'KERNEL=="loop6", {CASES[name][0]}\n'}


@pytest.fixture(scope="module")
def real() -> dict[str, Outcome]:
    names = sorted(CASES)
    # every rule here names loop6: other devices' events get nothing from them
    return dict(zip(names, run_sets([files_of(name) for name in names], guard=False, change=True)))


def on_disk(outcome: Outcome, link: str, event: str) -> bool:
    links = outcome.dev_links if event == "add" else outcome.changed_links
    assert links is not None
    return link in links


@pytest.mark.parametrize("name", sorted(CASES))
def test_udevd_lists_the_name_as_the_table_says_and_makes_it_or_not(name: str, real: dict[str, Outcome]) -> None:
    _, listed, _, made = CASES[name]
    outcome = real[name]
    assert outcome.changed is not None
    for event, devices in (("add", outcome.devices), ("change", outcome.changed)):
        assert listed in devices["loop6"].links, (event, sorted(devices["loop6"].links))
        if made != "varies":
            assert on_disk(outcome, listed, event) is (made == "made"), (event, outcome.dev_links)
    if made == "varies":  # exactly one of the two, whichever udev handled first
        assert ("fz/2" in outcome.dev_links) != ("fz/2/x" in outcome.dev_links), outcome.dev_links


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_evaluator_says_what_udevd_left_in_dev(name: str, real: dict[str, Outcome]) -> None:
    _, listed, wanted, made = CASES[name]
    rules = RuleSet.from_texts(sorted(real[name].files.items()))
    for event in ("add", "change"):
        evaluation = evaluate(rules, device_facts("/sys/block/loop6", event))
        assert evaluation.link(listed) is Tri.YES, event  # listed: DEVLINKS, the database
        answer, cause = link_on_disk(evaluation, listed)
        if made == "varies":
            assert answer is Tri.UNKNOWN and cause is not None, event
        else:
            assert answer is Tri.of(on_disk(real[name], listed, event)), (event, cause)
        if wanted is not None and wanted != listed:  # the place a policy names
            assert link_on_disk(evaluation, wanted)[0] is Tri.of(on_disk(real[name], wanted, event)), event


def _tree(tmp_path: Path, outcome: Outcome) -> Path:
    """The rules udevd read and /dev as udevd left it after the add."""
    rules_d = tmp_path / "etc/udev/rules.d"
    rules_d.mkdir(parents=True)
    for file_name, text in outcome.files.items():
        (rules_d / file_name).write_text(text)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/loop6").write_text("")
    for link, target in outcome.dev_links.items():
        path = tmp_path / "dev" / link
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    return tmp_path


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][2] is not None))
def test_check_calls_the_wanted_link_made_exactly_where_udevd_made_it(
        name: str, real: dict[str, Outcome], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from checker.cli import main

    _, listed, wanted, made = CASES[name]
    root = _tree(tmp_path / "root", real[name])
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nname: names\nsymlinks:\n  - link: /dev/{wanted}\n    target: /dev/loop6\n")
    status = main(["check", "--root", str(root), "--skip-policy-permission-check", "--format", "json",
                   str(policy)])
    finding = json.loads(capsys.readouterr().out)["policies"][0]["findings"][0]
    there = wanted in real[name].dev_links
    said = " ".join([finding.get("message", ""), *finding.get("details", [])])
    if made == "varies":
        assert finding["effect"] == "unknown" and "whichever it handles first" in said, finding
    elif there:
        assert (status, finding["status"], finding["effect"]) == (0, "ok", "yes"), finding
    else:
        assert status == 1 and finding["drift"] and finding["effect"] == "no", finding
        assert f"udev lists it as {listed} and does not create that" in said, finding
        assert finding["cause"]["line"] == 1 + CASES[name][0].count("\n"), finding


@pytest.mark.parametrize("name", sorted(CASES))
def test_explain_lists_the_names_udev_does_not_create(
        name: str, real: dict[str, Outcome], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from checker.cli import main

    _, listed, _, made = CASES[name]
    root = _tree(tmp_path, real[name])
    assert main(["explain", "--root", str(root), "loop6", "--format", "json"]) == 0
    links = json.loads(capsys.readouterr().out)["links"]
    assert listed in links["yes"]
    not_created = links.get("not_created", {})
    if made == "made":
        assert listed not in not_created, links
    else:
        word = "maybe not created: " if made == "varies" else "not created: "
        assert not_created[listed].startswith(word), links
