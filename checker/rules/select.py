"""Which logical lines of a rules file could hold a given rule, told from the raw text.

A `lines` or `absent` entry asks whether a few rules stand in a vendor file that may
hold 20,000. Interpreting every line costs ten times what splitting the file into
lines costs, so only the lines that pass a cheap text test are interpreted.

The test must never drop a line that holds a wanted rule. It uses the values of match
tokens (`==`, `!=`) of keys whose value udev keeps exactly as written (no substitution,
no rewriting): a line with the same canonical form has a token with that very value, and
in plain quotes the value stands in the text as it is (a value holding `"` is not used:
it is written `\\"`). A token in C-escaped quotes (`e"..."`) can spell any value, so a
line holding one is always interpreted. A rule without such a value gives no test, and
then every line is interpreted. `tests/rules/test_rules_select.py` checks both halves:
that these keys keep their values, and that the selection finds what a full parse finds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Callable

from checker.rules.canonical import interpret
from checker.rules.model import Rule

# Match keys whose value udev keeps as written (only `=="?*"` is folded, to `!=""`).
# Not TEST, PROGRAM or IMPORT: their values go through substitution normalising.
VERBATIM_MATCH_KEYS = frozenset({
    "ACTION", "DEVPATH", "KERNEL", "SYMLINK", "NAME", "ENV", "CONST", "TAG", "SUBSYSTEM",
    "DRIVER", "ATTR", "SYSCTL", "KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS", "TAGS", "RESULT",
})

# Values that other spellings become: SUBSYSTEM=="bus" and =="class" are read as
# =="subsystem", so a line matching "subsystem" need not hold the word.
_SPELLED_OTHERWISE = frozenset({("SUBSYSTEM", "subsystem")})

# An operator followed by a C-escaped value: its value cannot be read from the text. Every
# operator (==, !=, +=, -=, :=, =) ends in "=": this finds the same lines as spelling them.
_ESCAPED_VALUE = re.compile(r'=[ \t\n\r]*e"')


def probes(rule: Rule) -> tuple[str, ...]:
    """Texts that any logical line holding this rule contains (unless it has e"...")."""
    found: list[str] = []
    for token in rule.tokens:
        if token.op not in ("==", "!=") or token.key not in VERBATIM_MATCH_KEYS:
            continue
        value = token.value
        if not value or '"' in value or (token.key, value) in _SPELLED_OTHERWISE:
            continue
        meaning = interpret(token.key, token.attr, token.op, value)
        if meaning.error is None and meaning.value == value and meaning.op == token.op:
            found.append(value)
    return tuple(dict.fromkeys(found))


def could_hold(wanted: Sequence[Rule]) -> Callable[[str], bool] | None:
    """A test that every logical line holding one of `wanted` passes (it may pass others
    too), or None when some wanted rule gives no test."""
    table: list[tuple[str, ...]] = []
    for rule in wanted:
        texts = probes(rule)
        if not texts:
            return None
        table.append(texts)
    table = list(dict.fromkeys(table))

    def keep(line: str) -> bool:
        for texts in table:
            for text in texts:
                if text not in line:
                    break
            else:
                return True
        # the expression needs 'e"': most lines have none, and searching every position of
        # every line of a 20,000-rule file for an operator was most of the selection
        return 'e"' in line and _ESCAPED_VALUE.search(line) is not None

    return keep
