"""A `lines` repair puts a missing rule back where it belongs: after the rule before it in
the policy, else before the rule after it, and before the LABEL its GOTO jumps to, so that
the repaired file means what the policy means (appended at the end, a rule lands after
the vendor's GOTO targets and the file's meaning changes)."""

from __future__ import annotations

from checker.edits.ensure import ensure_lines
from checker.rules.parsed import parse_rules

VENDOR = (
    '# vendor\n'
    'KERNEL=="sd*", ENV{A}="1"\n'
    'KERNEL=="sd*", ENV{B}="2"\n'
    'KERNEL=="sd*", ENV{C}="3"\n'
)


def lines_edit(content: str, text: str) -> str:
    return ensure_lines(content, tuple(r for r in parse_rules(content).rules if not r.problem))(text)


def test_a_middle_rule_goes_back_between_its_neighbours() -> None:
    deleted = VENDOR.replace('KERNEL=="sd*", ENV{B}="2"\n', "")
    assert lines_edit(VENDOR, deleted) == VENDOR


def test_the_first_rule_goes_back_before_the_rule_after_it() -> None:
    deleted = VENDOR.replace('KERNEL=="sd*", ENV{A}="1"\n', "")
    assert lines_edit(VENDOR, deleted) == VENDOR


def test_a_rule_without_neighbours_in_the_file_is_appended() -> None:
    assert lines_edit('KERNEL=="sdx", ENV{X}="1"\n', VENDOR) == VENDOR + 'KERNEL=="sdx", ENV{X}="1"\n'


def test_a_rule_with_a_goto_goes_back_before_its_label() -> None:
    vendor = ('KERNEL!="sd*", ENV{SKIPPED}="1", GOTO="end"\n'
              'KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'
              'LABEL="end"\n'
              'KERNEL=="sdc", ENV{Y}="1"\n')
    deleted = vendor.replace('KERNEL!="sd*", ENV{SKIPPED}="1", GOTO="end"\n', "")
    assert lines_edit(vendor, deleted) == vendor
    # the policy names only the GOTO rule (its LABEL is the vendor's): it goes before the
    # LABEL, not at the end where udev would ignore its GOTO
    only = 'KERNEL!="sd*", ENV{SKIPPED}="1", GOTO="end"\n'
    repaired = lines_edit(only, deleted)
    assert repaired.index(only) < repaired.index('LABEL="end"')
    assert all(r.problem is None and not r.warnings for r in parse_rules(repaired).rules)


def test_a_deleted_label_comes_back_after_the_goto_that_needs_it() -> None:
    vendor = 'KERNEL!="sd*", GOTO="end"\nKERNEL=="sdb", ENV{Z}="1"\nLABEL="end"\n'
    deleted = vendor.replace('LABEL="end"\n', "")
    assert lines_edit(vendor, deleted) == vendor


def test_a_file_that_holds_every_rule_is_left_alone() -> None:
    assert lines_edit(VENDOR, VENDOR) == VENDOR
