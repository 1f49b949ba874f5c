"""The alignment alone, on many more random edits of the corpus than the command-line tests
run: exactly the added rules are additions, and no vendor rule is deleted or changed."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.adopt.additions import compare, runs
from checker.rules.parser import parse_rules
from tests.adopt.corpus_edits import edit
from tests.adopt.test_adopt_corpus import FILES, SKIP

TEXTS = [path.read_bytes().decode("utf-8", "surrogateescape") for path in FILES]


@pytest.mark.skipif(not FILES, reason=SKIP)
@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, max(len(FILES) - 1, 0)), seed=st.integers(0, 2**32), places=st.sampled_from([1, 2]))
def test_only_the_added_rules_are_additions(index: int, seed: int, places: int) -> None:
    edited = edit(TEXTS[index], seed, places=places, reformat=True)
    current = parse_rules(edited.text)
    changes = compare(parse_rules(edited.vendor), current)
    assert sorted(rule.canonical for rule in changes.added) == sorted(edited.added)
    assert (changes.deleted, changes.changed) == ((), ())
    assert len(runs(changes.added, current)) == len(edited.added_lines)


def _changed_throughout(count: int) -> tuple[str, str]:
    """A vendor file of `count` rules and a copy in which every rule was changed a little:
    one long stretch where each rule must be paired with the vendor rule it changes."""
    vendor = "".join(f'KERNEL=="sd{n}", ATTR{{queue/scheduler}}="none", SYMLINK+="disk/by-n/{n}"\n'
                     for n in range(count))
    current = "".join(f'KERNEL=="sd{n}", ATTR{{queue/scheduler}}="mq-deadline", SYMLINK+="disk/by-n/{n}"\n'
                      for n in range(count))
    return vendor, current


def _cpu_seconds(count: int) -> float:
    vendor, current = (parse_rules(text) for text in _changed_throughout(count))
    best = float("inf")
    for _ in range(3):  # the least of three: another process on the core only adds time
        start = time.process_time()
        changes = compare(vendor, current)
        best = min(best, time.process_time() - start)
    assert len(changes.changed) == count and not changes.added and not changes.deleted
    return best


def test_pairing_changed_rules_grows_about_linearly_with_the_file() -> None:
    # Linear growth makes 4x the rules cost 4x; the old pairing (a ratio for every pair of
    # changed and removed rules) made it 16x. 8x leaves room for a noisy, shared machine.
    small, large = _cpu_seconds(200), _cpu_seconds(800)
    assert large < 8 * max(small, 0.01), f"200 rules: {small:.3f}s, 800 rules: {large:.3f}s"
