"""checker.records makes the classes `dataclasses` makes, as they behave, at a fraction of
the import cost: each behaviour compared with the standard library's on twin classes."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from typing import Any, ClassVar

import pytest

from checker import records


def _twins(frozen: bool) -> tuple[Any, Any]:
    made = []
    for module in (dataclasses, records):
        @module.dataclass(frozen=frozen)
        class Point:
            KIND: ClassVar[str] = "point"
            x: int
            y: str = "y"
            tags: tuple[int, ...] = module.field(default_factory=tuple)
            note: str | None = module.field(default=None, compare=False, repr=False)

            def size(self) -> int:
                return self.x * 2

        made.append(Point)
    return made[0], made[1]


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}), ((1, "b"), {}), ((1, "b", (3,), "n"), {}), ((), {"x": 4, "note": "n"}),
    ((1,), {"tags": (1, 2)}), ((), {"y": "q", "x": 0}),
]
BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}), ((1, "b", (), None, 5), {}), ((1,), {"x": 2}), ((1,), {"nope": 2}), ((), {"y": "q"}),
]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("frozen", [True, False])
def test_records_behave_as_dataclasses(frozen: bool, compiled: bool) -> None:
    std, ours = _twins(frozen)
    first = ours.__init__
    if compiled:  # a class made often gets a compiled __init__: it must behave the same
        for _ in range(records.COMPILE_AFTER):
            ours(1)
    assert (ours.__init__ is not first) == compiled
    for args, kwargs in CALLS:
        a, b = std(*args, **kwargs), ours(*args, **kwargs)
        assert vars(a) == vars(b)
        assert repr(a) == repr(b)
        assert (a == std(*args, **kwargs)) == (b == ours(*args, **kwargs)) is True
        assert b != ours(99) and b != a  # another value; another class, however alike
        assert dataclasses.replace(a, y="r").__dict__ == records.replace(b, y="r").__dict__
        assert dataclasses.asdict(a) == records.asdict(b)
        assert a.size() == b.size() and ours.KIND == "point" and "KIND" not in vars(b)
        if frozen:
            assert hash(b) == hash(records.replace(b, note="other")) and b == records.replace(b, note="o")
            with pytest.raises(AttributeError):
                b.x = 5
            with pytest.raises(AttributeError):
                del b.y
        else:
            with pytest.raises(TypeError):
                hash(b)
            b.x = 5
            assert b.x == 5
    for args, kwargs in BAD_CALLS:
        with pytest.raises(TypeError):
            std(*args, **kwargs)
        with pytest.raises(TypeError):
            ours(*args, **kwargs)
    assert [f.name for f in dataclasses.fields(std)] == [f.name for f in records.fields(ours)]
    # the standard library's functions take records too (code and tests written for them)
    assert dataclasses.is_dataclass(ours(1)) and dataclasses.is_dataclass(ours)
    assert [(f.name, f.type) for f in dataclasses.fields(ours)] == [(f.name, f.type) for f in dataclasses.fields(std)]
    assert dataclasses.asdict(ours(1, tags=(2,))) == dataclasses.asdict(std(1, tags=(2,)))
    assert dataclasses.replace(ours(1), y="z") == ours(1, "z")
    assert ours.__match_args__ == std.__match_args__
    assert records.is_record(ours(1)) and not records.is_record(std(1))

    @records.dataclass
    class Bag:
        items: list[int] = records.field(default_factory=list)

    assert Bag().items is not Bag().items  # a factory per instance


@records.dataclass(frozen=True)
class Base:
    a: int
    b: int = 2


@records.dataclass(frozen=True)
class Child(Base):
    c: str = "c"

    def __repr__(self) -> str:
        return "mine"


def test_records_inherit_fields_and_keep_what_a_class_defines() -> None:
    child = Child(1, 3, "z")
    assert (child.a, child.b, child.c) == (1, 3, "z")
    assert repr(child) == "mine" and repr(Base(1)) == "Base(a=1, b=2)"
    assert Child(1) == Child(1, 2, "c") and Child(1) != Base(1)
    assert {Child(1): 1}[Child(1)] == 1
    assert pickle.loads(pickle.dumps(child)) == child
    assert dataclasses.replace(child, b=5) == Child(1, 5, "z")
    assert [f.name for f in dataclasses.fields(child)] == ["a", "b", "c"]


def test_a_check_imports_no_dataclasses(tmp_path: Any) -> None:
    # `dataclasses` imports `inspect`, `ast`, `dis` and `tokenize`: a fifth of an
    # installed check's instructions, spent before it does anything.
    code = ("import sys\nimport checker.check.effects, checker.check.verdicts, checker.cli.dispatch\n"
            "import checker.engine, checker.policy.desired, checker.findings\n"
            "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("frozen", [True, False])
def test_records_with_slots_behave_as_dataclasses_with_slots(frozen: bool) -> None:
    made = []
    for module in (dataclasses, records):
        @module.dataclass(frozen=frozen, slots=True)
        class Line:
            where: str
            kind: int = 0
            label: str | None = None

        made.append(Line)
    std, ours = made
    assert ours.__slots__ == std.__slots__ == ("where", "kind", "label")
    for round in range(records.COMPILE_AFTER + 2):  # by the closure, then compiled
        for args, kwargs in [(("w",), {}), (("w", 2), {"label": "l"}), ((), {"where": "x", "kind": round})]:
            a, b = std(*args, **kwargs), ours(*args, **kwargs)
            assert not hasattr(b, "__dict__")
            assert repr(a) == repr(b) and (b == ours(*args, **kwargs)) and b != a
            assert records.replace(b, kind=9).kind == 9 and records.replace(b, kind=9).where == b.where
            assert dataclasses.replace(b, kind=9) == records.replace(b, kind=9)
            if frozen:
                assert hash(b) == hash(ours(*args, **kwargs))
                with pytest.raises(AttributeError):
                    b.kind = 3
            else:
                b.kind = 3
                assert b.kind == 3
        with pytest.raises(TypeError):
            ours()
    import copy

    assert copy.deepcopy(ours("w", 2)) == ours("w", 2) == copy.copy(ours("w", 2))


def test_named_tuples_are_typings_without_compiling_their_annotations(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import typing

    compiled: list[object] = []
    real_compile = builtins.compile

    def counting(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[0])
        return real_compile(*args, **kwargs)

    made = []
    for base in (typing.NamedTuple, records.NamedTuple):
        monkeypatch.setattr(builtins, "compile", counting)

        class Piece(base):  # type: ignore[misc, valid-type]
            """A piece."""

            kind: int
            raw: str
            fmt: str = ""
            arg: str | None = None

            @property
            def twice(self) -> str:
                return self.raw * 2

        monkeypatch.setattr(builtins, "compile", real_compile)
        made.append((Piece, len(compiled)))
        compiled.clear()
    (std, std_compiles), (ours, our_compiles) = made
    assert std_compiles > 0 and our_compiles == 0  # the ForwardRefs typing makes
    for args in [(1, "r"), (1, "r", "f"), (2, "s", "g", "a")]:
        a, b = std(*args), ours(*args)
        assert tuple(a) == tuple(b) and a == b and hash(a) == hash(b)
        assert repr(a) == repr(b) and a.twice == b.twice
        assert a._replace(raw="q") == b._replace(raw="q") and a._asdict() == b._asdict()
    assert ours._fields == std._fields and ours._field_defaults == std._field_defaults
    assert ours.__doc__ == "A piece." and ours.__module__ == std.__module__
    assert ours.__qualname__ == std.__qualname__
    with pytest.raises(TypeError):
        class Bad(records.NamedTuple):  # type: ignore[misc]
            a: int = 0
            b: int
