"""The text a policy holds for an adopted rule, when the host's udev is not the one the
policy loader reads with.

A policy's rules are read by udev 252's reader (the loader), and `validate --udev 219`
refuses a rule that udev 219 reads otherwise: so what adopt writes for a rule must be
read alike by both, and be the rule the host's udev acts on. On a udev 252 host the
file's own lines are that. On a udev 219 host they often are too; where they are not,
the rule goes in as 219 reads it:

- a trailing `# comment`, an e"..." value, a `\\"`: 219 reads the keys before it and
  ignores the rest, so the policy holds that part (`read_part_219`);
- several options in one OPTIONS value, `NAMEX=`, `LABEL==`: 219 reads them as the rule's
  canonical form says (one option per key, NAME, LABEL=), which 252 reads alike;
- a rule of which 219 keeps only matches (it does nothing) or that no text both read
  alike can say: not adopted, with a note.

The file itself is left as it is: on a 219 host the first repair rewrites only these
rules, to the text the policy holds (which 219 reads as the same rule).
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.records import dataclass, field
from checker.rules.model import Rule
from checker.rules.parsed import parse_rules
from checker.rules.parser219 import read_part_219
from checker.rules.semantics import UDEV_252, UdevSemantics


@dataclass
class PolicyLines:
    """A file's physical lines as a policy may hold them: the rewritten rules' first line
    replaced, their other lines emptied (so line numbers still index them)."""

    lines: list[str]
    refused: dict[int, str] = field(default_factory=dict)  # a rule's first line -> why not adoptable
    rewritten: dict[int, str] = field(default_factory=dict)  # a rule's first line -> what was left out


def _read_alike(text: str, rule: Rule, semantics: UdevSemantics) -> bool:
    """Whether the policy loader (252) and the host's udev both read `text` as exactly
    `rule`, with nothing ignored."""
    for reader in dict.fromkeys((UDEV_252, semantics)):
        read = parse_rules(text, reader).rules
        if len(read) != 1 or read[0].problem is not None or read[0].canonical != rule.canonical:
            return False
        if reader.is_219 and read[0].warnings:
            return False
    return True


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):] or "\n"


def policy_lines(lines: Sequence[str], rules: Sequence[Rule], semantics: UdevSemantics) -> PolicyLines:
    """`lines` with each rule of `rules` (read with `semantics`) in a form a policy holds
    and both udevs read alike; rules with no such form are in `refused`."""
    out = PolicyLines(list(lines))
    if not semantics.is_219:
        return out  # the loader's reader is the host's: the lines are what udev reads
    for rule in rules:
        if rule.problem is not None:
            continue  # dropped by the host's udev: adopt says so and leaves it
        start, stop = rule.line - 1, rule.end_line
        text = "".join(lines[start:stop])
        if _read_alike(text, rule, semantics):
            continue
        part = read_part_219(rule.text).rstrip(" \t,")
        if all(token.is_match for token in rule.tokens):
            out.refused[rule.line] = (f"udev 219 reads only {part!r} of it (the rest is a parse error): "
                                      "matches alone, which do nothing")
            continue
        for candidate in (part, rule.canonical):
            if candidate and _read_alike(candidate + "\n", rule, semantics):
                out.lines[start] = candidate + _ending(lines[stop - 1])
                for index in range(start + 1, stop):
                    out.lines[index] = ""
                left = rule.text[len(read_part_219(rule.text)):].strip()
                out.rewritten[rule.line] = (f"udev 219 ignores {left!r} at its end" if left
                                            else f"udev 219 reads it as {rule.canonical!r}")
                break
        else:
            out.refused[rule.line] = _why_refused(rule)
    return out


def _why_refused(rule: Rule) -> str:
    read = parse_rules(rule.canonical + "\n", UDEV_252).rules
    if read and read[0].problem is not None:
        return (f"udev 219 reads it as {rule.canonical!r}, which udev 252 (the policy's reader) "
                f"drops: {read[0].problem}")
    return f"udev 219 reads it as {rule.canonical!r}, which udev 252 (the policy's reader) reads otherwise"
