"""glibc's fnmatch(pattern, s, 0), as udev 252 calls it, without backtracking.

Apart from glob.py so that values.py can match the patterns of unknown values without an
import circle.

A pattern is cut at its stars into segments. Every other element (a character, '?', a
bracket expression) matches exactly one character, so each segment has a fixed length and
becomes a plain string or a regex without quantifiers or alternatives. The first segment
must match at the start of the text, the last at its end, and each one between at its
leftmost place after the one before: the leftmost place leaves the most room for the rest,
so no other place needs trying. The cost is at most len(pattern) * len(text). One regex
with `.*` per star backtracked exponentially instead: "*a*a*a*a*a*a*a*a*b" against
sixty a's took 40 s, udev's fnmatch answers at once.

Where glibc's answer is not certain here, the answer is None (unknown): a non-ASCII
pattern, collating symbols, equivalence classes, unknown or malformed classes, reversed
ranges, some unclosed brackets; and '?' or a bracket against non-ASCII text (one character
or one byte depends on udevd's locale).
"""

from __future__ import annotations

import re
from functools import lru_cache

from checker.records import dataclass

_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "\\x21-\\x7e", "lower": "a-z", "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v", "upper": "A-Z", "xdigit": "0-9A-Fa-f",
}  # fmt: skip

@dataclass(frozen=True)
class Glob:
    """A compiled pattern: `segments` are the parts between its stars (so a pattern
    without a star has one), `lengths` how many characters each one matches."""

    segments: tuple[str | re.Pattern[str], ...]
    lengths: tuple[int, ...]
    plain: bool  # only characters and stars: the answer holds for any text
    never: bool = False  # glibc matches nothing (a trailing backslash)

    def matches(self, text: str) -> bool | None:
        if self.never:
            return False
        if not self.plain and not text.isascii():
            return None
        segments, lengths = self.segments, self.lengths
        if len(segments) == 1:
            only = segments[0]
            if isinstance(only, str):
                return text == only
            return only.fullmatch(text) is not None
        size = len(text)
        if size < sum(lengths):
            return False
        first, last = segments[0], segments[-1]
        if not _at(first, text, 0):
            return False
        end = size - lengths[-1]
        if not _at(last, text, end):
            return False
        pos = lengths[0]
        for segment in segments[1:-1]:
            if isinstance(segment, str):
                found = text.find(segment, pos, end)
                if found < 0:
                    return False
                pos = found + len(segment)
            else:
                match = segment.search(text, pos, end)
                if match is None:
                    return False
                pos = match.end()
        return True


def _at(segment: str | re.Pattern[str], text: str, pos: int) -> bool:
    if isinstance(segment, str):
        return text.startswith(segment, pos)
    return segment.match(text, pos) is not None


_NEVER = Glob(("",), (0,), True, never=True)


@lru_cache(maxsize=8192)
def compile_glob(pattern: str) -> Glob | None:
    """The pattern compiled, or None where this module cannot be sure of glibc's answer."""
    if not pattern.isascii():
        return None
    parts: list[list[tuple[str, bool]]] = [[]]  # per segment: (regex, is a plain character)
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            parts.append([])
        elif c == "?":
            parts[-1].append((".", False))
        elif c == "\\":
            if i + 1 == n:
                return _NEVER  # glibc: "Trailing \ loses"
            i += 1
            parts[-1].append((pattern[i], True))
        elif c == "[":
            bracket = _bracket(pattern, i)
            if bracket is None:
                return None
            regex, after = bracket
            if after < 0:  # no closing ']': the '[' is an ordinary character
                parts[-1].append(("[", True))
            else:
                parts[-1].append((regex, False))
                i = after
                continue
        else:
            parts[-1].append((c, True))
        i += 1
    # empty segments between stars ("a**b") change nothing
    kept = [parts[0], *(p for p in parts[1:-1] if p), parts[-1]] if len(parts) > 1 else parts
    segments: list[str | re.Pattern[str]] = []
    for part in kept:
        if all(plain for _, plain in part):
            segments.append("".join(c for c, _ in part))
        else:
            regex = "".join(re.escape(c) if plain else c for c, plain in part)
            segments.append(re.compile(regex, re.DOTALL))
    plain = all(isinstance(s, str) for s in segments)
    return Glob(tuple(segments), tuple(len(p) for p in kept), plain)


def _bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """The regex of the bracket expression at `start` and the index after it; index -1
    when it is not closed and glibc reads its '[' as a character; None when this module
    is not sure what glibc does."""
    i, n = start + 1, len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < n:
        c = pattern[i]
        if c == "]" and not first:
            return ("[^" if negate else "[") + "".join(items) + "]", i + 1
        first = False
        if c == "[" and i + 1 < n and pattern[i + 1] in ":.=":
            kind = pattern[i + 1]
            close = pattern.find(kind + "]", i + 2)
            if close < 0 or kind != ":" or pattern[i + 2 : close] not in _CLASSES:
                return None
            items.append(_CLASSES[pattern[i + 2 : close]])
            i = close + 2
            if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
                return None  # a range starting at a class
            continue
        if c == "\\":
            if i + 1 == n:
                return None
            i += 1
            c = pattern[i]
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            end = pattern[i + 2]
            if end == "[" and i + 3 < n and pattern[i + 3] in ":.=":
                return None  # a range ending in a class or collating symbol
            if end == "\\":
                if i + 3 == n:
                    return None
                end = pattern[i + 3]
                i += 1
            if ord(end) < ord(c):
                return None  # glibc's answer for a reversed range is not worth guessing
            items.append(re.escape(c) + "-" + re.escape(end))
            i += 3
            continue
        items.append(re.escape(c))
        i += 1
    # not closed: glibc then reads '[' as a character, but not after what it may already
    # have taken as a bracket's content ('\\', a class, a negation)
    body = pattern[start + 1 :]
    if negate or "\\" in body or "[" in body:
        return None
    return "", -1


def matches(pattern: str, text: str) -> bool | None:
    """fnmatch(pattern, text, 0) == 0, or None where this module cannot be sure."""
    glob = compile_glob(pattern)
    return None if glob is None else glob.matches(text)
