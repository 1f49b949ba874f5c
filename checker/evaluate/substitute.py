"""Substitutions as udev 252 expands them (`udev_event_apply_format()`, udev-event.c).

The result is a list of pieces: known text, or Unknown where a value cannot be known
(an attribute not in the facts, a PROGRAM's output). Callers turn pieces into a string
or a pattern once they applied their own character rules. The template is read into its
pieces by checker.rules.template.scan(), as the canonical form reads it.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Union

from checker.evaluate.facts import DeviceFacts, NodeFacts
from checker.evaluate.values import Text, Tri, Unknown, Value, escape_pattern
from checker.rules.template import SIGN, STOP, TEXT, scan

# udev copies every expanded value into a buffer of one of these sizes (udev-util.h of
# systemd 252), the terminating NUL included: see expand_within()
UDEV_NAME_SIZE = 512
UDEV_PATH_SIZE = 1024
UDEV_LINE_SIZE = 16384
WHITESPACE = " \t\n\r"
ALLOWED_INPUT = "/ $%?,"  # UDEV_ALLOWED_CHARS_INPUT
_DEVNODE_CHARS = frozenset(string.ascii_letters + string.digits + "#+-.:=@_")

Piece = Union[str, Unknown]


class Context:
    """What a substitution reads: the facts and the evaluator's state at this token."""

    __slots__ = ("facts", "prop", "program_result", "dev_parent", "links", "name", "attr", "old")

    def __init__(self, facts: DeviceFacts, prop: Callable[[str], Value], program_result: Value,
                 dev_parent: int | None | Unknown, links: Callable[[], Value], name: Value,
                 attr: Callable[[NodeFacts, str], Value], old: bool = False) -> None:
        self.facts = facts
        self.prop = prop
        self.program_result = program_result
        self.dev_parent = dev_parent
        self.links = links  # $links
        self.name = name  # event->name (NAME=)
        self.attr = attr  # an attribute as udev reads it now
        self.old = old  # udev 219's reading of a value (_value_219)


def expand(template: str, ctx: Context, replace_whitespace: bool = False,
           literal: list[bool] | None = None) -> list[Piece]:
    """The pieces of `template` with every substitution applied. `literal`, when given,
    gets one flag per piece: True for text copied from the template, False for a
    substituted value (udev 219 cuts the two differently: checker.evaluate.truncate219)."""
    return _expand(template, ctx, replace_whitespace, 0, 0, literal)[0]


def expand_within(template: str, ctx: Context, size: int, replace_whitespace: bool = False,
                  used: int = 0) -> tuple[list[Piece], Tri]:
    """The pieces of `template`, and whether they fit udev's buffer of `size` bytes after
    `used` bytes already in it: NO when udev surely finds the value truncated (and then
    refuses the assignment), UNKNOWN when an unknown piece may make it so.

    udev_event_apply_format() (udev-event.c, systemd 252) copies into `dest` of `size`
    bytes: a plain character needs room for itself and the NUL, a substitution is copied
    with strpcpy_full(), which reports truncation when the value is as long as the room
    left or longer; that is measured before udev_replace_whitespace() shortens the value
    in place (SYMLINK). Every length is in bytes (the values are decoded with
    surrogateescape, so each undecodable byte is one character)."""
    return _expand(template, ctx, replace_whitespace, size, used, None)


def byte_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))


def _expand(template: str, ctx: Context, replace_whitespace: bool, size: int,
            used: int, literal: list[bool] | None) -> tuple[list[Piece], Tri]:
    out: list[Piece] = []
    # each piece's kind, in step with `out` (a list the caller reads, or one thrown away)
    kinds: list[bool] = literal if literal is not None else []
    truncated = False
    unknown = False  # a piece of unbounded, unknown length
    unknown_most = 0  # the most bytes the pieces of bounded, unknown length can add
    for kind, raw, fmt, arg in scan(template, ctx.old):
        if kind == TEXT:
            out.append(raw)
            kinds.append(True)
            if size:
                used += byte_length(raw)
            continue
        if kind == SIGN:  # "%%", "$$" or a sign that starts no substitution: the sign
            out.append(fmt)
            kinds.append(True)
            used += 1
            continue
        if kind == STOP:  # "Invalid format string": udev stops here
            break
        value = _value_219(fmt, arg, ctx) if ctx.old else _value(fmt, arg or "", ctx)
        if value is _STOP:
            break
        assert not isinstance(value, _Stop)
        if isinstance(value, Unknown):
            if fmt == "s":
                # FORMAT_SUBST_ATTR copies the attribute into vbuf[UDEV_NAME_SIZE] first
                # (udev-event.c): whatever it is, it adds at most 511 bytes
                unknown_most += UDEV_NAME_SIZE - 1
            else:
                unknown = True  # of any length, the empty one included: counted as 0 bytes
        else:
            if size:
                length = byte_length(value)
                truncated = truncated or used + length >= size
            if replace_whitespace and fmt != "c":
                value = replace_whitespace_runs(value)
            if size:
                used += byte_length(value) if replace_whitespace and fmt != "c" else length
        out.append(value)
        kinds.append(False)
    if not size:
        return out, Tri.YES
    if truncated or used >= size:
        return out, Tri.NO
    return out, Tri.UNKNOWN if unknown or used + unknown_most >= size else Tri.YES


class _Stop:
    pass


_STOP = _Stop()


def _value(fmt: str, attr: str, ctx: Context) -> Piece | _Stop:
    facts = ctx.facts
    node = facts.node
    if fmt == "p":
        return node.devpath if node.devpath is not None else Unknown("*", "the sysfs path is not known")
    if fmt == "k":
        return node.kernel
    if fmt == "n":
        digits = len(node.kernel) - len(node.kernel.rstrip(string.digits))
        return node.kernel[-digits:] if 0 < digits < len(node.kernel) else ""
    if fmt in ("b", "d"):
        parent = ctx.dev_parent
        if isinstance(parent, Unknown):
            return Unknown("*", "which parent the last parent keys matched is not known")
        if parent is None:
            return ""
        chain = facts.chain()
        if parent >= len(chain):
            return Unknown("*", "a parent not in the facts")
        return chain[parent].kernel if fmt == "b" else chain[parent].driver or ""
    if fmt in ("M", "m"):
        if facts.devnum is None:
            return "0"
        if isinstance(facts.devnum, Unknown):
            return facts.devnum
        return str(facts.devnum[0] if fmt == "M" else facts.devnum[1])
    if fmt == "c":
        return _result(attr, ctx.program_result)
    if fmt == "s":
        return _attribute(attr, ctx)
    if fmt == "P":
        if not facts.parents:
            return "" if facts.parents_complete else Unknown("*", "the parent is not known")
        devname = facts.parents[0].devname
        return devname[len("/dev/"):] if devname else ""
    if fmt == "N":
        return node.devname or ""
    if fmt == "D":
        if isinstance(ctx.name, Unknown):
            return ctx.name
        if ctx.name:
            return ctx.name
        return node.devname[len("/dev/"):] if node.devname else node.kernel
    if fmt == "L":
        links = ctx.links()
        return links if isinstance(links, Unknown) else (links or "").replace("/dev/", "")
    if fmt == "r":
        return "/dev"
    if fmt == "S":
        return "/sys"
    if fmt == "E":
        if not attr:
            return _STOP
        value = ctx.prop(attr)
        return value if isinstance(value, Unknown) else value or ""
    raise AssertionError(fmt)


def _value_219(fmt: str, arg: str | None, ctx: Context) -> Piece | _Stop:
    """udev 219's udev_event_apply_format() (RHEL 7 src/udev/udev-event.c): where it reads a
    value otherwise than 252, it never stops the walk: "%s" and "$env" without an argument
    are empty ("missing file parameter for attr"), and "%c{...}" reads its number with
    strtoul(); everything else as 252."""
    if fmt in ("s", "E") and not arg:
        # attr NULL: nothing; attr "": no attribute or property has that name
        return ""
    if fmt == "c" and arg is not None:
        return _result_219(arg, ctx.program_result)
    return _value(fmt, arg or "", ctx)


def _result_219(attr: str, result: Value) -> Piece:
    """%c{N}, %c{N+} in udev 219: `i = strtoul(attr, &rest, 10)`; i > 0 picks the N-th
    whitespace-separated part (and the rest with "+"), cut at the first space (strchr(tmp,
    ' ')); otherwise, a non-number included, the whole result. A part that is not there
    is empty ("requested part of result string not found")."""
    if result is None:
        return ""
    text = attr.lstrip(" \t\n\v\f\r")
    if text[:1] == "-":
        return Unknown("*", f"%c{{{attr}}}: a negative number, as udev 219's strtoul() reads it")
    text = text[1:] if text[:1] == "+" else text
    digits = len(text) - len(text.lstrip(string.digits))
    index = int(text[:digits]) if digits else 0
    rest = text[digits:]
    if isinstance(result, Unknown):
        return Unknown("*", result.why)
    if index <= 0:
        return result
    # the first part starts at the first byte, space or not; parts are split at isspace()
    cpos = _after_parts(result, index - 1, " \t\n\v\f\r")
    return cpos if rest[:1] == "+" else cpos.split(" ", 1)[0]


def _after_parts(text: str, count: int, space: str) -> str:
    """`text` from its (count+1)-th part on: each part a run of non-space characters and
    the spaces after it; empty when there are not that many parts."""
    for _ in range(count):
        end = 0
        while end < len(text) and text[end] not in space:
            end += 1
        text = text[end:].lstrip(space)
        if not text:
            return ""
    return text


def _result(attr: str, result: Value) -> Piece | _Stop:
    if result is None:
        return ""
    index, plus = 0, False
    if attr:
        digits = attr[:-1] if attr.endswith("+") else attr
        plus = attr.endswith("+")
        if not digits.isdigit():
            return _STOP  # safe_atou() fails: "Failed to substitute", udev stops here
        index = int(digits)
    if isinstance(result, Unknown):
        return Unknown("*", result.why)
    if index == 0:
        return result
    parts: list[str] = []
    rest = _after_parts(result.lstrip(WHITESPACE), index - 1, WHITESPACE)
    if not rest:
        return ""
    if plus:
        return rest
    end = 0
    while end < len(rest) and rest[end] not in WHITESPACE:
        end += 1
    parts.append(rest[:end])
    return parts[0]


def _attribute(attr: str, ctx: Context) -> Piece | _Stop:
    if not attr:
        return _STOP
    if attr.startswith("["):
        return Unknown("*", f"attribute {attr} of another device is not known")
    value = ctx.attr(ctx.facts.node, attr)
    parent = ctx.dev_parent
    if value is None and parent not in (None, 0):
        if isinstance(parent, Unknown):
            return Unknown("*", "which parent the last parent keys matched is not known")
        chain = ctx.facts.chain()
        value = ctx.attr(chain[parent], attr) if parent < len(chain) else Unknown("*", "parent")
    if isinstance(value, Unknown):
        return value
    if value is None:
        return ""
    return replace_chars(value.rstrip(WHITESPACE + "\v\f"), ALLOWED_INPUT)


def replace_whitespace_runs(text: str) -> str:
    """udev_replace_whitespace(): trim, and each run of whitespace becomes one '_'."""
    return "_".join(text.split())


def replace_chars(text: str, allow: str | None) -> str:
    """udev_replace_chars(): characters udev does not want in names become '_'."""
    kept = _KEPT_CHARS.get(allow)
    if kept is None:
        kept = _KEPT_CHARS[allow] = _DEVNODE_CHARS | frozenset(allow or "")
    if kept.issuperset(text):  # the usual case, at C speed
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _DEVNODE_CHARS or (allow and c in allow):
            out.append(c)
        elif c == "\\" and text[i + 1 : i + 2] == "x":
            out.append("\\x")
            i += 2
            continue
        elif ord(c) > 127 and not _surrogate(c):
            out.append(c)  # valid UTF-8 is kept
        elif c in " \t\n\r\v\f" and allow and " " in allow:
            out.append(" ")
        else:
            out.append("_")
        i += 1
    return "".join(out)


_KEPT_CHARS: dict[str | None, frozenset[str]] = {}  # by `allow`: the characters kept as they are


def _surrogate(c: str) -> bool:
    return 0xDC80 <= ord(c) <= 0xDCFF  # a byte that was not UTF-8 (surrogateescape)


def map_known(pieces: list[Piece], change: Callable[[str], str]) -> list[Piece]:
    return [change(p) if isinstance(p, str) else p for p in pieces]


def to_text(pieces: list[Piece]) -> Text:
    """One string, or an Unknown whose pattern covers every value it could have."""
    for p in pieces:
        if not isinstance(p, str):
            break
    else:
        return "".join(pieces)  # type: ignore[arg-type]  # every piece is a str
    # one "*" for a run of unknown pieces; an escaped "\\*" of known text before one
    # stays (collapsing the text "**" made "a*" and an unknown the literal "a*")
    parts: list[str] = []
    star = False
    for p in pieces:
        if isinstance(p, str):
            if p:
                parts.append(escape_pattern(p))
                star = False
        elif not star:
            parts.append("*")
            star = True
    why = next(p.why for p in pieces if isinstance(p, Unknown))
    return Unknown("".join(parts), why)
