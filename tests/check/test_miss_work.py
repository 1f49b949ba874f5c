"""A verdict-cache miss evaluates what the questions need and no more: work the answers
do not depend on is shared, never skipped where it could change an answer."""

from __future__ import annotations

import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from checker.engine import check, load_desired, repair
from checker.evaluate.engine import evaluate
from checker.evaluate.ruleset import RuleSet
from checker.evaluate.slice import ByKernel, same_at_add_and_change
from checker.host import Host
from checker.rules.semantics import UDEV_219
from checker.state import StateDir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from growth import build  # noqa: E402


def _line(text: str) -> Any:
    return RuleSet.from_texts([("/etc/udev/rules.d/50-a.rules", text + "\n")]).files[0].lines[0]


@pytest.mark.parametrize(("text", "alike"), [
    ('ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"', True),
    ('ACTION=="add|change", SYMLINK+="a/%k"', True),
    ('KERNEL=="sd*", SYMLINK+="a/%k"', True),
    ('ACTION=="add", KERNEL=="sdb", SYMLINK+="a/%k"', False),
    ('ACTION=="change", SYMLINK+="a/%k"', False),
    ('ENV{DEVTYPE}=="disk", SYMLINK+="a/%k"', False),  # the change event's properties may differ
    ('SYMLINK+="a/$env{ACTION}"', False),
    ('ENV{X}+="y"', False),
    ('IMPORT{program}="id %k", SYMLINK+="a/%k"', False),  # a program sees ACTION
    ('PROGRAM=="id %k", SYMLINK+="a/%k"', False),
])
def test_a_line_does_the_same_at_add_and_change_unless_it_reads_the_action(text: str, alike: bool) -> None:
    assert same_at_add_and_change(_line(text)) is alike


def test_each_device_is_alike_at_change_only_when_its_lines_and_the_common_ones_are() -> None:
    rules = RuleSet.from_texts([("/etc/udev/rules.d/50-a.rules",
                                 'KERNEL=="sdb", SYMLINK+="b"\n'
                                 'ACTION=="add", KERNEL=="sdc", SYMLINK+="c"\n')])
    cut = ByKernel(rules)
    assert cut.alike_at_change("sdb") and not cut.alike_at_change("sdc")
    common = ByKernel(RuleSet.from_texts([("/etc/udev/rules.d/50-a.rules",
                                           'KERNEL=="sdb", SYMLINK+="b"\nACTION=="add", SYMLINK+="c"\n')]))
    assert not common.alike_at_change("sdb")


def test_a_cut_keeps_the_semantics_of_its_set() -> None:
    rules = RuleSet.from_texts([("/etc/udev/rules.d/50-a.rules",
                                 'KERNEL=="sdb", SYMLINK+="b"\nKERNEL=="sdc", SYMLINK+="c"\n')], UDEV_219)
    assert ByKernel(rules).for_kernel("sdb").semantics is UDEV_219


def test_a_device_whose_link_lines_ignore_the_action_is_not_evaluated_again_at_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "host"
    root.mkdir()
    policy = build(root, 3)  # each disk's link: ACTION!="remove", KERNEL=="vdI", SYMLINK+=...
    host = Host(str(root))
    policies = load_desired([str(policy)], host=host)
    assert repair(policies, host, StateDir(str(root / "var/lib/udev-drift"), str(root)), None).compliant
    host.forget()
    actions: list[str] = []
    def counted(rules: RuleSet, facts: Any, trace: bool = True) -> Any:
        actions.append(facts.action)
        return evaluate(rules, facts, trace)

    monkeypatch.setattr("checker.check.effects.evaluate", counted)
    report = check(policies, host)
    assert report.compliant
    links = [f for p in report.policies for f in p.findings if f.kind == "symlink"]
    assert [f.effect for f in links] == ["yes"] * 3
    assert sorted(actions) == ["add"] * 3 + ["remove"] * 3  # the rules' own questions


def test_a_device_s_traces_are_dropped_before_the_next_device_is_evaluated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "host"
    root.mkdir()
    policy = build(root, 20)  # three rules per disk: each disk's traces answer three questions
    host = Host(str(root))
    policies = load_desired([str(policy)], host=host)
    assert repair(policies, host, StateDir(str(root / "var/lib/udev-drift"), str(root)), None).compliant
    host.forget()
    alive: list[weakref.ref[Any]] = []
    most = 0

    def counted(rules: RuleSet, facts: Any, trace: bool = True) -> Any:
        nonlocal most
        made = evaluate(rules, facts, trace)
        if trace:
            alive.append(weakref.ref(made))
            most = max(most, sum(1 for ref in alive if ref() is not None))
        return made

    monkeypatch.setattr("checker.check.effects.evaluate", counted)
    report = check(policies, host)
    assert report.compliant and len(alive) == 40  # add and remove of each disk
    assert most <= 2  # not one per disk
