"""Readable diffs with diff-match-patch: unified hunks by line, and the changed characters
inside a changed line (for the text output)."""

from __future__ import annotations

from typing import Any

from checker.rules.textlines import split_keepends, strip_ending

CONTEXT = 3
Op = tuple[str, str]  # (" ", "-", "+"), line text without its ending


def _engine() -> Any:
    # Imported here: a check with no drift never pays for it.
    from diff_match_patch import diff_match_patch

    engine = diff_match_patch()
    engine.Diff_Timeout = 2.0
    return engine


def line_ops(old: str, new: str) -> list[Op]:
    """The line-by-line edit script from old to new text."""
    old_lines = [strip_ending(line) for line in split_keepends(old)]
    new_lines = [strip_ending(line) for line in split_keepends(new)]
    # diff-match-patch's line mode: each distinct line becomes one character.
    codes: dict[str, str] = {}
    table: list[str] = []

    def encode(lines: list[str]) -> str:
        out = []
        for line in lines:
            if line not in codes:
                number = len(table) + 1
                # Skip the surrogate range: those are not characters.
                codes[line] = chr(number if number < 0xD800 else number + 0x800)
                table.append(line)
            out.append(codes[line])
        return "".join(out)

    a, b = encode(old_lines), encode(new_lines)
    decode = {code: line for line, code in codes.items()}
    ops: list[Op] = []
    for operation, chars in _engine().diff_main(a, b, False):
        sign = {0: " ", -1: "-", 1: "+"}[operation]
        ops.extend((sign, decode[ch]) for ch in chars)
    return ops


def unified_diff(path: str, old: str, new: str) -> str:
    """A unified diff with 3 lines of context, as `diff -u` prints it."""
    ops = line_ops(old, new)
    changed = [i for i, (sign, _) in enumerate(ops) if sign != " "]
    if not changed:
        return ""
    # Group changes whose context overlaps into hunks.
    hunks: list[tuple[int, int]] = []
    start, stop = changed[0], changed[0]
    for index in changed[1:]:
        if index - stop > 2 * CONTEXT:
            hunks.append((start, stop))
            start = index
        stop = index
    hunks.append((start, stop))
    out = [f"--- {path}", f"+++ {path} (desired)"]
    old_pos = new_pos = 0
    cursor = 0
    for start, stop in hunks:
        first, last = max(0, start - CONTEXT), min(len(ops) - 1, stop + CONTEXT)
        for sign, _ in ops[cursor:first]:
            old_pos += sign != "+"
            new_pos += sign != "-"
        body = ops[first:last + 1]
        old_count = sum(1 for sign, _ in body if sign != "+")
        new_count = sum(1 for sign, _ in body if sign != "-")
        out.append(f"@@ -{_range(old_pos, old_count)} +{_range(new_pos, new_count)} @@")
        out.extend(sign + text for sign, text in body)
        for sign, _ in body:
            old_pos += sign != "+"
            new_pos += sign != "-"
        cursor = last + 1
    return "\n".join(out) + "\n"


def _range(position: int, count: int) -> str:
    # As GNU diff: an empty range names the line before it.
    return f"{position + 1 if count else position},{count}"


def inline_changes(old: str, new: str) -> list[tuple[int, str]]:
    """Character-level changes from old to new: (-1 deleted | 0 same | 1 inserted, text)."""
    engine = _engine()
    diffs = engine.diff_main(old, new)
    engine.diff_cleanupSemantic(diffs)
    return [(int(op), text) for op, text in diffs]
