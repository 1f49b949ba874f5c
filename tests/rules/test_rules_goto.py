"""GOTO jumps forward, within one file, to the LABEL of a rule that udev kept. A GOTO that
finds none is ignored, not its rule: the rest still applies (tests/rules/test_goto_real_udev.py
shows it with the real udevd)."""

from __future__ import annotations

from checker.rules.parsed import parse_rules


def problems(text: str) -> list:
    return [r.problem for r in parse_rules(text).rules]


def lost(goto: str) -> str:
    return f'GOTO="{goto}" has no LABEL="{goto}" later in this file'


def dropped(goto: str) -> str:
    return f"{lost(goto)}, and the rule does nothing else: udev drops it"


def test_a_goto_finds_a_later_label() -> None:
    assert problems('KERNEL!="sd*", GOTO="end"\nKERNEL=="sda", RUN+="x"\nLABEL="end"') == [
        None, None, None,
    ]  # fmt: skip


def test_a_goto_never_jumps_back() -> None:
    assert problems('LABEL="top"\nKERNEL=="x", GOTO="top"')[1] == dropped("top")


def test_a_label_on_the_same_line_does_not_count() -> None:
    assert problems('GOTO="here", LABEL="here"')[0] == (
        f"{lost('here')}, and the rule does nothing else: udev keeps only its LABEL")


def test_a_label_on_a_dropped_rule_does_not_count() -> None:
    result = problems('GOTO="end"\nFOO="x", LABEL="end"')
    assert result[0] == dropped("end")
    assert result[1] == "unknown key 'FOO'"


def test_a_lost_goto_is_ignored_and_the_rest_of_its_rule_kept() -> None:
    rule = parse_rules('KERNEL=="x", RUN+="/usr/local/bin/wipe-disk %k", GOTO="end"').rules[0]
    assert rule.problem is None
    assert rule.warnings == (f"{lost('end')}: udev ignores the GOTO, not the rest of the rule",)
    # the canonical form says which rule is written: the GOTO stays in it
    assert rule.canonical == 'KERNEL=="x", RUN+="/usr/local/bin/wipe-disk %k", GOTO="end"'


def test_a_label_on_a_rule_with_only_a_warning_counts() -> None:
    assert problems('GOTO="end"\nOPTIONS="last_rule", TAG+="", LABEL="end"') == [None, None]


def test_the_last_label_of_a_line_is_its_label() -> None:
    result = problems('GOTO="a"\nLABEL="a", LABEL="b"\nGOTO="b"\nLABEL="b"')
    assert result[0] == dropped("a")
    assert result[2] is None


def test_the_first_goto_of_a_line_wins() -> None:
    rule = parse_rules('KERNEL=="x", GOTO="a", GOTO="b"\nLABEL="a"').rules[0]
    assert rule.problem is None
    assert rule.warnings == ('contains multiple GOTO keys, ignoring GOTO="b"',)


def test_a_rule_whose_goto_is_lost_still_carries_its_label() -> None:
    # udev drops the GOTO but keeps the line, and so its LABEL
    result = problems('GOTO="end"\nGOTO="missing", LABEL="end"')
    assert result == [None, f"{lost('missing')}, and the rule does nothing else: udev keeps only its LABEL"]


def test_labels_do_not_reach_across_parses() -> None:
    # each parse is one file: a label in another text does not resolve a GOTO
    assert problems('GOTO="end"')[0] is not None
    assert problems('LABEL="end"')[0] is None


def test_an_empty_label_is_a_label() -> None:
    assert problems('KERNEL=="x", GOTO=""\nLABEL=""') == [None, None]
