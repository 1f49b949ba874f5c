"""Every rules file that Debian ships reads without a problem, and its canonical form holds.

The corpus comes from `scripts/fetch-rules-corpus` (udev, lvm2, mdadm, multipath-tools,
dmsetup, kpartx, modemmanager, usb-modeswitch-data). Without it the test is skipped, unless
UDEV_DRIFT_REQUIRE_CORPUS=1 (as in CI), where a missing corpus is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checker.rules.parsed import parse_rules

FETCH = "scripts/fetch-rules-corpus"


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        return []
    return sorted(corpus_dir.rglob("*.rules"))


@pytest.fixture
def files(corpus_dir: Path) -> list[Path]:
    found = corpus_files(corpus_dir)
    if not found:
        why = f"no rules corpus in {corpus_dir}; fetch it with: {FETCH} {corpus_dir}"
        if os.environ.get("UDEV_DRIFT_REQUIRE_CORPUS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return found


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


def test_the_corpus_is_big_enough_to_mean_something(files: list[Path]) -> None:
    rules = sum(len(parse_rules(read(path)).rules) for path in files)
    assert len(files) >= 50
    assert rules >= 1000


def test_no_rule_that_distributions_ship_has_a_problem(files: list[Path]) -> None:
    problems = [
        f"{path.name}:{rule.end_line}: {rule.problem}"
        for path in files
        for rule in parse_rules(read(path)).rules
        if rule.problem is not None
    ]
    assert problems == []


def test_every_canonical_form_in_the_corpus_reads_back_as_itself(files: list[Path]) -> None:
    for path in files:
        for rule in parse_rules(read(path)).rules:
            again = parse_rules(rule.canonical).rules
            assert [r.canonical for r in again] == [rule.canonical], f"{path.name}:{rule.line}"


def test_a_file_rewritten_in_canonical_lines_reads_back_the_same(files: list[Path]) -> None:
    for path in files:
        canonical = [rule.canonical for rule in parse_rules(read(path)).rules]
        rewritten = parse_rules("\n".join(canonical) + "\n")
        assert [rule.canonical for rule in rewritten.rules] == canonical, path.name
        assert all(rule.problem is None for rule in rewritten.rules), path.name


def test_a_deleted_rule_goes_back_where_it_stood(files: list[Path]) -> None:
    """A `lines` entry holding a whole vendor file; one rule deleted; the repair's edit puts
    it back so that udev reads the very rules of the original, in its order. The one
    ambiguity left: a LABEL that the file holds more than once, deleted where udev needed it
    (the entry still sees a LABEL of that name, so nothing is missing)."""
    from checker.edits.ensure import ensure_lines
    from checker.rules.textlines import split_keepends

    tried = exact = ambiguous = 0
    wrong: list[str] = []
    for path in files:
        text = read(path)
        kept = tuple(rule for rule in parse_rules(text).rules if not rule.problem)
        wanted = [rule.canonical for rule in kept]
        lines = split_keepends(text)
        for rule in kept:
            deleted = "".join(line for number, line in enumerate(lines)
                              if not rule.line - 1 <= number < rule.end_line)
            left = [r.canonical for r in parse_rules(deleted).rules if not r.problem]
            if set(wanted) <= set(left):
                continue  # a twin of the rule is still there: the entry sees no drift
            tried += 1
            repaired = [r.canonical for r in parse_rules(ensure_lines(text, kept)(deleted)).rules
                        if not r.problem]
            if repaired == wanted:
                exact += 1
            elif rule.canonical.startswith("LABEL=") and wanted.count(rule.canonical) > 1:
                ambiguous += 1
            else:
                wrong.append(f"{path.name}:{rule.line}")
    print(f"single-rule deletions: {tried}, restored exactly: {exact}, ambiguous LABELs: {ambiguous}")
    assert tried >= 1000
    assert not wrong
