"""The cheap text tests in front of regular expressions find exactly what the expressions
found before: for any text, not only for the lines a file usually holds."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.edits import markers
from checker.rules import select

# the expression select.py spelled with every operator before
OPERATOR_THEN_E_QUOTE = re.compile(r'(?:==|!=|\+=|-=|:=|=)[ \t\n\r]*e"')
TEXTS = st.text(alphabet='=!+-:e" \t\n\rE#aBGINDudev-rift', max_size=40)


@settings(max_examples=600)
@given(TEXTS)
def test_an_escaped_value_is_found_as_with_each_operator_spelled(text: str) -> None:
    assert (select._ESCAPED_VALUE.search(text) is None) == (OPERATOR_THEN_E_QUOTE.search(text) is None)
    keep = select.could_hold([])  # no wanted rule: nothing but the escape test decides
    assert keep is None or keep(text) == (OPERATOR_THEN_E_QUOTE.search(text) is not None)


@settings(max_examples=600)
@given(st.one_of(TEXTS, st.sampled_from(["# BEGIN udev-drift p", "  #end UDEV-DRIFT q  ", "BEGIN udev-drift p"])))
def test_a_marker_is_found_as_by_the_expression_alone(text: str) -> None:
    match = markers._MARKER.match(text)
    expected = None if match is None else (match.group(1).upper(), match.group(2))
    assert markers.parse_marker(text) == expected
