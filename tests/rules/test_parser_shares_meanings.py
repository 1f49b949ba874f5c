"""The rule set compiles from the meanings the parser found (effective_meanings_of), not
from its tokens interpreted again: the two must be the same, line for line.

Every table of rules_cases.py (lines udev keeps, refuses, warns about), Debian's corpus
when it is there, and lines whose canonical form is not simply their tokens in udev's
order (a repeated GOTO or LABEL, an ignored OPTIONS value, a refused key)."""

from __future__ import annotations

from pathlib import Path

import rules_cases
from test_corpus import corpus_files, read

from checker.evaluate.ruleset import RuleSet
from checker.rules import parser
from checker.rules.canonical import canonical_from_meanings, effective_meanings, interpret
from checker.rules.model import Rule
from checker.rules.semantics import UDEV_219

CAREFUL = [
    'KERNEL=="a", GOTO="x", GOTO="y", SYMLINK+="l"\nLABEL="y"\nLABEL="x"',
    'LABEL="p", LABEL="q", KERNEL=="b", SYMLINK+="m"',
    'OPTIONS+="nonsense", KERNEL=="c", OPTIONS+="link_priority=5", SYMLINK+="n"',
    'NOSUCH=="x", SYMLINK+="o"',
    'KERNEL=="d"',  # takes no effect
    'SUBSYSTEM=="bus", KERNEL=="e", SYMLINK+="%k $kernel %% $$"',
    'KERNEL=="f", ENV{DEVNAME}="x"',  # refused
    'KERNEL=="g", RUN{builtin}="nosuch"',
    '#x=="1", SYMLINK+="p"',
    ",",
]


def _texts(corpus_dir: Path) -> list[str]:
    tables = [value for name, value in vars(rules_cases).items()
              if name.isupper() and isinstance(value, list) and value and isinstance(value[0], str)]
    texts = [text for table in tables for text in table] + CAREFUL
    return texts + [read(path) for path in corpus_files(corpus_dir)]


def _interpreted(rule: Rule) -> list[object]:
    return effective_meanings(interpret(t.key, t.attr, t.op, t.value) for t in rule.tokens)


def test_the_parser_keeps_the_meanings_interpreting_the_tokens_gives(corpus_dir: Path) -> None:
    seen = 0
    for text in _texts(corpus_dir):
        for rule in parser.parse_rules(text).rules:
            kept = parser.effective_meanings_of(rule)
            assert kept is not None, rule.text
            assert list(kept) == _interpreted(rule), rule.text  # the very Meaning objects
            assert rule.canonical == canonical_from_meanings(interpret(t.key, t.attr, t.op, t.value)
                                                             for t in rule.tokens), rule.text
            seen += 1
    assert seen > len(CAREFUL)


def test_a_rule_set_compiles_the_same_with_or_without_the_parsers_meanings(corpus_dir: Path) -> None:
    for text in _texts(corpus_dir):
        parsed = parser.parse_rules(text)
        shared = RuleSet.from_parsed([("f.rules", parsed)])
        parser._READ.clear()  # what a long run's bound does: the meanings are gone
        assert all(parser.effective_meanings_of(rule) is None for rule in parsed.rules)
        assert RuleSet.from_parsed([("f.rules", parsed)]) == shared, text[:200]


def test_rules_read_otherwise_are_interpreted_again() -> None:
    text = 'KERNEL=="sda", SYMLINK+="x"'
    parser.parse_rules(text)  # the 252 reading of the same text is at hand
    old = parser.parse_rules(text, UDEV_219).rules[0]
    assert parser.effective_meanings_of(old) is None  # not these tokens
