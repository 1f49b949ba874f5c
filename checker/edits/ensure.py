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
from checker.rules.semantics import DEFAULT, UdevSemantics
from checker.rules.textlines import (
    line_ending,
    open_continuation,
    split_keepends,
    strip_ending,
    terminate_last,
    with_ending,
)

Edit = Callable[[str], str]


def rule_source_lines(content: str, rule: Rule) -> list[str]:
    """The physical lines of `rule` as the policy wrote it (continuations included)."""
    return split_keepends(content)[rule.line - 1:rule.end_line]


def insertion(before: list[str], added: list[str], ending: str) -> list[str]:
    """`added` as it must be placed after `before`: an open continuation would swallow our
    first line into the vendor's rule, so an empty line ends it first."""
    if open_continuation(before):
        return [ending, *added]
    return added


def block_lines(policy: str, content: str, ending: str) -> list[str]:
    body = split_keepends(content)
    return with_ending([begin_marker(policy), *body, end_marker(policy)], ending)


def _marked_as_they_are(policy: str, found: list[str], content: str, ending: str) -> list[str] | None:
    """The block's lines standing unmarked in the file, kept byte for byte between the two
    markers, when they are the content's lines but for their endings; else None. Their
    endings are the admin's (a CRLF line in an LF file stays CRLF): the markers take the
    file's own, and nothing else changes."""
    wanted = split_keepends(content)
    if [strip_ending(line) for line in found] != [strip_ending(line) for line in wanted]:
        return None
    found = terminate_last(found, ending)
    return [begin_marker(policy) + ending, *found, end_marker(policy) + ending]


def ensure_block(policy: str, content: str, desired: tuple[Rule, ...],
                 semantics: UdevSemantics = DEFAULT) -> Edit:
    """Exactly one intact block with `content`, where the old one stood (else at the end).
    The file is read as the host's udev (`semantics`) reads it, as the check did."""

    def edit(text: str) -> str:
        lines = split_keepends(text)
        parsed = parse_rules(text, semantics)
        scan = scan_markers(lines, policy)
        extents = block_extents(lines, parsed, scan, desired)
        ending = line_ending(lines)
        new_block = block_lines(policy, content, ending)
        if not extents:
            run = unmarked_run(lines, parsed, desired)
            if run is not None:
                kept = _marked_as_they_are(policy, lines[run[0]:run[1] + 1], content, ending)
                new_block = kept or new_block
                extents = [run]
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


def ensure_lines(content: str, desired: tuple[Rule, ...], semantics: UdevSemantics = DEFAULT) -> Edit:
    """Put back the rules of `content` that the file lacks, each where it belongs: after the
    rule that comes before it in `content`, else before the one after it, else at the end;
    and before the LABEL its GOTO jumps to. Touch nothing else."""

    # LABELs first: a GOTO that lost its LABEL makes its rule dropped, not missing.
    order = sorted(range(len(desired)), key=lambda i: (_label_of(desired[i]) is None, i))

    def edit(text: str) -> str:
        for index in order:
            rule = desired[index]
            parsed = parse_rules(text, semantics)
            kept = [r for r in parsed.rules if not r.problem]
            if any(r.canonical == rule.canonical for r in kept):
                continue
            lines = split_keepends(text)
            ending = line_ending(lines)
            added = with_ending(rule_source_lines(content, rule), ending)
            # a rule dropped only for its lost GOTO still marks its place
            anchors = [r for r in parsed.rules if not r.problem or "has no LABEL" in r.problem]
            at = _place(index, desired, anchors)
            if at is None:  # the end of the file
                lines = terminate_last(lines, ending)
                text = "".join(lines + insertion(lines, added, ending))
            else:
                lines = terminate_last(lines, ending) if at >= len(lines) else lines
                text = "".join(lines[:at] + added + lines[at:])
        return text

    return edit


def _place(index: int, desired: tuple[Rule, ...], kept: list[Rule]) -> int | None:
    """The physical line index to insert desired[index] at, or None for the end of the file.
    The file's rules are aligned with the wanted ones (as a diff aligns lines), so that a
    neighbour that stands in the file several times is taken where it matches in order."""
    from difflib import SequenceMatcher  # a repair's: not imported by a check

    rule = desired[index]
    matcher = SequenceMatcher(None, [r.canonical for r in desired], [r.canonical for r in kept],
                              autojunk=False)
    in_file: dict[int, Rule] = {}
    for a, b, size in matcher.get_matching_blocks():
        for offset in range(size):
            in_file[a + offset] = kept[b + offset]
    at: int | None = None
    before = [i for i in range(index - 1, -1, -1) if i in in_file]
    after = [i for i in range(index + 1, len(desired)) if i in in_file]
    if before:
        at = in_file[before[0]].end_line  # just after the rule before it
    elif after:
        at = in_file[after[0]].line - 1  # just before the rule after it
    goto = next((token.value for token in rule.tokens if token.key == "GOTO"), None)
    if goto is None:
        return at
    labels = [r.line - 1 for r in kept if _label_of(r) == goto]
    start = at if at is not None else _end_line(kept)
    if any(label >= start for label in labels) or not labels:
        return at  # the GOTO reaches a LABEL after it (or none exists: nothing to keep)
    return labels[-1]  # before the last LABEL it needs, so that the GOTO still jumps


def _label_of(rule: Rule) -> str | None:
    labels = [token.value for token in rule.tokens if token.key == "LABEL"]
    return labels[-1] if labels else None  # the last LABEL of a line is its label


def _end_line(kept: list[Rule]) -> int:
    return max((r.end_line for r in kept), default=0)


def ensure_absent(unwanted: Iterable[Rule], semantics: UdevSemantics = DEFAULT) -> Edit:
    """Remove every rule udev would read that equals one of `unwanted`; nothing else."""
    canonicals = {rule.canonical for rule in unwanted}

    def edit(text: str) -> str:
        drop: set[int] = set()
        for rule in parse_rules(text, semantics).rules:
            if not rule.problem and rule.canonical in canonicals:
                drop.update(range(rule.line - 1, rule.end_line))
        if not drop:
            return text
        return "".join(line for i, line in enumerate(split_keepends(text)) if i not in drop)

    return edit


def ensure_file(content: str, semantics: UdevSemantics = DEFAULT) -> Edit:
    """The whole file is the policy's: its text becomes `content` when udev would read the
    two differently; when they only differ in form the file is left as it is."""
    wanted = [rule.canonical for rule in parse_rules(content).rules]

    def edit(text: str) -> str:
        parsed = parse_rules(text, semantics)
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
