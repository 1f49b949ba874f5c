"""The alignment alone, on many more random edits of the corpus than the command-line tests
run: exactly the added rules are additions, and no vendor rule is deleted or changed."""

from __future__ import annotations

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
