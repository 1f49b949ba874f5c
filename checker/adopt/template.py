"""Rules repeated once per disk, folded into one `for_each` template.

The XenServer pair written for sdb and again for sdc becomes one template with
`{{ item }}` where the disk's name stood and `for_each: [sdb, sdc]`. A fold is taken only
when expanding it gives back the file's text exactly, byte for byte: the policy then holds
the very lines that are in the file, and the first repair has nothing to rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from checker.policy.expand import substitute
from checker.records import dataclass
from checker.rules.model import Rule, Token

ITEM = "{{ item }}"
GLOB = re.compile(r"[*?\[|]")
# Matches that name one disk: its kernel name, or a serial or WWN udev knows it by.
# A group repeated per disk is a few rules (XenServer's is two): trying every divisor of a
# file of 60,000 rules as the group's size cost minutes, each try copying the whole text.
MAX_GROUP = 32
IDENTITY_ATTRS = {"ID_SERIAL", "ID_SERIAL_SHORT", "ID_WWN", "ID_WWN_WITH_EXTENSION", "SERIAL",
                  "WWID", "ID_PATH"}


@dataclass(frozen=True)
class Piece:
    """Text of a policy entry: `text` as is, or a template expanded once per item."""

    text: str
    items: tuple[str, ...] | None = None


def _names_one_disk(token: Token) -> bool:
    if token.op != "==" or not token.value or GLOB.search(token.value):
        return False
    if token.key in ("KERNEL", "KERNELS"):
        return True
    return token.key in ("ENV", "ATTR", "ATTRS") and (token.attr or "").upper() in IDENTITY_ATTRS


def _usable_item(value: str) -> bool:
    return bool(value) and "\n" not in value and "{" not in value and "}" not in value


def _chunks(lines: Sequence[str], rules: Sequence[Rule], size: int) -> list[str]:
    count = len(rules) // size
    texts = []
    for number in range(count):
        start = rules[number * size].line - 1
        stop = rules[(number + 1) * size].line - 1 if number + 1 < count else rules[-1].end_line
        texts.append("".join(lines[start:stop]))
    return texts


def _fold_by(chunks: list[str], rules: Sequence[Rule], size: int) -> Piece | None:
    first = rules[:size]
    for rule_index, rule in enumerate(first):
        for token_index, token in enumerate(rule.tokens):
            if not _names_one_disk(token):
                continue
            values = []
            for number in range(len(chunks)):
                other = rules[number * size + rule_index]
                if token_index >= len(other.tokens):
                    break
                theirs = other.tokens[token_index]
                if (theirs.key, theirs.attr, theirs.op) != (token.key, token.attr, token.op):
                    break
                values.append(theirs.value)
            if len(values) != len(chunks) or len(set(values)) != len(values):
                continue
            if not all(_usable_item(value) for value in values) or ITEM in chunks[0]:
                continue
            template = chunks[0].replace(values[0], ITEM)
            if "{{" in template.replace(ITEM, ""):
                continue
            if all(substitute(template, value) == chunk for value, chunk in zip(values, chunks)):
                return Piece(template, tuple(values))
    return None


def _shape(rule: Rule) -> tuple[tuple[str, str | None, str], ...]:
    return tuple((token.key, token.attr, token.op) for token in rule.tokens)


def _repeats(shapes: Sequence[tuple[tuple[str, str | None, str], ...]], size: int) -> bool:
    """Whether the rules' keys repeat with period `size` (a fold needs it; cheap to ask)."""
    return all(shapes[index] == shapes[index % size] for index in range(size, len(shapes)))


def fold(lines: Sequence[str], rules: Sequence[Rule]) -> Piece:
    """The text of `rules` (a run of a file's rules; `lines` the file's physical lines),
    as one template and its items when the run is one group of rules repeated per disk,
    else as it stands."""
    start, stop = rules[0].line - 1, rules[-1].end_line
    whole = Piece("".join(lines[start:stop]))
    shapes = [_shape(rule) for rule in rules]
    for size in range(1, min(len(rules) // 2, MAX_GROUP) + 1):
        if len(rules) % size or not _repeats(shapes, size):
            continue
        chunks = _chunks(lines, rules, size)
        piece = _fold_by(chunks, rules, size)
        if piece is not None:
            return piece
    return whole
