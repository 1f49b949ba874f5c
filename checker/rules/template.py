"""A value with `%`/`$` substitutions, read into its pieces the way udev reads it.

systemd 252's udev_event_apply_format() and get_subst_type() (udev-event.c) walk a value
once: "%%" and "$$" are one literal sign; "%c" names a substitution by its character and
"$name" by the first name of udev's table it starts with; a sign that starts none of these
is a literal sign too; a substitution may take a "{arg}", and an unclosed, empty or too
long one ends the walk there ("Invalid format string"): udev copies nothing more.

`scan()` gives those pieces; the canonical form (checker.rules.canonical) spells each one
its short way and the evaluator (checker.evaluate.substitute) puts values in their place,
so that both read a value alike. udev 219 reads values with the same table, but takes an
empty "{}" as an empty argument (its udev_event_apply_format() stops only at a missing "}"
or an argument of 1,024 bytes or more): `scan(value, old=True)`.
"""

from __future__ import annotations

from functools import lru_cache

from checker.records import NamedTuple

# udev-event.c map[]: "$name" is matched as a prefix in this order, "%c" by its character.
NAMES = (
    ("devnode", "N"), ("tempnode", "N"), ("attr", "s"), ("sysfs", "s"), ("env", "E"),
    ("kernel", "k"), ("number", "n"), ("driver", "d"), ("devpath", "p"), ("id", "b"),
    ("major", "M"), ("minor", "m"), ("result", "c"), ("parent", "P"), ("name", "D"),
    ("links", "L"), ("root", "r"), ("sys", "S"),
)  # fmt: skip
CHARS = frozenset(fmt for _, fmt in NAMES)
UDEV_PATH_SIZE = 1024  # a "{arg}" must be shorter than this

# The kinds of piece.
TEXT = 0  # text without a sign: `raw` is the text
SIGN = 1  # a literal sign ("%%", "$$", or a sign that starts no substitution): `fmt` is the sign
SUBST = 2  # a substitution: `fmt` its character (k, s, E ...), `arg` what stood in "{...}"
STOP = 3  # a bad "{...}": udev stops; `raw` is the rest of the value from the sign on


class Piece(NamedTuple):
    kind: int
    raw: str  # as written: the pieces of a value join to the value
    fmt: str = ""
    arg: str | None = None  # SUBST: None when it had no "{...}"


@lru_cache(maxsize=4096)  # the evaluator expands the same few templates for every device
def scan(value: str, old: bool = False) -> tuple[Piece, ...]:
    """The pieces of `value`, in order; a STOP piece is the last. `old`: as udev 219 reads it."""
    if "%" not in value and "$" not in value:
        return (Piece(TEXT, value),) if value else ()
    pieces: list[Piece] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c != "%" and c != "$":
            j = i + 1
            while j < n and value[j] != "%" and value[j] != "$":
                j += 1
            pieces.append(Piece(TEXT, value[i:j]))
            i = j
            continue
        fmt, after = _substitution_at(value, i)
        if fmt is None:
            pieces.append(Piece(SIGN, value[i:after], c))
            i = after
            continue
        arg = None
        if after < n and value[after] == "{":
            close = value.find("}", after + 1)
            if close < 0 or (close == after + 1 and not old) or close - after - 1 >= UDEV_PATH_SIZE:
                pieces.append(Piece(STOP, value[i:]))
                break
            arg = value[after + 1 : close]
            after = close + 1
        pieces.append(Piece(SUBST, value[i:after], fmt, arg))
        i = after
    return tuple(pieces)


def _substitution_at(value: str, i: int) -> tuple[str | None, int]:
    """(format char, index after the name) of the substitution at i, or (None, next index)."""
    sign = value[i]
    nxt = value[i + 1 : i + 2]
    if nxt == sign:
        return None, i + 2
    if sign == "%":
        if nxt and nxt in CHARS:
            return nxt, i + 2
        return None, i + 1
    for name, fmt in NAMES:
        if value.startswith(name, i + 1):
            return fmt, i + 1 + len(name)
    return None, i + 1
