"""A sliced rule set answers its questions as the whole one does: generated rule sets
(the differential test's vocabulary: GOTO/LABEL, every list operator, ENV across files,
PROGRAM and IMPORT, substitutions), a device with full facts and one with a host tree's
thin facts, every link either could get and every line as the wanted one."""

from __future__ import annotations

from types import MappingProxyType

from hypothesis import HealthCheck, given, settings

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.facts import DeviceFacts, NodeFacts, block_device_facts
from checker.evaluate.result import Evaluation
from checker.evaluate.slice import ByKernel, LinkMakers, slice_rules
from checker.evaluate.trace import Step
from checker.evaluate.values import Tri
from tests.evaluate.test_differential import rule_sets

LINKS = ("t/a", "t/b", "t/loop6", "t/final", "both", "t/c", "t/7_6", "t/x%y", "t/$x", "t/1")


def loop6() -> DeviceFacts:
    path = "/devices/virtual/block/loop6"
    node = NodeFacts("loop6", "block", None, path,
                     MappingProxyType({"size": "0", "ro": "0", "removable": "0", "range": "1",
                                       "dev": "7:6", "hidden": "0", "events": ""}),
                     attributes_complete=True, devname="/dev/loop6",
                     entries=frozenset({"size", "ro", "removable", "range", "dev", "hidden", "events"}))
    props = {"ACTION": "add", "DEVPATH": path, "SUBSYSTEM": "block", "DEVNAME": "/dev/loop6",
             "DEVTYPE": "disk", "MAJOR": "7", "MINOR": "6"}
    return DeviceFacts("add", node, "disk", (7, 6), properties=MappingProxyType(props),
                       properties_complete=True, parents=(), parents_complete=True, db_tags=frozenset())


FACTS = (loop6(), block_device_facts("loop6", (7, 6), "disk"), block_device_facts("loop6", None, None))


def _step(evaluation: Evaluation, where: object) -> Step | None:
    return next((s for s in evaluation.steps if s.where == where), None)


def _same_answers(rules: RuleSet, facts: DeviceFacts) -> None:
    whole = evaluate(rules, facts)
    makers = LinkMakers(rules)
    for link in LINKS:
        if not makers.could_give(facts.kernel, link):  # then surely not made
            assert whole.link(link) is Tri.NO, link
        part = evaluate(slice_rules(rules, links=[link]), facts)
        assert part.link(link) is whole.link(link), link
        assert part.cause(link) == whole.cause(link), link
    for rules_file in rules.files:
        for line in rules_file.lines:
            part = evaluate(slice_rules(rules, lines=[line.where]), facts)
            expected, got = _step(whole, line.where), _step(part, line.where)
            if expected is None:  # a line that can do nothing leaves no step
                assert got is None
                continue
            assert got is not None
            assert (got.status, got.skipped_by) == (expected.status, expected.skipped_by), line.where


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(rule_sets)
def test_a_slice_answers_as_the_whole_rule_set(files: dict[str, str]) -> None:
    rules = RuleSet.from_texts(sorted(files.items()))
    for facts in FACTS:
        _same_answers(rules, facts)
    together = slice_rules(rules, links=LINKS)  # one slice for many questions
    for facts in FACTS:
        whole, part = evaluate(rules, facts), evaluate(together, facts)
        assert [part.link(link) for link in LINKS] == [whole.link(link) for link in LINKS]
    for facts in FACTS:  # cut again for the device: lines for another KERNEL== left out
        _same_for_the_device(rules, facts)
        _same_for_the_device(together, facts)


def _same_for_the_device(rules: RuleSet, facts: DeviceFacts) -> None:
    whole, part = evaluate(rules, facts), evaluate(ByKernel(rules).for_kernel(facts.kernel, LINKS), facts)
    for link in LINKS:
        assert part.link(link) is whole.link(link), link
        assert part.cause(link) == whole.cause(link), link
    assert part.state == whole.state
    for step in part.steps:
        expected = _step(whole, step.where)
        assert expected is not None and (step.status, step.skipped_by) == (expected.status, expected.skipped_by)


def test_a_slice_keeps_the_goto_that_jumps_over_the_wanted_line_and_what_it_reads() -> None:
    rules = RuleSet.from_texts([
        ("10-a.rules", 'KERNEL=="loop*", ENV{SKIP}="1"\nKERNEL=="sd*", SYMLINK+="disk/%k"\n'),
        ("50-b.rules", 'ENV{SKIP}=="1", GOTO="end"\nKERNEL=="loop6", SYMLINK+="t/a"\n'
                       'LABEL="end"\nKERNEL=="loop6", SYMLINK+="t/b"\n'),
    ])
    part = slice_rules(rules, links=["t/a"])
    kept = [str(line.where) for f in part.files for line in f.lines]
    assert kept == ["10-a.rules:1", "50-b.rules:1", "50-b.rules:2", "50-b.rules:3"]
    evaluation = evaluate(part, FACTS[0])
    assert evaluation.cause("t/a") == "the rule at 50-b.rules:2 is skipped by the GOTO at 50-b.rules:1"
