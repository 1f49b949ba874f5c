"""Three-valued answers, and values that are known only in part.

An unknown value still says what it could be: `Unknown("disk/by-id/*")` is any link under
disk/by-id, so a question about `xapi/block/sdb` is still decided (no).
"""

from __future__ import annotations

import enum
import re
from typing import Union

from checker.evaluate.fnmatch_glibc import matches
from checker.records import dataclass


class Tri(enum.Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    def __and__(self, other: Tri) -> Tri:
        if self is Tri.NO or other is Tri.NO:
            return Tri.NO
        if self is Tri.YES and other is Tri.YES:
            return Tri.YES
        return Tri.UNKNOWN

    def __or__(self, other: Tri) -> Tri:
        if self is Tri.YES or other is Tri.YES:
            return Tri.YES
        if self is Tri.NO and other is Tri.NO:
            return Tri.NO
        return Tri.UNKNOWN

    def __invert__(self) -> Tri:
        if self is Tri.UNKNOWN:
            return Tri.UNKNOWN
        return Tri.NO if self is Tri.YES else Tri.YES

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.YES if value else Tri.NO

    def join(self, other: Tri) -> Tri:
        """What is known when either of two worlds may be the real one."""
        return self if self is other else Tri.UNKNOWN


@dataclass(frozen=True)
class Unknown:
    """A value that cannot be known without running something; `pattern` (an fnmatch
    pattern, no '|') holds every value it could have. `why` says what made it unknown."""

    pattern: str = "*"
    why: str = ""

    def could_be(self, text: str) -> bool:
        """False only where the pattern surely does not match `text`."""
        return matches(self.pattern, text) is not False


ANYTHING = Unknown("*")

# A property value: a string, None (not set), or Unknown (may also be unset).
Value = Union[str, None, Unknown]
# A string built from substitutions: a string or Unknown.
Text = Union[str, Unknown]


_SPECIAL = re.compile(r"([*?\[\\])")


def escape_pattern(text: str) -> str:
    """An fnmatch pattern matching exactly `text`."""
    if "*" not in text and "?" not in text and "[" not in text and "\\" not in text:
        return text
    return _SPECIAL.sub(r"\\\1", text)


def join_values(a: Value, b: Value) -> Value:
    if a == b and not isinstance(a, Unknown):
        return a
    if isinstance(a, Unknown) and isinstance(b, Unknown):
        return a if a.pattern == b.pattern else Unknown("*", a.why or b.why)
    if isinstance(a, Unknown) and isinstance(b, str) and a.could_be(b):
        return a
    if isinstance(b, Unknown) and isinstance(a, str) and b.could_be(a):
        return b
    why = a.why if isinstance(a, Unknown) else b.why if isinstance(b, Unknown) else "set on some paths only"
    return Unknown("*", why)
