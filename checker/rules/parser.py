"""Reads udev rules text the way udev 252 does (`udev_rules_parse_file()` and `parse_line()`).

The text is already decoded (callers use `surrogateescape`); udev's limits are in bytes, so
lengths are measured on the UTF-8 bytes the text came from. One pass over the lines, one
compiled regular expression per token; the slow path runs only to explain a broken rule.
"""

from __future__ import annotations

import gc
import re
from functools import lru_cache
from operator import attrgetter
from sys import intern
from typing import Callable, Optional

from checker.records import fields, replace
from checker.rules.canonical import (
    EMPTY_CANONICAL,
    MEANINGS,
    RANK_GOTO,
    RANK_LABEL,
    UDEV_LINE_SIZE,
    Meaning,
    effective_meanings,
    interpret,
)
from checker.rules.model import Rule, RulesText, Token
from checker.rules.parser219 import parse_rules_219
from checker.rules.semantics import DEFAULT, UdevSemantics

# udev's read_line(): "\n", "\r", "\0" and any run holding each of "\n" and "\r" at most once
# ("\r\n", "\n\r"), optionally closed by one "\0", end a line. Shared with the edits, so that
# line numbers agree between what is read and what is written.
from checker.rules.textlines import EOL as _EOL

# parse_line(): a key runs up to whitespace, '=', '{' or one of "+-!:" that starts an operator;
# then an optional {attr}, an operator and a value in double quotes, optionally e"C-escaped".
# In plain quotes only \" is an escape; in e"..." a backslash escapes any character.
# Written as "normal* (special normal*)*" so that a failing match cannot backtrack badly.
_TOKEN = re.compile(
    r"[ \t\n\r,]*"
    r"([^ \t\n\r={+\-!:]*(?:[+\-!:](?!=)[^ \t\n\r={+\-!:]*)*)"
    r"(?:\{([^}]*)\})?"
    r"[ \t\n\r]*(==|!=|\+=|-=|=|:=)[ \t\n\r]*"
    r'(?:"([^"\\]*(?:\\(?:"|(?!"))[^"\\]*)*)"|e"([^"\\]*(?:\\[\s\S][^"\\]*)*)")'
)
_SEPARATORS_TO_END = re.compile(r"[ \t\n\r,]*\Z")
_SKIP_SEPARATORS = re.compile(r"[ \t\n\r,]*")
_SKIP_WHITESPACE = re.compile(r"[ \t\n\r]*")
_KEY = re.compile(r"(?:[^ \t\n\r={+\-!:]|[+\-!:](?!=))*")
_OPERATOR = re.compile(r"==|!=|\+=|-=|=|:=")

_MAX_BYTES = UDEV_LINE_SIZE - 1  # the longest line udev reads
_SURELY_SHORT = _MAX_BYTES // 4  # characters that cannot make more bytes than that


def parse_rules(text: str, semantics: UdevSemantics = DEFAULT) -> RulesText:
    """Parse a rules file (or a fragment of one) as udev 252 reads it (or 219, when the
    semantics say so: parser219.py). Never raises."""
    if semantics.is_219:
        return parse_rules_219(text)
    # Parsing makes many small objects and no cycles: the cyclic collector would only rescan
    # the growing result again and again (it was a third of the time on 20,000 rules).
    collecting = gc.isenabled()
    gc.disable()
    try:
        logical = read_logical_lines(text)
        rules = _interpret_lines(logical.lines_read, logical.aborted_at, whole_file=True)
        assert rules is not None  # only a selection can need the whole file
        return RulesText(rules=tuple(rules), lines=logical.physical)
    finally:
        if collecting:
            gc.enable()


def rules_selected(text: str, keep: Callable[[str], bool],
                   semantics: UdevSemantics = DEFAULT) -> list[Rule] | None:
    """The rules of the logical lines whose text `keep` accepts, exactly as parse_rules()
    gives them; or None when only the whole file can tell (a GOTO among them, which is
    lost or not depending on the LABELs of every later rule).

    A check that looks for a few rules in a vendor file of 20,000 interprets only the
    lines that could hold them: splitting lines is a tenth of the cost of a full parse.
    (For udev 219 the whole file is always parsed: its lines are cut another way.)
    """
    if semantics.is_219:
        return None
    logical = read_logical_lines(text)
    selected = [line for line in logical.lines_read if keep(line[2])]
    return _interpret_lines(selected, logical.aborted_at,
                            whole_file=len(selected) == len(logical.lines_read))


# (first physical line, last physical line, the joined text, the reader's problem or None)
LogicalLine = tuple[int, int, str, Optional[str]]


class LogicalLines:
    """A file cut into logical lines as udev reads it, before any key is looked at."""

    __slots__ = ("physical", "lines_read", "aborted_at")

    def __init__(self, physical: tuple[str, ...], lines_read: list[LogicalLine], aborted_at: int) -> None:
        self.physical = physical  # the physical lines, without line endings
        self.lines_read = lines_read  # every rule line, comments and empty lines left out
        self.aborted_at = aborted_at  # a physical line of UDEV_LINE_SIZE bytes stops udev here


def _read_logical_lines(text: str) -> LogicalLines:
    lines = _EOL.split(text)
    if lines[-1] == "":  # text ending in a line break has no empty last line
        lines.pop()
    reader = _Reader()
    feed, logical = reader.feed, reader.logical
    for number, physical in enumerate(lines, 1):
        # The common line, taken here as feed() would take it: no continuation pending,
        # too short to reach udev's limit even in 4-byte characters, not continued. (A
        # method call per line was half the reading of a 28,000-line file.)
        if reader.continuation is None and len(physical) <= _SURELY_SHORT and physical[-1:] != "\\":
            line = physical.lstrip(" \t")
            if line and line[0] != "#":
                logical.append((number, number, line, None))
            continue
        feed(number, physical)
    reader.finish()
    return LogicalLines(tuple(lines), reader.logical, reader.aborted_at)


# The whole parse and a selection of the same text (a check asks both) share this step.
read_logical_lines = lru_cache(maxsize=4)(_read_logical_lines)


class _Reader:
    """udev_rules_parse_file(): comments, continuations and line limits, line by line."""

    def __init__(self) -> None:
        self.logical: list[LogicalLine] = []
        self.continuation: str | None = None  # the joined text so far, backslash removed
        self.continuation_bytes = 0
        self.start = 0  # first physical line of the rule being continued
        self.last = 0  # last physical line read into it
        self.too_long = False  # udev's ignore_line: the joined line got too long
        self.skipped: list[str] = []  # text of a too long line, for the record only
        self.aborted_at = 0  # a physical line of UDEV_LINE_SIZE bytes stops udev's reading

    def feed(self, number: int, physical: str) -> None:
        if not self.aborted_at and _longer_than(physical, _MAX_BYTES):
            self.aborted_at = number
        line = physical.lstrip(" \t")
        if line[:1] == "#":  # a comment, even inside a continuation
            return
        if self.continuation is not None and not self.too_long:
            size = _byte_len(line)
            if self.continuation_bytes + size >= UDEV_LINE_SIZE:
                self.too_long = True
                self.skipped = [self.continuation]
            else:
                line = self.continuation + line
                self.continuation_bytes += size
        if line[-1:] == "\\":
            self._continue(number, line[:-1])
            return
        if self.too_long:
            self.skipped.append(line)
            self.logical.append((self.start, number, "".join(self.skipped), _TOO_LONG))
        elif line:
            start = self.start if self.continuation is not None else number
            self.logical.append((start, number, line, None))
        self.continuation = None
        self.too_long = False

    def _continue(self, number: int, line: str) -> None:
        self.last = number
        if self.too_long:
            self.skipped.append(line)
            return
        if self.continuation is None:
            self.start = number
            self.continuation_bytes = _byte_len(line)
        else:
            self.continuation_bytes -= 1  # the backslash just removed
        self.continuation = line

    def finish(self) -> None:
        """udev drops a rule whose last line still ends in a backslash, without a word."""
        if self.continuation is None:
            return
        text = "".join(self.skipped) if self.too_long else self.continuation
        self.logical.append((self.start, self.last, text, _UNFINISHED))


# A logical line's reading depends on its text alone: a run that reads the same rule twice
# (a policy's block as cached, and as the rules file holds it; the check's selection and
# the evaluation's whole file) reads it once. Everything kept is immutable (tokens and
# meanings are frozen, in tuples); the bound keeps a run over huge files from holding more
# than one file's worth twice.
_Read = tuple[tuple[Token, ...], tuple[Meaning, ...], str | None, tuple[str, ...], str | None,
              str | None, str, tuple[Meaning, ...]]
_READ: dict[str, _Read] = {}
_READ_KEPT = 65536


def _interpret_lines(lines_read: list[LogicalLine], aborted_at: int, whole_file: bool
                     ) -> list[Rule] | None:
    """The rules of these logical lines, with the problems only the whole file shows:
    unread lines, lost GOTOs. When they are not the `whole_file`, None if a GOTO among
    them needs the LABELs of the lines left out."""
    rules: list[Rule] = []
    # (index in rules, LABEL, GOTO, whether the rule does anything but jump) of the rules
    # udev keeps that have a LABEL or a GOTO
    jumps: list[tuple[int, str | None, str | None, bool]] = []
    for start, end, text, problem in lines_read:
        # udev never reads a line of UDEV_LINE_SIZE bytes or more (the problem says so):
        # its first UDEV_LINE_SIZE characters tell all there is to tell, and keep the
        # tokens of a 16 MiB line from costing gigabytes.
        shown = text[:UDEV_LINE_SIZE] if len(text) > UDEV_LINE_SIZE else text
        read = _READ.get(shown)
        if read is None:
            read = _read_line(shown)
            if len(_READ) >= _READ_KEPT:
                _READ.clear()
            _READ[shown] = read
        tokens, meanings, found, warnings, label, goto, canonical, _ = read
        if problem is None:
            problem = found
            if problem is None and (label is not None or goto is not None):
                if goto is not None and not whole_file:
                    return None
                acts = any(m.has_effect and not m.is_goto_or_label for m in meanings)
                jumps.append((len(rules), label, goto, acts))
        rules.append(_rule(start, end, text, tokens, problem, canonical, warnings))
    if aborted_at:
        _mark_unread(rules, aborted_at)
    later_labels: set[str] = set()
    for index, label, goto, acts in reversed(jumps):
        rule = rules[index]
        if rule.problem is not None:  # not read at all: its LABEL does not count
            continue
        if goto is not None and goto not in later_labels:
            rules[index] = _without_goto(rule, goto, label, acts, aborted_at)
        if label is not None:
            later_labels.add(label)
    return rules


def _without_goto(rule: Rule, goto: str, label: str | None, acts: bool, aborted_at: int) -> Rule:
    """rule_resolve_goto(): a GOTO jumps forward to a LABEL of a rule udev kept, in this file.
    Without one, udev ignores the GOTO and keeps the rest of the rule; a rule left with
    nothing to do is dropped (one with a LABEL stays a target of earlier GOTOs). (Seen with udevadm
    test 252: the rule's assignments still apply.) The canonical form keeps the GOTO: it
    says which rule is written, whatever the rest of the file makes of it."""
    if aborted_at:
        return replace(rule, problem=(
            f'GOTO="{goto}" is ignored: udev stopped reading this file at line '
            f"{aborted_at} and never links its GOTOs"))
    lost = f'GOTO="{goto}" has no LABEL="{goto}" later in this file'
    if acts:
        ignored = f"{lost}: udev ignores the GOTO, not the rest of the rule"
        return replace(rule, warnings=rule.warnings + (ignored,))
    if label is not None:  # still a target for the GOTOs before it
        return replace(rule, problem=f"{lost}, and the rule does nothing else: udev keeps only its LABEL")
    return replace(rule, problem=f"{lost}, and the rule does nothing else: udev drops it")


_TOO_LONG = (
    f"line longer than udev's {UDEV_LINE_SIZE} characters "
    f"(at most {UDEV_LINE_SIZE - 1} bytes once continuations are joined): udev ignores it"
)
_UNFINISHED = "the file ends inside a continuation (a trailing '\\'): udev never reads this rule"


def _mark_unread(rules: list[Rule], aborted_at: int) -> None:
    """read_line() fails on a line of UDEV_LINE_SIZE bytes: udev keeps what it read before."""
    for index, rule in enumerate(rules):
        if rule.end_line < aborted_at:
            continue
        if rule.line <= aborted_at:
            why = (
                f"line longer than udev's {UDEV_LINE_SIZE} characters "
                f"(line {aborted_at} has {UDEV_LINE_SIZE} bytes or more): "
                "udev stops reading this file there"
            )
        else:
            why = (
                f"udev never reads this rule: it stopped reading this file at line "
                f"{aborted_at}, which is longer than {UDEV_LINE_SIZE - 1} bytes"
            )
        rules[index] = replace(rule, problem=why)


def _byte_len(text: str) -> int:
    return len(text) if text.isascii() else len(_to_bytes(text))


def _longer_than(text: str, limit: int) -> bool:
    # a character is 1 to 4 bytes: measure the bytes only when it could matter
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return _byte_len(text) > limit


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no file could have held
        return text.encode("utf-8", "surrogatepass")


# --- one logical line --------------------------------------------------------------------


def _read_line(text: str) -> _Read:
    """rule_add_line(): (tokens, their meanings, problem, warnings, LABEL, GOTO, canonical
    form, the meanings udev keeps in its order: canonical.effective_meanings()).

    Tokens are kept up to the first error, the refused one included when it was complete.
    """
    tokens: list[Token] = []
    meanings: list[Meaning] = []
    warnings: list[str] = []
    label: str | None = None
    goto: str | None = None
    problem: str | None = None
    effect = False
    careful = False  # a meaning that is not simply kept in rank order (canonical_from_meanings)
    known = MEANINGS.get  # interpret()'s cache, asked directly: this loop is the hot path
    new = _new
    set_key, set_attr, set_op, set_value, set_column = _TOKEN_SETTERS
    token_at = _TOKEN.match
    pos = 0
    match = token_at(text, pos)
    while match is not None:
        key, attr, op, plain, escaped = match.groups()
        # one string for each key and operator, not one per token (24 MB at 50,000 rules)
        key = intern(key)
        op = intern(op)
        if plain is not None:
            value = plain.replace('\\"', '"') if "\\" in plain else plain
        else:
            unescaped, why = _cunescape(escaped)
            if unescaped is None:
                problem = f"invalid key/value pair: {why} in the value of {key}"
                break
            value = unescaped
        if _FAST:  # _fast_token(), inline: a call per token was a tenth of the parse
            token = new(Token)
            set_key(token, key)
            set_attr(token, attr)
            set_op(token, op)
            set_value(token, value)
            set_column(token, match.start(1) + 1)
        else:
            token = Token(key, attr, op, value, match.start(1) + 1)
        tokens.append(token)
        meaning = known((key, attr, op, value)) or interpret(key, attr, op, value)
        meanings.append(meaning)
        if meaning.needs_care:
            careful = True
            if meaning.error is not None:
                problem = meaning.error
                break
            warnings.extend(meaning.warnings)
            if meaning.rank == RANK_LABEL:
                label = value  # the last LABEL wins
            elif meaning.rank != RANK_GOTO:
                pass
            elif goto is None:
                goto = value
            else:
                warnings.append(f'contains multiple GOTO keys, ignoring GOTO="{value}"')
        elif meaning.has_effect:
            effect = True
        pos = match.end()
        match = token_at(text, pos)
    else:
        if _SEPARATORS_TO_END.match(text, pos) is None:
            problem = _explain(text, pos)
        elif not (effect or any(m.has_effect for m in meanings)):
            warnings.append("the line takes no effect (it only matches): udev ignores it")
    # nothing ignored, refused, repeated or jumping: udev keeps every token, in rank order
    effective = effective_meanings(meanings) if careful else sorted(meanings, key=_RANK_OF)
    if effective:
        canonical = ", ".join([m.text for m in effective])
        if canonical[0] == "#":  # as canonical_from_meanings() does
            canonical = ", " + canonical
    else:
        canonical = EMPTY_CANONICAL
    return (tuple(tokens), tuple(meanings), problem, tuple(warnings), label, goto, canonical,
            tuple(effective))


def effective_meanings_of(rule: Rule) -> tuple[Meaning, ...] | None:
    """canonical.effective_meanings() of the tokens of a rule this parser read, as it
    read them (the rule set's compiling needs them again); None when they are no longer
    at hand or the tokens are not the ones read here (udev 219's): interpret them then."""
    text = rule.text
    read = _READ.get(text[:UDEV_LINE_SIZE] if len(text) > UDEV_LINE_SIZE else text)
    if read is None or read[0] is not rule.tokens:
        return None
    return read[7]


def _explain(text: str, pos: int) -> str:
    """Why parse_line() refuses the text at pos: udev only says "Invalid key/value pair"."""
    start = _SKIP_SEPARATORS.match(text, pos).end()  # type: ignore[union-attr]
    rest = text[start:]
    if rest.startswith("#"):
        return f"trailing text after the last key: {rest!r} (a '#' is a comment only at the start of a line)"
    if rest.rstrip(" \t") == "\\":
        return "invalid key/value pair: a '\\' followed by spaces does not continue the line"
    key_end = _KEY.match(text, start).end()  # type: ignore[union-attr]
    key = text[start:key_end]
    if key_end == len(text):
        return f"invalid key/value pair: {rest!r} has no operator"
    after = key_end
    if text[after] == "{":
        close = text.find("}", after + 1)
        if close < 0:
            return f"invalid key/value pair: '{{' without '}}' in {rest!r}"
        after = close + 1
    after = _SKIP_WHITESPACE.match(text, after).end()  # type: ignore[union-attr]
    operator = _OPERATOR.match(text, after)
    if operator is None:
        return (
            f"invalid key/value pair: no operator after {text[start:after].rstrip()!r} "
            "(use ==, !=, =, +=, -= or :=)"
        )
    value_at = _SKIP_WHITESPACE.match(text, operator.end()).end()  # type: ignore[union-attr]
    value = text[value_at:]
    if value.startswith("'") or value.startswith("e'"):
        return "invalid key/value pair (single quotes are not allowed)"
    if not (value.startswith('"') or value.startswith('e"')):
        shown = value.split(",")[0].strip() or "nothing"
        return f"invalid key/value pair: the value of {key} must be in double quotes, not {shown}"
    return f"invalid key/value pair: the value of {key} has no closing '\"'"


# systemd's cunescape(): the escapes e"..." understands, and the ones it refuses.
_SIMPLE_ESCAPES = {
    "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
    "\\": 92, '"': 34, "'": 39, "s": 32,
}  # fmt: skip
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCT_DIGITS = frozenset("01234567")


def _cunescape(body: str) -> tuple[str | None, str]:
    """(value, "") or (None, why). Escapes give bytes, so e"\\xc3\\xa9" is "é" as in a file."""
    if "\\" not in body:
        return body, ""
    out = bytearray()
    i = 0
    while True:
        j = body.find("\\", i)
        if j < 0:
            out += _to_bytes(body[i:])
            break
        out += _to_bytes(body[i:j])
        escape = body[j + 1 : j + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i = j + 2
            continue
        code, length, why = _numeric_escape(body, j)
        if code is None:
            return None, why
        if escape in ("x", "0", "1", "2", "3", "4", "5", "6", "7"):
            out.append(code)  # one raw byte
        else:
            out += chr(code).encode("utf-8", "surrogatepass")
        i = j + length
    return out.decode("utf-8", "surrogateescape"), ""


def _numeric_escape(body: str, j: int) -> tuple[int | None, int, str]:
    """(code, length of the escape, "") or (None, 0, why) for \\xHH \\uHHHH \\UHHHHHHHH \\OOO."""
    escape = body[j + 1 : j + 2]
    if escape == "x":
        digits, length, allowed = body[j + 2 : j + 4], 4, _HEX_DIGITS
    elif escape == "u":
        digits, length, allowed = body[j + 2 : j + 6], 6, _HEX_DIGITS
    elif escape == "U":
        digits, length, allowed = body[j + 2 : j + 10], 10, _HEX_DIGITS
    elif escape in _OCT_DIGITS:
        digits, length, allowed = body[j + 1 : j + 4], 4, _OCT_DIGITS
    else:
        return None, 0, f"unknown escape '\\{escape}'"
    shown = body[j : j + length]
    if len(digits) != length - 1 - (escape not in _OCT_DIGITS) or not set(digits) <= allowed:
        return None, 0, f"malformed escape '{shown}'"
    code = int(digits, 8 if escape in _OCT_DIGITS else 16)
    if code == 0:
        return None, 0, f"'{shown}' (udev refuses NUL)"
    if escape in _OCT_DIGITS and code > 255:
        return None, 0, f"'{shown}' (octal escapes stop at \\377)"
    if escape == "U" and not _valid_unichar(code):
        return None, 0, f"'{shown}' (not a valid character)"
    return code, length, ""


def _valid_unichar(code: int) -> bool:
    """systemd unichar_is_valid(), which udev applies to \\U but not to \\u."""
    return (
        code < 0x110000
        and (code & 0xFFFFF800) != 0xD800
        and not 0xFDD0 <= code <= 0xFDEF
        and (code & 0xFFFE) != 0xFFFE
    )


# --- building the values fast --------------------------------------------------------------
# A frozen record sets each field through object.__setattr__, which made building Token
# and Rule a third of the parse time. Both have slots: setting each slot through its own
# descriptor gives equal objects, faster (and without a dict each, 100 bytes less a token
# than filling a __dict__); the check below falls back to the constructors if the model
# ever stops allowing it.

_new = object.__new__


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    """Each field's slot descriptor's __set__ (a KeyError when the class has no such slot)."""
    return tuple(cls.__dict__[name].__set__ for name in names)


try:
    _TOKEN_SETTERS = _setters(Token, ("key", "attr", "op", "value", "column"))
    _RULE_SETTERS = _setters(Rule, ("line", "end_line", "text", "tokens", "problem", "canonical", "warnings"))
except (KeyError, AttributeError):  # no slots: the constructors (_FAST is False then)
    _TOKEN_SETTERS = _RULE_SETTERS = ()


def _fast_token(key: str, attr: str | None, op: str, value: str, column: int) -> Token:
    token = _new(Token)
    for put, value_of in zip(_TOKEN_SETTERS, (key, attr, op, value, column), strict=True):
        put(token, value_of)
    return token


def _fast_rule(
    line: int,
    end_line: int,
    text: str,
    tokens: tuple[Token, ...],
    problem: str | None,
    canonical: str,
    warnings: tuple[str, ...],
) -> Rule:
    rule = _new(Rule)
    set_line, set_end, set_text, set_tokens, set_problem, set_canonical, set_warnings = _RULE_SETTERS
    set_line(rule, line)
    set_end(rule, end_line)
    set_text(rule, text)
    set_tokens(rule, tokens)
    set_problem(rule, problem)
    set_canonical(rule, canonical)
    set_warnings(rule, warnings)
    return rule


def _fast_is_faithful() -> bool:
    try:
        token = ("K", "a", "==", "v", 1)
        rule = (1, 2, "t", (Token(*token),), None, "c", ("w",))
        return (
            _fast_token(*token) == Token(*token)
            and _fast_rule(*rule) == Rule(*rule)
            and len(fields(Token)) == 5
            and len(fields(Rule)) == 7
        )
    except (AttributeError, TypeError, ValueError):  # no slots, or fields that changed
        return False


_RANK_OF = attrgetter("rank")
_token: Callable[[str, str | None, str, str, int], Token] = Token
_rule: Callable[..., Rule] = Rule
_FAST = _fast_is_faithful()
if _FAST:
    _token = _fast_token
    _rule = _fast_rule
