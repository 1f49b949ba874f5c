"""glibc's fnmatch(pattern, s, 0), as udev 252 calls it, translated to a Python regex.

Apart from glob.py so that values.py can compile the patterns of unknown values without
an import circle.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
