"""How udev cuts a file into rules: line endings, comments, continuations, limits."""

from __future__ import annotations

import pytest
from rules_cases import FILE_CASES, only_rule

from checker.rules.parsed import parse_rules


def test_every_line_ending_udev_knows_ends_a_line() -> None:
    # udev's read_line(): \n, \r, \0, and \r\n or \n\r (each optionally followed by \0) are
    # one line ending; a repeated character starts a new line.
    text = (
        'A1="x"\n\rA2="x"\r\nA3="x"\n\x00A4="x"\x00\nA5="x"\r\rA6="x"\n\nA7="x"\r\n\x00A8="x"\x00\x00A9="x"'
    )
    rules = parse_rules(text).rules
    assert [(r.line, r.tokens[0].key) for r in rules] == [
        (1, "A1"), (2, "A2"), (3, "A3"), (4, "A4"), (6, "A5"),
        (8, "A6"), (10, "A7"), (11, "A8"), (13, "A9"),
    ]  # fmt: skip


def test_a_crlf_file_reads_like_an_lf_file() -> None:
    lf = 'KERNEL=="sda", \\\n  SYMLINK+="a"\n# c\nKERNEL=="sdb", SYMLINK+="b"\n'
    crlf = lf.replace("\n", "\r\n")
    assert parse_rules(crlf).rules == parse_rules(lf).rules
    assert parse_rules(crlf).lines == parse_rules(lf).lines


def test_lines_holds_the_physical_lines_without_their_endings() -> None:
    result = parse_rules('# a\r\nKERNEL=="x", RUN+="y"\r\n\r\n')
    assert result.lines == ("# a", 'KERNEL=="x", RUN+="y"', "")


def test_the_last_line_needs_no_line_ending() -> None:
    assert only_rule('KERNEL=="x", RUN+="y"').problem is None


def test_empty_text_has_no_rules() -> None:
    assert parse_rules("").rules == ()
    assert parse_rules("").lines == ()


def test_a_line_whose_first_non_blank_character_is_a_hash_is_a_comment() -> None:
    assert parse_rules('# KERNEL=="x", RUN+="y"\n   \t# indented\n').rules == ()


def test_blank_lines_are_not_rules() -> None:
    assert parse_rules("\n   \n\t\n").rules == ()


def test_a_lone_comma_is_a_rule_that_does_nothing() -> None:
    rule = only_rule(",")
    assert rule.problem is None
    assert rule.tokens == ()
    assert "takes no effect" in rule.warnings[0]


def test_leading_whitespace_is_not_part_of_the_rule_text() -> None:
    rule = only_rule('   KERNEL=="x", RUN+="y"')
    assert rule.text == 'KERNEL=="x", RUN+="y"'
    assert rule.tokens[0].column == 1


def test_a_continuation_joins_the_next_line_without_its_leading_whitespace() -> None:
    rule = only_rule('KERNEL=="sda", \\\n      SYMLINK+="disk0"')
    assert rule.text == 'KERNEL=="sda", SYMLINK+="disk0"'
    assert (rule.line, rule.end_line) == (1, 2)
    assert rule.problem is None


def test_a_continuation_may_split_a_value() -> None:
    rule = only_rule('KERNEL=="sda", SYMLINK+="a \\\n   b"')
    assert rule.tokens[1].value == "a b"


def test_a_continuation_needs_no_separator_before_the_backslash() -> None:
    rule = only_rule('KERNEL=="sda"\\\nSYMLINK+="x"')
    assert rule.text == 'KERNEL=="sda"SYMLINK+="x"'
    assert rule.problem is None


def test_a_comment_inside_a_continuation_is_skipped_and_the_continuation_goes_on() -> None:
    rule = only_rule('KERNEL=="sda", \\\n# a comment \\\n  # another\n  SYMLINK+="x"')
    assert rule.text == 'KERNEL=="sda", SYMLINK+="x"'
    assert (rule.line, rule.end_line) == (1, 4)


def test_an_empty_line_ends_a_continuation() -> None:
    rules = parse_rules('KERNEL=="sda", \\\n\nSYMLINK+="x"').rules
    assert [(r.line, r.end_line, r.text) for r in rules] == [
        (1, 2, 'KERNEL=="sda", '),
        (3, 3, 'SYMLINK+="x"'),
    ]


def test_a_double_backslash_at_the_end_continues_twice_as_udev_does() -> None:
    # udev removes the last backslash, then checks the joined text again when the next
    # (empty) line is added: the second backslash continues too.
    rule = only_rule('KERNEL=="x", RUN+="a\\\\\n\nQ="3"')
    assert (rule.line, rule.end_line) == (1, 3)
    assert rule.text == 'KERNEL=="x", RUN+="aQ="3"'
    assert rule.problem is not None


def test_a_backslash_followed_by_a_space_does_not_continue() -> None:
    rules = parse_rules('KERNEL=="x", RUN+="a" \\ \nKERNEL=="y", RUN+="b"').rules
    assert len(rules) == 2
    assert "does not continue the line" in (rules[0].problem or "")
    assert rules[1].problem is None


def test_a_file_ending_inside_a_continuation_loses_the_rule() -> None:
    for text in ('KERNEL=="x", RUN+="a" \\', 'KERNEL=="x", \\\nRUN+="a" \\\n'):
        rule = only_rule(text)
        assert "ends inside a continuation" in (rule.problem or "")
        assert rule.tokens[0].key == "KERNEL"  # what it would have been is still there


def test_rule_line_numbers_count_physical_lines_with_crlf_and_continuations() -> None:
    text = (
        "# header\r\n"
        "\r\n"
        'KERNEL=="a", \\\r\n'
        '   SYMLINK+="a"\r\n'
        'KERNEL=="b", \\\r\n'
        "# skipped\r\n"
        '   SYMLINK+="b", \\\r\n'
        '   RUN+="b"\r\n'
        'KERNEL=="c", SYMLINK+="c"\r\n'
    )
    spans = [(r.line, r.end_line) for r in parse_rules(text).rules]
    assert spans == [(3, 4), (5, 8), (9, 9)]


def test_a_token_column_counts_from_the_start_of_the_logical_line() -> None:
    rule = only_rule('KERNEL=="a",  SYMLINK+="b"')
    assert [t.column for t in rule.tokens] == [1, 15]


def _line_of_bytes(size: int) -> str:
    return 'FOO="' + "a" * (size - 6) + '"'


def test_a_line_of_16383_bytes_is_read() -> None:
    rule = only_rule(_line_of_bytes(16383))
    assert rule.problem == "unknown key 'FOO'"  # read, and judged on its content


def test_a_line_of_16384_bytes_makes_udev_stop_reading_the_file() -> None:
    text = 'KERNEL=="a", RUN+="b"\n' + _line_of_bytes(16384) + '\nKERNEL=="c", RUN+="d"\n'
    first, long, after = parse_rules(text).rules
    assert first.problem is None  # udev keeps what it read before
    assert "longer than udev's 16384 characters" in (long.problem or "")
    assert "never reads this rule" in (after.problem or "")


def test_the_line_limit_counts_bytes_not_characters() -> None:
    # 'é' is two bytes in UTF-8: 8192 of them with the key make more than 16383 bytes
    text = 'FOO="' + "é" * 8190 + '"\nKERNEL=="c", RUN+="d"'
    assert "never reads" in (parse_rules(text).rules[1].problem or "")


def test_a_long_comment_line_stops_udev_reading_too() -> None:
    text = "#" + "c" * 16383 + '\nKERNEL=="c", RUN+="d"'
    (rule,) = parse_rules(text).rules
    assert "stopped reading this file at line 1" in (rule.problem or "")


def test_a_goto_before_a_line_that_stops_the_reading_is_lost() -> None:
    text = 'GOTO="end"\n' + _line_of_bytes(20000) + '\nLABEL="end"'
    assert "never links its GOTOs" in (parse_rules(text).rules[0].problem or "")


def test_joined_continuations_of_16384_bytes_drop_only_that_rule() -> None:
    head = 'FOO="' + "a" * 8000 + "\\"
    joined = 'FOO="' + "a" * 8000
    tail = "a" * (16384 - len(joined) - 1) + '"'
    rules = parse_rules(head + "\n" + tail + '\nKERNEL=="c", RUN+="d"').rules
    assert "longer than udev's 16384 characters" in (rules[0].problem or "")
    assert (rules[0].line, rules[0].end_line) == (1, 2)
    assert rules[1].problem is None


def test_joined_continuations_of_16383_bytes_are_read() -> None:
    head = 'FOO="' + "a" * 8000 + "\\"
    joined = 'FOO="' + "a" * 8000
    tail = "a" * (16383 - len(joined) - 1) + '"'
    assert parse_rules(head + "\n" + tail).rules[0].problem == "unknown key 'FOO'"


@pytest.mark.parametrize("text", ["\r", "\x00", "\n\r\x00", "\\\n\\\n\\", '"\\\n"'])
def test_odd_line_structure_never_raises(text: str) -> None:
    parse_rules(text)


# Problems that udev never logs: it silently stops, or never reaches the line.
SILENT = ("udev never reads", "the file ends inside a continuation", 'GOTO="nowhere" is ignored')


@pytest.mark.parametrize("case", FILE_CASES, ids=[case[0] for case in FILE_CASES])
def test_whole_files_read_as_udev_reads_them(case: tuple) -> None:
    _, text, errors, no_effect, gives_up = case
    rules = parse_rules(text).rules
    logged = [
        r.end_line
        for r in rules
        if r.problem is not None
        and not r.problem.startswith(SILENT)
        and "stops reading this file there" not in r.problem
    ]
    assert logged == errors
    assert [r.end_line for r in rules if any("takes no effect" in w for w in r.warnings)] == no_effect
    assert any("stops reading this file there" in (r.problem or "") for r in rules) == gives_up


def test_a_problem_belongs_to_the_whole_span_and_udev_reports_it_at_the_last_line() -> None:
    rule = only_rule('KERNEL=="sda", \\\n  FOO="x", \\\n  RUN+="y"')
    assert (rule.line, rule.end_line) == (1, 3)  # udev logs "...:3 Invalid key 'FOO'"
    assert rule.problem == "unknown key 'FOO'"
