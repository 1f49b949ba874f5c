"""Reads udev rules text the way udev 219 does (RHEL 7's systemd 219, `src/udev/udev-rules.c`:
parse_file(), add_rule(), get_key()), byte for byte.

How 219 reads differently from 252 (parser.py):
- parse_file() reads with fgets(): only "\\n" ends a line ("\\r" is white space to the
  parser, so CRLF files read as LF files); a NUL ends the line's text; lines shorter than
  3 bytes are skipped; a line whose first non-blank is '#' is a comment — but only a
  line that starts a rule: a line ending in '\\' is followed by the next physical line as
  it is, comment or not, leading blanks kept; an empty line ends the continuation; a file
  ending in '\\' keeps the rule. A line of 16,383 bytes or more is ignored, and fgets()
  reads what is left of it as the next line.
- get_key(): a value is the text between two double quotes, with no escape at all
  (`"a\\"b"` is `a\\`), and there is no e"..." form.
- add_rule(): when get_key() fails (a trailing `# comment`, `e"..."`, a missing quote),
  udev logs "invalid key/value pair" and KEEPS the rule with the tokens read before
  that point; only a token add_rule() refuses (an unknown key, a refused operator) drops
  the whole rule ("invalid rule").
- There is no "the line takes no effect": a rule of matches only is kept (and does
  nothing).

The result has the same shape as parse_rules() (checker.rules.model), so everything that
reads rules reads these. Line numbers count "\\n" (a lone "\\r" does not end a line here).
"""

from __future__ import annotations

from checker.records import replace
from checker.rules.canonical import RANK_GOTO, RANK_LABEL, Meaning, canonical_from_meanings
from checker.rules.canonical219 import interpret_219, split_key
from checker.rules.model import Rule, RulesText, Token
from checker.rules.textlines import EOL

LINE_SIZE = 16384  # UTIL_LINE_SIZE: parse_file()'s buffer
_SPACE = frozenset(b" \t\n\v\f\r")  # isspace() in the C locale
_BLANK = frozenset(b" \t")  # isblank()


def _fgets(data: bytes, pos: int, size: int) -> bytes | None:
    """fgets(buf, size, f): up to and including a "\\n", at most size - 1 bytes."""
    if pos >= len(data) or size <= 1:
        return None
    end = data.find(b"\n", pos, pos + size - 1)
    return data[pos : end + 1] if end >= 0 else data[pos : pos + size - 1]


def _c_string(chunk: bytes) -> bytes:
    nul = chunk.find(b"\0")
    return chunk if nul < 0 else chunk[:nul]


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def parse_rules_219(text: str) -> RulesText:
    """Parse a rules file (or a fragment of one) as udev 219 reads it. Never raises."""
    data = _to_bytes(text)
    rules: list[Rule] = []
    pos = 0
    while True:
        chunk = _fgets(data, pos, LINE_SIZE)
        if chunk is None:
            break
        start = pos
        pos += len(chunk)
        line = _c_string(chunk)
        key = 0
        while key < len(line) and line[key] in _SPACE:
            key += 1
        if line[key : key + 1] == b"#" or len(line) < 3:
            continue
        while len(line) >= 2 and line[len(line) - 2] == 0x5C:  # a backslash before the "\n"
            more = _fgets(data, pos, LINE_SIZE - len(line) + 2)
            if more is None:
                break
            pos += len(more)
            added = _c_string(more)
            line = line[: len(line) - 2] + added
            if len(added) < 2:
                break
        first = data.count(b"\n", 0, start) + 1
        last = data.count(b"\n", 0, max(start, pos - 1)) + 1
        body = line[key:]
        shown = _decode(body.rstrip(b"\n"))
        if len(line) + 1 >= LINE_SIZE:
            rules.append(Rule(first, last, shown, (), problem=(
                f"line too long for udev 219 ({LINE_SIZE - 1} bytes or more once "
                "continuations are joined): udev ignores it")))
            continue
        rule = _add_rule(first, last, shown, body)
        if rule is not None:
            rules.append(rule)
    _resolve_gotos(rules)
    lines = EOL.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return RulesText(rules=tuple(rules), lines=tuple(lines))


def _get_key(buf: bytes, pos: int) -> tuple[bytes, str, bytes, int] | None:
    """get_key(): (key, operator, value, position after the value) or None."""
    n = len(buf)
    while pos < n and (buf[pos] in _SPACE or buf[pos] == 0x2C):
        pos += 1
    if pos >= n:
        return None
    key_start = pos
    while True:
        pos += 1
        if pos >= n:
            return None
        c = buf[pos]
        if c in _SPACE or c == 0x3D:
            break
        if c in b"+-!:" and pos + 1 < n and buf[pos + 1] == 0x3D:
            break
    key_end = pos
    while pos < n and buf[pos] in _SPACE:
        pos += 1
    if pos >= n:
        return None
    two = buf[pos : pos + 2]
    if two in (b"==", b"!=", b"+=", b"-="):
        op = two.decode()
        pos += 2
    elif two[:1] == b"=":
        op = "="
        pos += 1
    elif two == b":=":
        op = ":="
        pos += 2
    else:
        return None
    while pos < n and buf[pos] in _SPACE:
        pos += 1
    if pos >= n or buf[pos] != 0x22:
        return None
    pos += 1
    close = buf.find(b'"', pos)
    if close < 0:
        return None
    return buf[key_start:key_end], op, buf[pos:close], close + 1


def _add_rule(first: int, last: int, shown: str, buf: bytes) -> Rule | None:
    tokens: list[Token] = []
    meanings: list[Meaning] = []
    warnings: list[str] = []
    pos = 0
    while True:
        found = _get_key(buf, pos)
        if found is None:
            rest = pos
            while rest < len(buf) and buf[rest] in _BLANK:
                rest += 1
            if rest < len(buf) and buf[rest] not in b"\n\r":
                column = len(_decode(buf[:rest])) + 1
                why = (f"invalid key/value pair at character {column} "
                       f"({_decode(buf[rest:]).rstrip()!r}): udev 219 keeps the keys before it "
                       "and ignores the rest of the line")
                if buf[rest] == 0x23:
                    why += " (a '#' starts a comment only at the start of a line)"
                warnings.append(why)
            break
        raw_key, op, raw_value, after = found
        key, attr = split_key(_decode(raw_key))
        value = _decode(raw_value)
        column = len(_decode(buf[:pos])) + 1
        tokens.append(Token(key, attr, op, value, column))
        interpreted = interpret_219(key, attr, op, value)
        for meaning in interpreted:
            if meaning.error is not None:
                return Rule(first, last, shown, tuple(tokens),
                            problem=f"{meaning.error}: udev 219 drops the rule",
                            canonical=canonical_from_meanings(meanings + [meaning]),
                            warnings=tuple(warnings))
            warnings.extend(meaning.warnings)
        meanings.extend(interpreted)
        pos = after
    if not tokens and not warnings:
        return None  # white space only: an empty rule, which does nothing
    return Rule(first, last, shown, tuple(tokens), None, canonical_from_meanings(meanings), tuple(warnings))


def read_part_219(logical_line: str) -> str:
    """The part of one logical line (continuations joined) that udev 219 reads: up to the
    end of the last key/value pair get_key() took, the rest (a trailing `# comment`, an
    e"..." value and what follows) left out. What adopt writes into a policy for such a
    rule: the rule udev 219 acts on, in a form udev 252 reads alike."""
    buf = _to_bytes(logical_line)
    pos = 0
    while True:
        found = _get_key(buf, pos)
        if found is None:
            return _decode(buf[:pos])
        pos = found[3]


def meanings_219(tokens: tuple[Token, ...]) -> list[Meaning]:
    return [m for t in tokens for m in interpret_219(t.key, t.attr, t.op, t.value)]


def _resolve_gotos(rules: list[Rule]) -> None:
    """parse_file(): a GOTO jumps to the first later rule of this file with that LABEL;
    without one, udev logs "GOTO ... has no matching label" and the GOTO does nothing."""
    later: set[str] = set()
    for index in range(len(rules) - 1, -1, -1):
        rule = rules[index]
        if rule.problem is not None:
            continue
        meanings = [m for m in meanings_219(rule.tokens) if not m.ignored]
        labels = [m.value for m in meanings if m.rank == RANK_LABEL]
        gotos = [m.value for m in meanings if m.rank == RANK_GOTO]
        if gotos and gotos[0] not in later:
            lost = (f'GOTO="{gotos[0]}" has no LABEL="{gotos[0]}" later in this file: '
                    "udev ignores the GOTO, not the rest of the rule")
            rules[index] = replace(rule, warnings=rule.warnings + (lost,))
        if labels:
            later.add(labels[-1])
