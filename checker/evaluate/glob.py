"""udev's value patterns: `token_match_string()` of udev-rules.c (systemd 252), three-valued.

A match value is split at '|' into alternatives; an empty alternative ("a|", "|a", "a||b")
also matches an empty value. A value with any of `*?[` is matched with fnmatch(3) (flags
0: '/' and a leading '.' are ordinary characters, '\\' escapes); otherwise it must be
equal. `""` matches only the empty (or unset) value; `"?*"` was read as `!=""` already.
SUBSYSTEM=="subsystem" (or "bus", "class") matches any of the three.
"""

from __future__ import annotations

from functools import lru_cache

from checker.evaluate.fnmatch_glibc import matches
from checker.evaluate.values import Tri, Unknown, Value
from checker.records import dataclass

GLOB_CHARS = frozenset("*?[")


_ANSWERS: dict[tuple[str, str], Tri] = {}


def fnmatch(pattern: str, text: str) -> Tri:
    """fnmatch(3) with flags 0, three-valued; answers are kept (property names and link
    names repeat across rules and evaluations)."""
    key = (pattern, text)
    answer = _ANSWERS.get(key)
    if answer is None:
        matched = matches(pattern, text)
        answer = Tri.UNKNOWN if matched is None else Tri.of(matched)
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
        """Does `text` (a known value; unset is "") match? UNKNOWN only where glibc's answer
        is not certain (fnmatch_glibc)."""
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
