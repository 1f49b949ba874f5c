"""Finding a policy's managed block in a rules file, whole or damaged.

A block is found by its markers. When a marker was lost (an editor, a merge, an update
that kept half of it), the block's extent is taken from the neighbouring lines that are
the policy's own rules, or close to them (an update that re-quoted a rule), so that a
repair replaces the damaged block instead of adding a second one.
"""

from __future__ import annotations

from collections import Counter

from checker.edits.markers import parse_marker
from checker.records import dataclass, field
from checker.rules.model import Rule, RulesText
from checker.rules.textlines import strip_ending

# How close a rule line must be to one of the block's rules to be taken as a damaged copy
# of it. Only used next to a surviving marker, never to claim lines anywhere in the file.
SIMILAR_ENOUGH = 0.8


@dataclass
class BlockScan:
    """Where the markers of one policy stand in a file (0-based line indexes)."""

    spans: list[tuple[int, int]] = field(default_factory=list)  # BEGIN..END inclusive
    lone_begins: list[int] = field(default_factory=list)
    lone_ends: list[int] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return len(self.spans) == 1 and not self.lone_begins and not self.lone_ends

    @property
    def absent(self) -> bool:
        return not (self.spans or self.lone_begins or self.lone_ends)


def scan_markers(lines: list[str], policy: str) -> BlockScan:
    scan = BlockScan()
    open_at: int | None = None
    for index, line in enumerate(lines):
        marker = parse_marker(strip_ending(line))
        if marker is None or marker[1] != policy:
            continue
        if marker[0] == "BEGIN":
            if open_at is not None:
                scan.lone_begins.append(open_at)
            open_at = index
        elif open_at is not None:
            scan.spans.append((open_at, index))
            open_at = None
        else:
            scan.lone_ends.append(index)
    if open_at is not None:
        scan.lone_begins.append(open_at)
    return scan


def _rules_by_line(parsed: RulesText) -> dict[int, Rule]:
    """Map each 0-based physical line index to the rule it belongs to."""
    by_line: dict[int, Rule] = {}
    for rule in parsed.rules:
        for number in range(rule.line - 1, rule.end_line):
            by_line[number] = rule
    return by_line


def _keys(rule: Rule) -> Counter[tuple[str, str | None, str]]:
    return Counter((token.key, token.attr, token.op) for token in rule.tokens)


def _is_ours(rule: Rule, desired: tuple[Rule, ...]) -> bool:
    """A rule of the block, or a damaged copy of one: an update that re-quoted a value
    keeps the keys. A rule with a key the block's rule lacks (a vendor line that a
    continuation joined onto ours) is never ours."""
    keys = _keys(rule)
    for wanted in desired:
        if rule.canonical == wanted.canonical and not rule.problem:
            return True
        if keys <= _keys(wanted):
            # difflib only here: a compliant host never compares a damaged rule
            from difflib import SequenceMatcher

            if SequenceMatcher(None, rule.text, wanted.text).ratio() >= SIMILAR_ENOUGH:
                return True
    return False


def _extend(lines: list[str], parsed: RulesText, start: int, step: int,
            desired: tuple[Rule, ...]) -> int:
    """From a lone marker at `start`, walk over the policy's own rules in direction `step`
    and return the last index that still belongs to the damaged block."""
    by_line = _rules_by_line(parsed)
    last = start
    index = start + step
    budget = sum(rule.end_line - rule.line + 1 for rule in desired)
    while 0 <= index < len(lines) and budget > 0:
        if parse_marker(strip_ending(lines[index])) is not None:
            break
        rule = by_line.get(index)
        if rule is None or not _is_ours(rule, desired):
            break
        span = rule.end_line - rule.line + 1
        last = rule.end_line - 1 if step > 0 else rule.line - 1
        index = last + step
        budget -= span
    return last


def block_extents(lines: list[str], parsed: RulesText, scan: BlockScan,
                  desired: tuple[Rule, ...]) -> list[tuple[int, int]]:
    """Every range of lines (inclusive, sorted) that holds this policy's block or a piece
    of a damaged one."""
    extents = list(scan.spans)
    extents += [(begin, _extend(lines, parsed, begin, +1, desired)) for begin in scan.lone_begins]
    extents += [(_extend(lines, parsed, end, -1, desired), end) for end in scan.lone_ends]
    return sorted(extents)


def lines_inside_blocks(lines: list[str]) -> set[int]:
    """Line indexes inside some policy's marked block (any policy's: never ours to take)."""
    inside: set[int] = set()
    open_at: int | None = None
    for index, line in enumerate(lines):
        marker = parse_marker(strip_ending(line))
        if marker is None:
            continue
        if marker[0] == "BEGIN":
            open_at = index
        elif open_at is not None:
            inside.update(range(open_at, index + 1))
            open_at = None
    return inside


def unmarked_run(lines: list[str], parsed: RulesText, desired: tuple[Rule, ...]) -> tuple[int, int] | None:
    """The block's rules standing together without markers (0-based inclusive), if every
    one of them is there, in order, exactly as udev reads them, outside any marked block."""
    if not desired:
        return None
    wanted = [rule.canonical for rule in desired]
    taken = lines_inside_blocks(lines)
    rules = [rule for rule in parsed.rules if rule.line - 1 not in taken]
    for start in range(len(rules) - len(wanted) + 1):
        if rules[start].canonical != wanted[0] or rules[start].problem:
            continue
        window = rules[start:start + len(wanted)]
        first, last = window[0].line - 1, window[-1].end_line - 1
        if taken.intersection(range(first, last + 1)):
            continue  # the run would swallow another policy's block
        if all(r.canonical == w and not r.problem for r, w in zip(window, wanted)):
            return first, last
    return None
