"""Pure text edits that bring a rules file to what its policies want.

Each edit takes the file's whole text and returns the new text; it looks again at the
text it is given, so edits for several policies on one file compose in any order, and an
edit applied to text that is already right returns it unchanged. Lines the edit does not
own are kept byte for byte, endings included. The check uses these edits to show the
diff; the repair writes their result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Callable

from checker.edits.blocks import block_extents, scan_markers, unmarked_run
from checker.edits.markers import begin_marker, end_marker
from checker.rules.model import Rule
from checker.rules.parsed import parse_rules
from checker.rules.textlines import line_ending, split_keepends, strip_ending, terminate_last, with_ending

Edit = Callable[[str], str]


def rule_source_lines(content: str, rule: Rule) -> list[str]:
    """The physical lines of `rule` as the policy wrote it (continuations included)."""
    return split_keepends(content)[rule.line - 1:rule.end_line]


def open_continuation(lines: list[str]) -> bool:
    """True when udev would join the next physical line onto what `lines` end with: the
    last line that is not a comment ends in a backslash (udev skips comment lines inside a
    continuation, and the continuation goes on after them)."""
    for line in reversed(lines):
        text = strip_ending(line).lstrip()
        if text.startswith("#"):
            continue
        return text.endswith("\\")
    return False


def insertion(before: list[str], added: list[str], ending: str) -> list[str]:
    """`added` as it must be placed after `before`: an open continuation would swallow our
    first line into the vendor's rule, so an empty line ends it first."""
    if open_continuation(before):
        return [ending, *added]
    return added


def block_lines(policy: str, content: str, ending: str) -> list[str]:
    body = split_keepends(content)
    return with_ending([begin_marker(policy), *body, end_marker(policy)], ending)


def ensure_block(policy: str, content: str, desired: tuple[Rule, ...]) -> Edit:
    """Exactly one intact block with `content`, where the old one stood (else at the end)."""

    def edit(text: str) -> str:
        lines = split_keepends(text)
        parsed = parse_rules(text)
        scan = scan_markers(lines, policy)
        extents = block_extents(lines, parsed, scan, desired)
        if not extents:
            run = unmarked_run(lines, parsed, desired)
            extents = [run] if run else []
        ending = line_ending(lines)
        new_block = block_lines(policy, content, ending)
        if not extents:
            lines = terminate_last(lines, ending)
            return "".join(lines + insertion(lines, new_block, ending))
        out: list[str] = []
        position = 0
        for number, (start, stop) in enumerate(extents):
            out.extend(lines[position:start])
            if number == 0:
                out.extend(insertion(out, new_block, ending))
            elif open_continuation(out):
                # The copy removed here ended a vendor line's continuation; an empty
                # line keeps it ended, instead of joining whatever follows.
                out.append(ending)
            position = max(position, stop + 1)
        out.extend(lines[position:])
        return "".join(out)

    return edit


def ensure_lines(content: str, desired: tuple[Rule, ...]) -> Edit:
    """Append the rules of `content` that the file lacks; touch nothing else."""

    def edit(text: str) -> str:
        have = {rule.canonical for rule in parse_rules(text).rules if not rule.problem}
        missing = [rule for rule in desired if rule.canonical not in have]
        if not missing:
            return text
        lines = split_keepends(text)
        ending = line_ending(lines)
        added: list[str] = []
        for rule in missing:
            added.extend(with_ending(rule_source_lines(content, rule), ending))
        lines = terminate_last(lines, ending)
        return "".join(lines + insertion(lines, added, ending))

    return edit


def ensure_absent(unwanted: Iterable[Rule]) -> Edit:
    """Remove every rule udev would read that equals one of `unwanted`; nothing else."""
    canonicals = {rule.canonical for rule in unwanted}

    def edit(text: str) -> str:
        drop: set[int] = set()
        for rule in parse_rules(text).rules:
            if not rule.problem and rule.canonical in canonicals:
                drop.update(range(rule.line - 1, rule.end_line))
        if not drop:
            return text
        return "".join(line for i, line in enumerate(split_keepends(text)) if i not in drop)

    return edit


def ensure_file(content: str) -> Edit:
    """The whole file is the policy's: its text becomes `content` when udev would read the
    two differently; when they only differ in form the file is left as it is."""
    wanted = [rule.canonical for rule in parse_rules(content).rules]

    def edit(text: str) -> str:
        parsed = parse_rules(text)
        if [r.canonical for r in parsed.rules] == wanted and not any(r.problem for r in parsed.rules):
            return text
        return content

    return edit


def compose(edits: Iterable[Edit]) -> Edit:
    chain = list(edits)

    def edit(text: str) -> str:
        for step in chain:
            text = step(text)
        return text

    return edit
