"""The cases that made a text check say "compliant" while udev makes no link: the real
udevd 252 (loop6 standing in for the XenServer host's sdb) shows that no link is made, and
the evaluator says so, with the rule to look at. Harmless neighbours keep the link, by
both."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri
from checker.observe.udev import device_facts
from tests.evaluate.udevd import Outcome, run_sets, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

BLOCK = 'ACTION=="add", KERNEL=="loop6", SYMLINK+="xapi/block/%k"\n'
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
