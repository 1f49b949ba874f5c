"""What a parse holds per rule: a 50,000-rule host keeps every rule and token for the
whole run, so each costs as little as the model allows. Tokens and rules have no dict
each (slots), the parser's fast path builds exactly what the constructors build, and
the keys and operators of all tokens are one string each, not a copy per token."""

from __future__ import annotations

import pickle

from checker.records import replace
from checker.rules import parser
from checker.rules.model import Rule, Token

TEXT = ('KERNEL=="vd1", SUBSYSTEM=="block", SYMLINK+="vendor/disk1"\n'
        'KERNEL=="vd2", SUBSYSTEM=="block", SYMLINK+="vendor/disk2"\n')


def test_rules_and_tokens_have_no_dict_and_the_fast_path_is_used() -> None:
    assert parser._FAST
    rule = parser.parse_rules(TEXT).rules[0]
    assert not hasattr(rule, "__dict__")
    assert not hasattr(rule.tokens[0], "__dict__")
    built = Rule(rule.line, rule.end_line, rule.text,
                 tuple(Token(t.key, t.attr, t.op, t.value, t.column) for t in rule.tokens),
                 rule.problem, rule.canonical, rule.warnings)
    assert rule == built and hash(rule) == hash(built)
    assert pickle.loads(pickle.dumps(rule)) == rule
    assert replace(rule, line=7).line == 7 and replace(rule, line=7).tokens == rule.tokens


def test_keys_and_operators_are_shared_between_tokens() -> None:
    first, second = parser.parse_rules(TEXT).rules
    for a, b in zip(first.tokens, second.tokens, strict=True):
        assert a.key is b.key
        assert a.op is b.op
