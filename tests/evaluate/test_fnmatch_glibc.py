"""The glob matcher answers as glibc's fnmatch(pattern, text, 0) does, which udev calls:
glibc itself (through ctypes) is the oracle; Python's fnmatchcase where the two agree."""

from __future__ import annotations

import ctypes
import fnmatch as python_fnmatch

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from checker.evaluate.fnmatch_glibc import matches
from checker.evaluate.glob import fnmatch
from checker.evaluate.values import Tri, Unknown

_LIBC = ctypes.CDLL(None)
_LIBC.fnmatch.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
_LIBC.fnmatch.restype = ctypes.c_int


def glibc(pattern: str, text: str) -> bool:
    return bool(_LIBC.fnmatch(pattern.encode(), text.encode(), 0) == 0)


# Pieces of patterns: every character glibc reads specially, classes (a known one, an
# unknown one), a collating symbol, and a few ordinary characters.
ATOMS = ["a", "b", "z", "0", "-", "]", "[", "!", "^", "\\", "*", "?", ":", ".", "/",
         "[:alpha:]", "[:digit:]", "[:upper:]", "[:nope:]", "[.a.]", "[=a=]"]  # fmt: skip
patterns = st.lists(st.sampled_from(ATOMS), max_size=8).map("".join)
texts = st.text(alphabet="ab z0-]![^\\:./A", max_size=8)


@settings(max_examples=3000, deadline=None)
@given(patterns, texts)
@example("a\\", "a\\")  # a trailing backslash matches nothing
@example("[a-]", "-")
@example("[]a]", "]")
@example("[!]a]", "]")
@example("[ab", "[ab")  # not closed: '[' is a character
@example("*a*a*a*a*a*a*a*a*b*", "a" * 60)
def test_it_answers_as_glibc_does_wherever_it_answers(pattern: str, text: str) -> None:
    ours = matches(pattern, text)
    if ours is not None:
        assert ours == glibc(pattern, text), (pattern, text)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "-", "*", "?", "[", "]", "!", "z", "/", "."]), max_size=8).map("".join),
       st.text(alphabet="ab-z/.[]!", max_size=8))
def test_it_answers_as_python_fnmatchcase_where_glibc_and_python_agree(pattern: str, text: str) -> None:
    """Without backslashes, '^' and classes, which Python reads differently from glibc."""
    ours = matches(pattern, text)
    if ours is not None and python_fnmatch.fnmatchcase(text, pattern) == glibc(pattern, text):
        assert ours == python_fnmatch.fnmatchcase(text, pattern), (pattern, text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "*", "?", "[ab]", "[!a]", "[[:alpha:]]"]), min_size=1, max_size=6)
       .map("".join), st.text(alphabet="abé\udcff", max_size=6))
def test_against_non_ascii_text_only_stars_and_characters_answer(pattern: str, text: str) -> None:
    """'?' or a bracket is one character or one byte by udevd's locale: unknown."""
    ours = matches(pattern, text)
    if text.isascii() or not any(c in pattern for c in "?["):
        assert ours is not None
    else:
        assert ours is None


@pytest.mark.parametrize("pattern", ["sd[[=b=]]", "sd[[.b.]]", "sd[z-a]", "sd[[:nope:]]", "sdé*",
                                     "sd[[:alpha:]", "sd[!b", "sd[b\\"])
def test_what_glibc_may_read_otherwise_is_unknown(pattern: str) -> None:
    assert matches(pattern, "sdb") is None
    assert fnmatch(pattern, "sdb") is Tri.UNKNOWN
    assert Unknown(pattern).could_be("sdb")  # an unknown value keeps every possibility


def test_many_stars_against_a_long_text_answer_at_once() -> None:
    """One regex of `.*`s took 40 s here with eight stars and sixty a's."""
    assert matches("*a" * 1000 + "*b", "a" * 5000) is False
    assert Unknown("*a" * 1000 + "*b*").could_be("a" * 5000) is False
    assert matches("*a" * 1000 + "*b", "a" * 5000 + "b") is True
