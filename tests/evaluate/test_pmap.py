"""The shared-structure mapping behind the evaluator's states does what a dict does, and
tells two mappings made from one apart by what was changed since."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.evaluate.pmap import PMap

keys = st.integers(0, 400).map(lambda i: f"K{i}")
changes = st.lists(st.tuples(keys, st.one_of(st.none(), st.integers(0, 3))), max_size=120)


def apply(start: PMap[int], model: dict[str, int], steps: list[tuple[str, int | None]]) -> PMap[int]:
    made = start
    for key, value in steps:
        if value is None:
            made = made.delete(key)
            model.pop(key, None)
        else:
            made = made.set(key, value)
            model[key] = value
    return made


@settings(max_examples=300, deadline=None)
@given(changes)
def test_it_holds_what_a_dict_holds(steps: list[tuple[str, int | None]]) -> None:
    model: dict[str, int] = {}
    made = apply(PMap(), model, steps)
    assert dict(made.items()) == model and len(made) == len(model)
    assert all(made[k] == v and k in made for k, v in model.items())
    assert made == PMap(model) and made.get("absent", "d") == "d"


@settings(max_examples=300, deadline=None)
@given(changes, changes, changes)
def test_two_worlds_differ_only_in_what_each_changed(base: list[tuple[str, int | None]],
                                                    left: list[tuple[str, int | None]],
                                                    right: list[tuple[str, int | None]]) -> None:
    start_model: dict[str, int] = {}
    start = apply(PMap(), start_model, base)
    mine, theirs = dict(start_model), dict(start_model)
    a, b = apply(start, mine, left), apply(start, theirs, right)
    differing = set(a.differing(b))
    really = {k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)}
    touched = {k for k, _ in left} | {k for k, _ in right}
    assert really <= differing <= touched
    assert (a == b) == (mine == theirs)
    assert start.differing(start) == []


def test_a_change_leaves_the_mapping_it_was_made_from_as_it_was() -> None:
    start = PMap({f"K{i}": i for i in range(1000)})
    changed = start.set("K5", -1).delete("K7").set("new", 1)
    assert start["K5"] == 5 and "K7" in start and "new" not in start and len(start) == 1000
    assert changed["K5"] == -1 and "K7" not in changed and len(changed) == 1000
    assert sorted(start.differing(changed)) == ["K5", "K7", "new"]
    assert start.set("K5", 5) is not None and start.set("K1", start["K1"]) is start
