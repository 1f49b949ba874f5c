"""Which keys, attributes, operators and values udev 252 accepts, and what it says otherwise.

The tables live in rules_cases.py and were checked against the real udev 252
(test_against_real_udev.py does that again wherever it can run).
"""

from __future__ import annotations

import pytest
from rules_cases import ACCEPTED, DROPPED, WARNED

from checker.rules.parsed import parse_rules


@pytest.mark.parametrize("text", ACCEPTED)
def test_udev_keeps_this_rule(text: str) -> None:
    for rule in parse_rules(text).rules:
        assert rule.problem is None, rule.text
        assert not any("takes no effect" in w for w in rule.warnings)


@pytest.mark.parametrize(("text", "warning"), WARNED)
def test_udev_keeps_this_rule_with_a_warning(text: str, warning: str) -> None:
    rule = parse_rules(text).rules[0]
    assert rule.problem is None
    assert any(warning in w for w in rule.warnings), rule.warnings


@pytest.mark.parametrize(("text", "problem"), DROPPED)
def test_udev_drops_this_rule(text: str, problem: str) -> None:
    rule = parse_rules(text).rules[0]
    assert rule.problem is not None
    assert problem in rule.problem
    assert rule.dropped


def test_the_brief_examples_read_exactly_like_this() -> None:
    problems = [
        parse_rules(line).rules[0].problem
        for line in (
            "KERNEL=='sdb', SYMLINK+=\"x\"",
            'KERNEL=="sdb", SYMLINK+="x" # note',
            'KERNEL=="sdb", FOO="x"',
            'KERNEL=="sdb", ATTR=="x", RUN+="x"',
            'KERNEL=="sdb", SYMLINK-="x"',
            'KERNEL=="sdb", OPTIONS="link_priority=10,watch"',
            'GOTO="x"',
        )
    ]
    assert problems == [
        "invalid key/value pair (single quotes are not allowed)",
        "trailing text after the last key: '# note' (a '#' is a comment only at the start of a line)",
        "unknown key 'FOO'",
        "ATTR requires an attribute: ATTR{...}",
        "SYMLINK does not take '-='",
        "invalid OPTIONS value 'link_priority=10,watch' (one option per OPTIONS key)",
        'GOTO="x" has no LABEL="x" later in this file, and the rule does nothing else: udev drops it',
    ]


def test_every_key_of_udev_252_is_known() -> None:
    keys = [
        "ACTION",
        "DEVPATH",
        "KERNEL",
        "KERNELS",
        "NAME",
        "SYMLINK",
        "SUBSYSTEM",
        "SUBSYSTEMS",
        "DRIVER",
        "DRIVERS",
        "ATTR",
        "ATTRS",
        "SYSCTL",
        "ENV",
        "CONST",
        "TAG",
        "TAGS",
        "TEST",
        "PROGRAM",
        "RESULT",
        "OWNER",
        "GROUP",
        "MODE",
        "SECLABEL",
        "RUN",
        "LABEL",
        "GOTO",
        "IMPORT",
        "OPTIONS",
    ]
    for key in keys:
        problem = parse_rules(f'{key}{{a}}="x"').rules[0].problem or ""
        assert "unknown key" not in problem, key


def test_keys_are_case_sensitive() -> None:
    assert parse_rules('Kernel=="sda", RUN+="x"').rules[0].problem == "unknown key 'Kernel'"


def test_a_plain_value_knows_only_the_escaped_quote() -> None:
    rule = parse_rules('KERNEL=="sda", RUN+="a\\"b\\n\\\\c"').rules[0]
    assert rule.tokens[1].value == 'a"b\\n\\\\c'


def test_an_e_value_is_c_escaped() -> None:
    rule = parse_rules('KERNEL=="sda", RUN+=e"esc\\x41", ENV{A}=e"\\t\\"\\101\\s"').rules[0]
    assert [t.value for t in rule.tokens[1:]] == ["escA", '\t"A ']


def test_e_value_escapes_give_bytes_so_they_equal_the_characters_a_file_would_hold() -> None:
    rule = parse_rules('KERNEL=="sda", ENV{A}=e"caf\\xc3\\xa9", ENV{B}=e"\\xff"').rules[0]
    assert rule.tokens[1].value == "café"
    assert rule.tokens[2].value == "\udcff"  # a raw byte, as surrogateescape decodes it


def test_a_u_escape_is_encoded_as_utf8() -> None:
    rule = parse_rules('KERNEL=="sda", ENV{A}=e"\\u00e9\\U0001F600"').rules[0]
    assert rule.tokens[1].value == "é😀"


def test_attributes_may_hold_anything_but_a_closing_brace() -> None:
    rule = parse_rules('KERNEL=="sda", ENV{a "b" = c}="x"').rules[0]
    assert rule.tokens[1].attr == 'a "b" = c'
    assert rule.problem is None


def test_spaces_around_operators_are_allowed() -> None:
    rule = parse_rules('KERNEL  ==  "sda" ,ATTR{size}   !=   "0", RUN  +=  "x"').rules[0]
    assert [(t.key, t.attr, t.op, t.value) for t in rule.tokens] == [
        ("KERNEL", None, "==", "sda"),
        ("ATTR", "size", "!=", "0"),
        ("RUN", None, "+=", "x"),
    ]
    assert rule.problem is None


def test_tokens_parsed_before_the_error_are_kept_for_a_dropped_rule() -> None:
    rule = parse_rules('KERNEL=="sda", ENV{A}="1", FOO="x", RUN+="y"').rules[0]
    assert [t.key for t in rule.tokens] == ["KERNEL", "ENV", "FOO"]
    rule = parse_rules('KERNEL=="sda", ENV{A}=\'1\', RUN+="y"').rules[0]
    assert [t.key for t in rule.tokens] == ["KERNEL"]


def test_the_ops_udev_reads_as_others_are_kept_as_written_in_the_tokens() -> None:
    rule = parse_rules('PROGRAM="x", OPTIONS+="watch"').rules[0]
    assert [t.op for t in rule.tokens] == ["=", "+="]


def test_a_line_with_only_matches_takes_no_effect_but_is_no_problem() -> None:
    rule = parse_rules('KERNEL=="sda", ENV{ID_BUS}=="ata"').rules[0]
    assert rule.problem is None
    assert rule.warnings == ("the line takes no effect (it only matches): udev ignores it",)


@pytest.mark.parametrize(
    "text",
    [
        'KERNEL=="a", PROGRAM=="x"',
        'KERNEL=="a", IMPORT{db}="X"',
        'LABEL="x"',
        'TEST=="/x", GOTO="y"\nLABEL="y"',
    ],
)
def test_program_import_label_and_goto_give_a_line_an_effect(text: str) -> None:
    assert parse_rules(text).rules[0].warnings == ()
