"""The evaluator's shortcuts give what the general path gives: a value known in full is
split into links as its pieces are, a new state is State(), and a line whose matches all
pass on the facts runs as _run_matches() would run it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.evaluate.engine import evaluate
from checker.evaluate.facts import block_device_facts
from checker.evaluate.ruleset import UDEV_PATH_SIZE, RuleSet, simplify_link, split_links
from checker.evaluate.state import State, new_state
from checker.evaluate.substitute import Piece, byte_length, replace_chars, to_text
from checker.evaluate.truncate219 import cut_word
from checker.evaluate.values import Unknown


def _reference_split(pieces: list[Piece], old: bool) -> tuple[list[str], list[str], bool]:
    """split_links() of known pieces as the general path splits them (each word's first
    piece loses its leading whitespace, the rest joined as they are)."""
    words: list[list[str]] = [[]]
    for piece in pieces:
        assert isinstance(piece, str)
        parts = piece.split(" ")
        words[-1].append(parts[0])
        for part in parts[1:]:
            words.append([part])
    names: list[str] = []
    endless = False
    for word in words:
        text = "".join(p.lstrip(" \t\n\r") if i == 0 else p for i, p in enumerate(word))
        if old:
            text = cut_word(text)
        if len("/dev/") + byte_length(text) >= UDEV_PATH_SIZE:
            endless = True
        elif text:
            names.append(simplify_link(text))
    return names, [], endless


_PIECE = st.lists(st.sampled_from(["a", "b", " ", "\t", "/", ".", "//", "x" * 700, "é"]), max_size=5).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECE, max_size=5), st.booleans(), st.booleans())
def test_known_pieces_split_as_the_general_path_splits_them(pieces: list[str], may_split: bool,
                                                            old: bool) -> None:
    assert split_links(list(pieces), may_split, old) == _reference_split(list(pieces), old)


def test_known_pieces_with_an_unknown_one_still_take_the_general_path() -> None:
    names, patterns, endless = split_links(["a b", Unknown("*", "x"), "c"], False)
    assert names == ["a"] and patterns == ["b*c"] and not endless


@given(st.text(max_size=12), st.sampled_from([None, "", "/", "/ "]))
def test_replace_chars_keeps_what_udev_allows_and_replaces_the_rest(text: str, allow: str | None) -> None:
    out = replace_chars(text, allow)
    assert len(out) <= len(text) + text.count("\\x")
    if all(c.isascii() and (c.isalnum() or c in "#+-.:=@_" or (allow and c in allow)) for c in text):
        assert out == text


def test_to_text_joins_known_pieces_and_makes_a_pattern_of_unknown_ones() -> None:
    assert to_text(["a", "", "b"]) == "ab"
    assert to_text([]) == ""
    assert to_text(["a", Unknown("x", "why"), "", Unknown("y", "not this")]) == Unknown("a*", "why")
    # text ending in a "*" before an unknown piece: "a*" and then anything, not "a*" alone
    made = to_text(["a*", Unknown("x*", "why")])
    assert isinstance(made, Unknown) and made.could_be("a*xyz") and not made.could_be("ab")


def test_a_new_state_is_a_fresh_state() -> None:
    made, fresh = new_state(), State()
    assert made.__dict__ == fresh.__dict__
    made.links.add("x")
    made.set_final("devlink")
    assert not new_state().links.members and new_state().final("devlink") is fresh.final("devlink")


def test_a_line_whose_matches_pass_on_the_facts_runs_in_its_one_world() -> None:
    rules = RuleSet.from_texts([("/etc/udev/rules.d/50-a.rules",
                                 'ACTION!="remove", KERNEL=="vd7", SYMLINK+="xapi/block/%k"\n'
                                 'KERNEL=="vd7", SYMLINK+="b/%k", GOTO="end"\n'
                                 'SYMLINK+="skipped"\n'
                                 'LABEL="end"\n')])
    evaluation = evaluate(rules, block_device_facts("vd7", None, None, "add"))
    assert evaluation.links.members == {"xapi/block/vd7": evaluation.link("xapi/block/vd7"), "b/vd7": evaluation.link("b/vd7")}
    assert [step.status for step in evaluation.steps][:3] == ["matched", "matched", "not-reached"]
