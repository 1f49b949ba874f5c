"""A managed block whose text is the policy's is taken as its rules without parsing it
(checker.check.rules.PlacedRules): the finding, and the rules read when someone asks for
them, must be exactly what parsing the block gives. Checked against the slow path (the
block parsed, as for a block whose text is not the policy's) on generated blocks."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checker.check import rules as rules_check
from checker.edits.markers import begin_marker, end_marker
from checker.findings import Finding
from checker.observe.files import ObservedRulesFile
from checker.policy.desired import DesiredRules
from checker.rules.parsed import parse_rules
from checker.rules.semantics import UDEV_219
from checker.rules.textlines import open_continuation, split_keepends

FILE = "/etc/udev/rules.d/50-udev.rules"
LINES = [
    'KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n',
    'ACTION=="add", KERNEL=="sdc", RUN+="/bin/true %k"\n',
    'KERNEL=="sd*", GROUP="disk"\n',
    "# a comment\n",
    "\n",
    'KERNEL=="sdd", \\\n',
    '  SYMLINK+="cont/%k"\n',
    'GOTO="end"\n',
    'LABEL="end"\n',
    'KERNEL=="sde"\n',
    "\x0b# not a comment to udev (it strips only spaces and tabs)\n",
    "\xa0\n",
]


def entry(content: str, index: int) -> DesiredRules:
    return DesiredRules(policy="p", entry=f"rules[0][d{index}]", file=FILE, ensure="block", content=content,
                        policy_path="/p.yaml", policy_line=3)


def observed(text: str, semantics: object = None) -> ObservedRulesFile:
    kwargs = {"semantics": semantics} if semantics is not None else {}
    return ObservedRulesFile(FILE, True, "file", text, None, None, None, **kwargs)  # type: ignore[arg-type]


def shape(finding: Finding) -> tuple[object, ...]:
    rules = [(r.line, r.end_line, r.text, r.canonical, r.problem, r.tokens, r.warnings)
             for r in finding.present_rules]
    return (finding.status, finding.drift, finding.message, tuple(finding.details), len(finding.present_rules),
            rules)


def both(entries: Sequence[DesiredRules], text: str, monkeypatch: pytest.MonkeyPatch,
         semantics: object = None) -> tuple[Finding, Finding]:
    fast = rules_check.check_block("p", entries, observed(text, semantics))
    with monkeypatch.context() as patch:
        patch.setattr(rules_check, "_placed", lambda *args: None)
        slow = rules_check.check_block("p", entries, observed(text, semantics))
    return fast, slow


contents = st.lists(st.sampled_from(LINES), min_size=1, max_size=5).map("".join)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(contents, min_size=1, max_size=4), before=st.lists(st.sampled_from(LINES), max_size=3),
       after=st.lists(st.sampled_from(LINES), max_size=3), change=st.booleans())
def test_a_placed_block_is_what_parsing_it_gives(parts: list[str], before: list[str], after: list[str],
                                                 change: bool) -> None:
    # a policy's entries are validated: udev drops none of their rules
    assume(not any(rule.problem for content in parts for rule in parse_rules(content).rules))
    with pytest.MonkeyPatch.context() as monkeypatch:
        entries = [entry(content, i) for i, content in enumerate(parts)]
        inner = "".join(parts)
        if change:  # a block that is not the policy's text: both take the slow path
            inner = inner.replace("sd", "vd", 1)
        text = "".join(before) + begin_marker("p") + "\n" + inner + end_marker("p") + "\n" + "".join(after)
        fast, slow = both(entries, text, monkeypatch)
        assert shape(fast) == shape(slow)
        shortcut = (inner == "".join(parts) and not any(e.summary.open_end for e in entries)
                    and not open_continuation(split_keepends("".join(before))))
        assert isinstance(fast.present_rules, rules_check.PlacedRules) == shortcut


def test_the_shortcut_is_taken_for_the_policys_own_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """So that the test above compares two ways, not the slow path with itself."""
    entries = [entry(LINES[0], 0), entry(LINES[1], 1)]
    text = "# vendor\n" + begin_marker("p") + "\n" + LINES[0] + LINES[1] + end_marker("p") + "\n"
    fast, slow = both(entries, text, monkeypatch)
    assert isinstance(fast.present_rules, rules_check.PlacedRules)
    assert not isinstance(slow.present_rules, rules_check.PlacedRules)
    assert fast.present_rules.kernels() == ["sdb", "sdc"]
    assert [r.line for r in fast.present_rules] == [3, 4]
    assert shape(fast) == shape(slow)


def test_no_shortcut_for_another_udevs_reading_or_a_continuation_between_entries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = begin_marker("p") + "\n" + LINES[0] + end_marker("p") + "\n"
    fast, slow = both([entry(LINES[0], 0)], text, monkeypatch, semantics=UDEV_219)
    assert not isinstance(fast.present_rules, rules_check.PlacedRules)
    assert shape(fast) == shape(slow)
    # an entry that ends in a continuation runs on into the next: only parsing the
    # block as a whole reads them as udev does
    joined = [entry('KERNEL=="sdd", \\\n', 0), entry('SYMLINK+="x"\n', 1)]
    text = begin_marker("p") + "\n" + 'KERNEL=="sdd", \\\nSYMLINK+="x"\n' + end_marker("p") + "\n"
    fast, slow = both(joined, text, monkeypatch)
    assert not isinstance(fast.present_rules, rules_check.PlacedRules)
    assert shape(fast) == shape(slow)
    assert [r.text for r in parse_rules('KERNEL=="sdd", \\\nSYMLINK+="x"\n').rules] != []


def test_a_block_alone_in_its_file_is_the_files_own_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only comments and blank lines outside the block: its rules are the whole file's
    parse (the one the rule set's evaluation reads, parsed once), and still what parsing
    the block gives; a rule outside it keeps the block's own parse."""
    entries = [entry(LINES[0], 0), entry(LINES[7] + LINES[8], 1)]
    block = begin_marker("p") + "\n" + LINES[0] + LINES[7] + LINES[8] + end_marker("p") + "\n"
    alone = observed("# vendor\n\n" + block + "# after\n")
    fast = rules_check.check_block("p", entries, alone)
    assert isinstance(fast.present_rules, rules_check.PlacedRules)
    assert all(a is b for a, b in zip(fast.present_rules, alone.parsed.rules, strict=True))
    assert shape(fast) == shape(both(entries, alone.text, monkeypatch)[1])
    for outside in ('KERNEL=="sdz"\n', "# continued \\\n"):
        beside = observed(block + outside)
        fast = rules_check.check_block("p", entries, beside)
        assert isinstance(fast.present_rules, rules_check.PlacedRules)
        assert fast.present_rules[0] is not beside.parsed.rules[0]
        assert shape(fast) == shape(both(entries, beside.text, monkeypatch)[1])


@pytest.mark.parametrize("where", ["before", "inside a comment before", "after"])
def test_a_line_that_stops_udevs_reading_before_the_blocks_end_is_drift(
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """udev stops reading a file at a physical line of 16,384 bytes or more: a block after
    it is never read, however right its text (the file's parse says so, rule by rule)."""
    long = "#" + "x" * 16400 + "\n"
    block = begin_marker("p") + "\n" + LINES[0] + end_marker("p") + "\n"
    text = {"before": long + block, "inside a comment before": "# a\n" + long + "# b\n" + block,
            "after": block + long}[where]
    fast, slow = both([entry(LINES[0], 0)], text, monkeypatch)
    assert shape(fast) == shape(slow)
    if where == "after":
        assert fast.status == "ok"  # udev read the block before it stopped
    else:
        assert fast.drift and fast.status == "changed"
        assert any("stopped reading this file" in detail for detail in fast.details), fast.details
