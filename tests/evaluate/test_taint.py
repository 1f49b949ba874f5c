"""Something unknown (IMPORT{program}, a builtin) may set any property: each property read
afterwards is unknown. After one such taint of every name, only the names set since can
change at the next one; the state keeps those apart (a chain of imports was quadratic).
Checked against the plain reading: every property joined with "unknown" at every taint."""

from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.evaluate.facts import block_device_facts
from checker.evaluate.state import State
from checker.evaluate.values import Unknown, Value, join_values

NAMES = ("A", "AB", "B", "C")
FACTS = block_device_facts("sdb", (8, 16), "disk")

operations = st.lists(st.one_of(
    st.tuples(st.just("set"), st.sampled_from(NAMES), st.sampled_from(["1", "2", ""])),
    st.tuples(st.just("taint"), st.sampled_from(["*", "A*", "B"]), st.just("")),
    st.tuples(st.just("fork"), st.sampled_from(NAMES), st.sampled_from(["3", "4"])),
), max_size=30)


def plain(ops: list[tuple[str, str, str]]) -> dict[str, Value]:
    props: dict[str, Value] = {}
    for op, a, b in ops:
        if op == "set":
            props[a] = b
        elif op == "taint":
            props = {n: join_values(v, Unknown("*", "t")) if fnmatchcase(n, a) else v for n, v in props.items()}
        else:  # one world sets it, the other does not: joined
            props[a] = join_values(props.get(a, FACTS.property(a)), b)
    return props


@settings(max_examples=500, deadline=None)
@given(ops=operations)
def test_properties_after_taints_read_as_if_every_one_was_joined_at_every_taint(
        ops: list[tuple[str, str, str]]) -> None:
    state = State()
    for op, a, b in ops:
        if op == "set":
            state.set_prop(a, b)
        elif op == "taint":
            state.taint_props(a, "t")
        else:
            other = state.copy()
            other.set_prop(a, b)
            state = state.join(other, FACTS)
    expected = plain(ops)
    for name in NAMES:
        got, want = state.props.get(name, None), expected.get(name, None)
        assert isinstance(got, Unknown) == isinstance(want, Unknown), (name, got, want, ops)
        if not isinstance(want, Unknown):
            assert got == want, (name, got, want, ops)
