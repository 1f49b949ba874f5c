"""Value classes as `dataclasses` makes them, without its cost at import.

`dataclasses.dataclass` writes each class's methods as source text and compiles it when
the module is imported: about a millisecond per class, and the module itself imports
`inspect` (with `ast`, `dis` and `tokenize`). A check imports some 45 such classes: that
was 40 % of the instructions of a verdict-cache miss on the seed host. Here the methods
are closures over the field names, made in microseconds, and behave as the generated
ones do: `__init__` (positional and keyword, defaults, default factories), `__repr__`,
`__eq__` (same class only), `__hash__` (frozen classes; others unhashable, as with
`eq=True`), frozen `__setattr__`/`__delattr__`, `__match_args__`; methods the class
defines itself are kept. `replace`, `fields` and `asdict` stand in for the module's.
`tests/test_records.py` compares them with `dataclasses` itself.
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar, get_origin, overload

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple

    from typing_extensions import dataclass_transform
else:  # only type checkers read it (typing has it from Python 3.11)
    def dataclass_transform(**_: Any) -> Any:
        return lambda decorated: decorated

_T = TypeVar("_T")
_MISSING: Any = object()
_RECORD_FIELDS = "__record_fields__"


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (dataclasses.FrozenInstanceError's twin)."""


class Field:
    """One field: its name, default or default factory, and what it takes part in."""

    __slots__ = ("name", "default", "default_factory", "init", "repr", "hash", "compare")

    def __init__(self, default: Any, default_factory: Any, init: bool, repr: bool,
                 hash: bool | None, compare: bool) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] = _MISSING, init: bool = True,
          repr: bool = True, hash: bool | None = None, compare: bool = True) -> Any:
    """dataclasses.field() with the options this code uses."""
    return Field(default, default_factory, init, repr, hash, compare)


def _is_class_var(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or get_origin(annotation) is ClassVar


@overload
def dataclass(cls: type[_T], /) -> type[_T]: ...
@overload
def dataclass(*, frozen: bool = False, slots: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(field, Field))
def dataclass(cls: type[_T] | None = None, /, *, frozen: bool = False, slots: bool = False) -> Any:
    """@dataclass, @dataclass(frozen=True), slots=True, as `dataclasses` reads them (eq
    and repr on)."""
    def wrap(cls: type[_T]) -> type[_T]:
        return _process(cls, frozen, slots)
    return wrap if cls is None else wrap(cls)


def _with_slots(cls: Any, fields: dict[str, Field]) -> Any:
    """The class again, with __slots__ for the fields it adds (dataclasses' _add_slots()):
    made anew, since slots can only be declared when a class is made."""
    inherited = {name for base in cls.__mro__[1:-1] for name in base.__dict__.get("__slots__", ())}
    body = dict(cls.__dict__)
    own = tuple(name for name in fields if name not in inherited)
    for name in own:
        body.pop(name, None)  # a default stays in the Field: a class attribute would clash
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = own
    made = type(cls)(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


def _process(made_from: type[_T], frozen: bool, slots: bool = False) -> type[_T]:
    cls: Any = made_from
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        found.update(base.__dict__.get(_RECORD_FIELDS, {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_class_var(annotation):
            continue
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, Field):
            made = value
            if made.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, made.default)
        else:
            made = Field(value, _MISSING, True, True, None, True)
        made.name = name
        found[name] = made
    setattr(cls, _RECORD_FIELDS, found)
    if slots:
        cls = made_from = _with_slots(cls, found)
    cls.__dataclass_fields__ = _StandardFields()
    every = tuple(found.values())
    own = cls.__dict__

    def put(name: str, method: Any) -> None:
        if name not in own:
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)

    put("__init__", _init(cls, every, frozen))
    put("__repr__", _repr(tuple(f.name for f in every if f.repr)))
    compared = tuple(f.name for f in every if f.compare)
    eq_defined = "__eq__" in own
    put("__eq__", _eq(compared))
    explicit_hash = own.get("__hash__", _MISSING) is not _MISSING and not (
        own["__hash__"] is None and eq_defined)
    if not explicit_hash:
        if frozen:
            hashed = tuple(f.name for f in every if (f.compare if f.hash is None else f.hash))
            cls.__hash__ = _hash(hashed)
        else:
            cls.__hash__ = None
    if frozen:
        if "__setattr__" in own or "__delattr__" in own:
            raise TypeError(f"cannot overwrite attribute __setattr__ or __delattr__ in class {cls.__name__}")
        names = frozenset(found)
        cls.__setattr__ = _frozen_setattr(cls, names)
        cls.__delattr__ = _frozen_delattr(cls, names)
    if slots and frozen:  # copy and pickle set a slotted instance's state through setattr
        put("__getstate__", _getstate(tuple(found)))
        put("__setstate__", _setstate(tuple(found)))
    if "__match_args__" not in own:
        cls.__match_args__ = tuple(f.name for f in every if f.init)  # type: ignore[misc]
    return made_from


def _getstate(names: tuple[str, ...]) -> Callable[[Any], list[Any]]:
    def __getstate__(self: Any) -> list[Any]:
        return [getattr(self, name) for name in names]
    return __getstate__


def _setstate(names: tuple[str, ...]) -> Callable[[Any, list[Any]], None]:
    def __setstate__(self: Any, state: list[Any]) -> None:
        for name, value in zip(names, state):
            object.__setattr__(self, name, value)
    return __setstate__


def _init(cls: Any, every: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    takes = tuple(f for f in every if f.init)
    names = tuple(f.name for f in takes)
    count = len(names)
    # (name, value, factory) of the fields an argument may leave out, in order
    defaults = {f.name: (f.default, f.default_factory) for f in takes
                if f.default is not _MISSING or f.default_factory is not _MISSING}
    others = tuple((f.name, f.default, f.default_factory) for f in every if not f.init)
    post_init = getattr(cls, "__post_init__", None) is not None
    # Writing the instance's __dict__ is what object.__setattr__ does for a plain field;
    # a class with slots or its own __setattr__ gets setattr() as the generated code does.
    direct = "__slots__" not in cls.__dict__ and (frozen or cls.__setattr__ is object.__setattr__)
    owner = cls.__qualname__

    def values(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        if len(args) > count:
            raise TypeError(f"{owner}.__init__() takes {count + 1} positional arguments "
                            f"but {len(args) + 1} were given")
        out = list(args)
        for name in names[len(args):]:
            if name in kwargs:
                out.append(kwargs.pop(name))
                continue
            default = defaults.get(name)
            if default is None:
                missing = [n for n in names[len(out):] if n not in kwargs and n not in defaults]
                raise TypeError(f"{owner}.__init__() missing {len(missing)} required argument(s): "
                                + ", ".join(repr(n) for n in missing))
            out.append(default[0] if default[1] is _MISSING else default[1]())
        if kwargs:
            name = next(iter(kwargs))
            if name in names:
                raise TypeError(f"{owner}.__init__() got multiple values for argument {name!r}")
            raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {name!r}")
        return out

    name_set = frozenset(names)
    required = name_set - defaults.keys()
    plain = {name: value for name, (value, factory) in defaults.items() if factory is _MISSING}
    factories = tuple((name, factory) for name, (_, factory) in defaults.items() if factory is not _MISSING)
    # how many leading fields have no default: fewer arguments than that is an error
    leading = next((i for i, name in enumerate(names) if name in defaults), count)
    if any(name not in defaults for name in names[leading:]):
        leading = count + 1  # a field without default after one with (an inherited order)

    def fill(own: dict[str, Any], given: Any) -> None:
        own.update(plain)
        own.update(given)
        for name, factory in factories:
            if name not in given:
                own[name] = factory()

    def __init_closure__(self: Any, *args: Any, **kwargs: Any) -> None:
        own = self.__dict__
        if kwargs:
            # keywords only (the usual call), every required field given: the rest defaults
            if not args and kwargs.keys() <= name_set and required <= kwargs.keys():
                fill(own, kwargs)
            else:
                own.update(zip(names, values(args, kwargs)))
        elif len(args) == count:
            own.update(zip(names, args))
        elif leading <= len(args) < count:
            fill(own, dict(zip(names, args)))
        else:
            own.update(zip(names, values(args, kwargs)))

    def __init_slow__(self: Any, *args: Any, **kwargs: Any) -> None:
        given = values(args, kwargs)
        if direct:
            self.__dict__.update(zip(names, given))
        else:
            for name, value in zip(names, given):
                setter(self, name, value)
        for name, default, factory in others:
            if default is not _MISSING or factory is not _MISSING:
                object.__setattr__(self, name, default if factory is _MISSING else factory())
        if post_init:
            self.__post_init__()

    made = 0
    first = __init_closure__ if direct else __init_slow__
    setter = object.__setattr__ if frozen else setattr

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # A class made many times gets the __init__ dataclasses would compile for it; the
        # others (most, in one run) never pay for compiling it.
        nonlocal made
        made += 1
        if made == COMPILE_AFTER and cls.__dict__.get("__init__") is __init__:
            cls.__init__ = _compiled_init(takes, direct, frozen)
            cls.__init__.__qualname__ = f"{owner}.__init__"
        first(self, *args, **kwargs)

    if others or post_init or not all(_PLAIN_NAME.fullmatch(n) for n in names):
        # what no class here has: the general way
        __init_slow__.__name__ = "__init__"
        return __init_slow__
    return __init__


# instances made before a class gets a compiled __init__ (about what compiling costs)
COMPILE_AFTER = 64
_PLAIN_NAME = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*")


def _compiled_init(takes: tuple[Field, ...], direct: bool, frozen: bool) -> Callable[..., None]:
    """`def __init__(self, a, b=<default>, c=<factory's marker>)` writing the instance's
    __dict__ (`direct`) or through object.__setattr__ (slots), as dataclasses generates
    it (the field names are plain identifiers)."""
    scope: dict[str, Any] = {"__MISSING": _MISSING, "__set": object.__setattr__ if frozen else setattr}
    params: list[str] = []
    body = ["    __own = self.__dict__"] if direct else ["    pass"]
    for f in takes:
        name = f.name
        value = name
        if f.default_factory is not _MISSING:
            scope[f"__factory_{name}"] = f.default_factory
            params.append(f"{name}=__MISSING")
            value = f"__factory_{name}() if {name} is __MISSING else {name}"
        elif f.default is not _MISSING:
            scope[f"__default_{name}"] = f.default
            params.append(f"{name}=__default_{name}")
        else:
            params.append(name)
        body.append(f"    __own[{name!r}] = {value}" if direct else f"    __set(self, {name!r}, {value})")
    source = f"def __init__(self{''.join(', ' + p for p in params)}):\n" + "\n".join(body) + "\n"
    exec(source, scope)  # noqa: S102 - our own field names, checked to be identifiers
    made: Callable[..., None] = scope["__init__"]
    return made


_REPR_RUNNING: set[int] = set()


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        key = id(self)
        if key in _REPR_RUNNING:  # as reprlib.recursive_repr, which dataclasses use
            return "..."
        _REPR_RUNNING.add(key)
        try:
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        finally:
            _REPR_RUNNING.discard(key)
        return f"{self.__class__.__qualname__}({inner})"
    return __repr__


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda self: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda self: (one(self),)
    return attrgetter(*names)


def _eq(names: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    key = _key(names)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented
    return __eq__


def _hash(names: tuple[str, ...]) -> Callable[[Any], int]:
    key = _key(names)

    def __hash__(self: Any) -> int:
        return hash(key(self))
    return __hash__


def _frozen_setattr(cls: Any, names: frozenset[str]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)
    return __setattr__


def _frozen_delattr(cls: Any, names: frozenset[str]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)
    return __delattr__


class _StandardFields:
    """`__dataclass_fields__` made when first asked for: dataclasses.replace(), fields(),
    asdict() and is_dataclass() then take a record as one of theirs (code and tests that
    use them keep working), and only such a run imports dataclasses."""

    def __get__(self, instance: object, owner: Any) -> dict[str, Any]:
        import dataclasses

        made: dict[str, Any] = {}
        annotations: dict[str, Any] = {}
        for klass in reversed(owner.__mro__):
            annotations.update(klass.__dict__.get("__annotations__", {}))
        for f in getattr(owner, _RECORD_FIELDS).values():
            standard: Any = dataclasses.field(
                default=dataclasses.MISSING if f.default is _MISSING else f.default,
                default_factory=dataclasses.MISSING if f.default_factory is _MISSING else f.default_factory,
                init=f.init, repr=f.repr, hash=f.hash, compare=f.compare)
            standard.name = f.name
            standard.type = annotations.get(f.name, Any)
            standard._field_type = dataclasses._FIELD  # type: ignore[attr-defined]  # what fields() keeps
            made[f.name] = standard
        return made


def is_record(value: object) -> bool:
    """True for an instance of a class made by dataclass() here (dataclasses.is_dataclass)."""
    return hasattr(type(value), _RECORD_FIELDS)


def fields(value: object) -> tuple[Field, ...]:
    """The fields of a record or record class, in order (dataclasses.fields)."""
    found = getattr(value, _RECORD_FIELDS, None)
    if found is None:
        raise TypeError("must be called with a record type or instance")
    return tuple(found.values())


def replace(value: _T, /, **changes: Any) -> _T:
    """A copy of `value` with `changes` (dataclasses.replace)."""
    for f in fields(value):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, "
                                 "it cannot be specified with replace()")
            continue
        if f.name not in changes:
            changes[f.name] = getattr(value, f.name)
    return value.__class__(**changes)


def asdict(value: Any) -> Any:
    """dataclasses.asdict(): records, lists, tuples and dicts copied deeply into dicts."""
    if is_record(value):
        return {f.name: asdict(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[asdict(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(asdict(v) for v in value)
    if isinstance(value, dict):
        return type(value)((asdict(k), asdict(v)) for k, v in value.items())
    from copy import deepcopy
    return deepcopy(value)


# --- typed named tuples, without compiling their annotations -----------------------------
# typing.NamedTuple checks each field's annotation: with `from __future__ import
# annotations` each is a string, made a ForwardRef, which compiles it (about a million
# instructions a field: a tenth of what an unchanged host's check does beyond starting
# Python). Type checkers see typing.NamedTuple; at run time this makes the same
# collections.namedtuple class, its methods and docstring copied, its annotations kept
# as written.

if not TYPE_CHECKING:
    from collections import namedtuple as _namedtuple

    _NOT_COPIED = frozenset(("__module__", "__qualname__", "__annotations__", "__dict__", "__weakref__",
                             "_root"))
    _PROHIBITED = frozenset(("__new__", "__init__", "__slots__", "__getnewargs__", "_fields",
                             "_field_defaults", "_make", "_replace", "_asdict", "_source"))

    class _NamedTupleMeta(type):
        def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
            if namespace.get("_root"):
                return super().__new__(mcls, name, bases, namespace)
            annotations = namespace.get("__annotations__", {})
            names = list(annotations)
            defaults = [namespace[n] for n in names if n in namespace]
            if any(n not in namespace for n in names[len(names) - len(defaults):]):
                raise TypeError(f"Non-default namedtuple field cannot follow default field in {name}")
            made = _namedtuple(name, names, defaults=defaults, module=namespace["__module__"])
            made.__annotations__ = dict(annotations)
            made.__qualname__ = namespace.get("__qualname__", name)
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
                if key not in _NOT_COPIED and key not in annotations:
                    setattr(made, key, value)
            return made

    class NamedTuple(metaclass=_NamedTupleMeta):
        _root = True
