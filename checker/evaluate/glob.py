"""udev's value patterns: `token_match_string()` of udev-rules.c (systemd 252), three-valued.

A match value is split at '|' into alternatives; an empty alternative ("a|", "|a", "a||b")
also matches an empty value. A value with any of `*?[` is matched with fnmatch(3) (flags
0: '/' and a leading '.' are ordinary characters, '\\' escapes); otherwise it must be
equal. `""` matches only the empty (or unset) value; `"?*"` was read as `!=""` already.
SUBSYSTEM=="subsystem" (or "bus", "class") matches any of the three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from checker.evaluate.values import Tri, Unknown, Value

GLOB_CHARS = frozenset("*?[")
_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "\\x21-\\x7e", "lower": "a-z", "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v", "upper": "A-Z", "xdigit": "0-9A-Fa-f",
}  # fmt: skip


@lru_cache(maxsize=8192)
def translate(pattern: str) -> str | None:
    """A Python regex doing what glibc fnmatch(pattern, s, 0) does, or None where this
    module cannot be sure (collating symbols, equivalence classes, non-ASCII)."""
    if not pattern.isascii():
        return None
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i + 1 < n:
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(re.escape("\\"))
        elif c == "[":
            bracket = _bracket(pattern, i)
            if bracket is None:
                return None
            regex, after = bracket
            if after < 0:  # no closing ']': the '[' is an ordinary character
                out.append(re.escape("["))
            else:
                out.append(regex)
                i = after
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """The regex of the bracket expression at `start` and the index after it; index -1
    when it is not closed; None when it uses what this module does not translate."""
    i, n = start + 1, len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < n:
        c = pattern[i]
        if c == "]" and not first:
            body = "".join(items)
            return ("[^" if negate else "[") + body + "]", i + 1
        first = False
        if c == "[" and i + 1 < n and pattern[i + 1] in ":.=":
            kind = pattern[i + 1]
            close = pattern.find(kind + "]", i + 2)
            if close < 0:
                return None
            if kind != ":" or pattern[i + 2 : close] not in _CLASSES:
                return None
            items.append(_CLASSES[pattern[i + 2 : close]])
            i = close + 2
            continue
        if c == "\\" and i + 1 < n:
            i += 1
            c = pattern[i]
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            end = pattern[i + 2]
            if end == "\\" and i + 3 < n:
                end = pattern[i + 3]
                i += 1
            if ord(end) < ord(c):
                return None  # glibc's answer for a reversed range is not worth guessing
            items.append(re.escape(c) + "-" + re.escape(end))
            i += 3
            continue
        items.append(re.escape(c))
        i += 1
    return "", -1


@lru_cache(maxsize=8192)
def _regex(pattern: str) -> re.Pattern[str] | None:
    regex = translate(pattern)
    return None if regex is None else re.compile(regex, re.DOTALL)


_ANSWERS: dict[tuple[str, str], Tri] = {}


def fnmatch(pattern: str, text: str) -> Tri:
    """fnmatch(3) with flags 0, three-valued; answers are kept (property names and link
    names repeat across rules and evaluations)."""
    key = (pattern, text)
    answer = _ANSWERS.get(key)
    if answer is None:
        regex = _regex(pattern)
        answer = Tri.UNKNOWN if regex is None else Tri.of(regex.fullmatch(text) is not None)
        if len(_ANSWERS) > 65536:
            _ANSWERS.clear()
        _ANSWERS[key] = answer
    return answer


@dataclass(frozen=True)
class Matcher:
    """One match token's value, read as rule_line_add_token() reads it."""

    kind: str  # "empty", "subsystem", "plain", "glob"
    alternatives: tuple[str, ...]
    with_empty: bool  # an empty alternative also matches ""

    @staticmethod
    @lru_cache(maxsize=16384)
    def of(value: str, split: bool = True, subsystem: bool = False) -> Matcher:
        if subsystem and value in ("subsystem", "bus", "class"):
            return Matcher("subsystem", (), False)
        if value == "":
            return Matcher("empty", (), False)
        kind = "glob" if any(c in GLOB_CHARS for c in value) else "plain"
        if not split:
            return Matcher(kind, (value,), False)
        parts = value.split("|")
        alternatives = tuple(p for p in parts if p)
        return Matcher(kind, alternatives, len(alternatives) < len(parts))

    def matches(self, text: str) -> Tri:
        """Does `text` (a known value; unset is "") match? UNKNOWN only for a glob this
        module cannot translate."""
        if self.kind == "empty":
            return Tri.of(text == "")
        if self.kind == "subsystem":
            return Tri.of(text in ("subsystem", "class", "bus"))
        if self.with_empty and text == "":
            return Tri.YES
        if self.kind == "plain":
            return Tri.of(text in self.alternatives)
        answer = Tri.NO
        for alternative in self.alternatives:
            answer = answer | fnmatch(alternative, text)
            if answer is Tri.YES:
                break
        return answer

    def matches_value(self, value: Value) -> Tri:
        if isinstance(value, Unknown):
            return Tri.UNKNOWN
        return self.matches(value or "")


def token_matches(op: str, matched: Tri) -> Tri:
    """`==` wants a match, `!=` wants none."""
    return matched if op == "==" else ~matched
