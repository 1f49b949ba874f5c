"""The cases where a check that asked only "is the link made at the next add?" said
compliant while udev took the link away or never ran the policy's program: the real udevd
252 (loop6 standing in for the XenServer host's sdb), triggered "add" and then "change" as
`udevadm trigger` does, shows what happens; the evaluator says the same at both events; and
`check --root` over the very files udevd ran reports drift exactly where udevd undid what
the policy wants. The controls are what udev 252 did not mind."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri
from checker.observe.udev import device_facts
from tests.evaluate.check_tree import check_like_udevd
from tests.evaluate.udevd import Outcome, run_sets, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

LINK = "xapi/block/loop6"
LDC = "/bin/sh -c 'echo ldc >> /run/ran.%k'"  # stands for xapi's local-device-change
GONE = "/bin/sh -c 'echo gone >> /run/ran.%k'"  # the same at remove (its own mark)
SEED = (f'ACTION=="add", KERNEL=="loop6", SYMLINK+="xapi/block/%k", RUN+="{LDC}"\n'
        f'ACTION=="remove", KERNEL=="loop6", RUN+="{GONE}"\n')
EVERY = (f'ACTION!="remove", KERNEL=="loop6", SYMLINK+="xapi/block/%k"\n'
         f'ACTION=="add", KERNEL=="loop6", RUN+="{LDC}"\n'
         f'ACTION=="remove", KERNEL=="loop6", RUN+="{GONE}"\n')


def later(op: str, word: str) -> str:
    return f"KERNEL==\"loop6\", RUN{op}\"/bin/sh -c 'echo {word} >> /run/ran.%k'\"\n"


# name -> (the policy's rules in 50-udev.rules, other files, line ends,
#          (link after add, link after change, what ran at add, what ran at change))
CASES: dict[str, tuple[str, Mapping[str, str], str, tuple[bool, bool, set[str], set[str]]]] = {
    "the seed's own rules (ACTION==\"add\" on the link)": (SEED, {}, "\n", (True, False, {"ldc"}, set())),
    "a later file's RUN= (not +=)": (EVERY, {"60-later.rules": later("=", "later")}, "\n",
                                     (True, True, {"later"}, {"later"})),
    "control: the link rule ACTION!=\"remove\", the program on add": (EVERY, {}, "\n", (True, True, {"ldc"}, set())),
    "control: a later RUN+= for the disk": (EVERY, {"60-later.rules": later("+=", "too")}, "\n",
                                            (True, True, {"ldc", "too"}, {"too"})),
    "control: an earlier OPTIONS+=\"last_rule\"": (
        EVERY, {"10-first.rules": 'KERNEL=="loop6", OPTIONS+="last_rule"\n'}, "\n", (True, True, {"ldc"}, set())),
    "control: CRLF line ends": (EVERY, {}, "\r\n", (True, True, {"ldc"}, set())),
}  # fmt: skip


def files_of(name: str) -> dict[str, str]:
    rules, others, newline, _ = CASES[name]
    return {"50-udev.rules": rules.replace("\n", newline), **others}


@pytest.fixture(scope="module")
def real() -> dict[str, Outcome]:
    names = sorted(CASES)
    # every rule here names loop6: other devices' events get nothing from them
    return dict(zip(names, run_sets([files_of(name) for name in names], guard=False, remove=True)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_udevd_at_add_then_change_does_what_the_table_says(name: str, real: dict[str, Outcome]) -> None:
    *_, (at_add, at_change, ran_add, ran_change) = CASES[name]
    outcome = real[name]
    assert outcome.changed is not None and outcome.changed_links is not None
    assert (LINK in outcome.devices["loop6"].links, LINK in outcome.dev_links) == (at_add, at_add)
    assert (LINK in outcome.changed["loop6"].links, LINK in outcome.changed_links) == (at_change, at_change)
    assert outcome.devices["loop6"].ran == ran_add
    assert outcome.changed["loop6"].ran == ran_change
    assert outcome.removed is not None  # the remove program runs unless a later RUN= takes it
    assert ("gone" in outcome.removed["loop6"].ran) is ("later" not in ran_add)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_evaluator_says_what_udevd_did_at_both_events(name: str, real: dict[str, Outcome]) -> None:
    *_, (at_add, at_change, ran_add, ran_change) = CASES[name]
    rules = RuleSet.from_texts(sorted(real[name].files.items()))
    ldc = LDC.replace("%k", "loop6")
    for event, made, ran in (("add", at_add, ran_add), ("change", at_change, ran_change)):
        evaluation = evaluate(rules, device_facts("/sys/block/loop6", event))
        assert evaluation.link(LINK) is Tri.of(made), event
        assert evaluation.runs(ldc) is Tri.of("ldc" in ran), event
    removed = real[name].removed
    assert removed is not None
    at_remove = evaluate(rules, device_facts("/sys/block/loop6", "remove"))
    assert at_remove.runs(GONE.replace("%k", "loop6")) is Tri.of("gone" in removed["loop6"].ran)


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_on_the_same_files_is_drift_exactly_where_udevd_undid_the_policy(
        name: str, real: dict[str, Outcome], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, _, _, (_, at_change, ran_add, _) = CASES[name]
    # the link as udevd made it at add
    status, findings = check_like_udevd(tmp_path, capsys, real[name].files, rules, "xapi/block/loop6",
                                        "../../loop6")
    rule = next(f for f in findings if f["kind"] == "rule")
    link = next(f for f in findings if f["kind"] == "symlink")
    udevd_undid = not at_change or "ldc" not in ran_add
    assert status == (1 if udevd_undid else 0), findings
    if not at_change:
        assert link["status"] == "not-made" and link["cause"]["event"] == "change"
        assert link["cause"]["line"] == 1 and 'does not match: ACTION=="add"' in link["message"]
    else:
        assert link["status"] == "ok" and link["effect"] == "yes"
    if "ldc" not in ran_add:
        assert rule["status"] == "ineffective" and rule["cause"]["event"] == "add"
        assert rule["cause"]["file"] == "/etc/udev/rules.d/60-later.rules" and rule["cause"]["why"] == "reset"
        # the remove rule's program too: udevd ran only the later one at remove
        assert any(d.startswith("line 3 would not act on loop6 (remove): its program is replaced by the "
                                "RUN= at /etc/udev/rules.d/60-later.rules:1") for d in rule["details"]), rule
    else:
        assert rule["status"] == "ok" and rule["effect"] == "yes"
