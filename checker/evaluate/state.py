"""What the rules have built so far for one event, and the join of two such states.

Where the evaluator cannot tell whether a rule matched, it runs both worlds and joins
them: whatever differs becomes unknown. Links, tags and programs are sets whose members
are certainly there (Tri.YES) or maybe there (Tri.UNKNOWN), plus patterns of members whose
name is not known ("disk/by-id/*"). Properties set by the rules are kept in `props`;
`wild` holds patterns of property names that something unknown (a program, a builtin)
may have set since.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checker.evaluate.facts import DeviceFacts
from checker.evaluate.glob import fnmatch
from checker.evaluate.pmap import PMap
from checker.evaluate.values import Tri, Unknown, Value, join_values
from checker.records import dataclass, field


@dataclass
class MemberSet:
    """A set of strings, three-valued: each member YES or UNKNOWN; `patterns` stand for
    members whose exact names are not known.

    `members` is immutable: copies share it (a rule that may or may not match copies the
    whole state; few of them change its links), and a join looks only at what differs."""

    members: PMap[Tri] = field(default_factory=PMap)
    patterns: tuple[str, ...] = ()

    def copy(self) -> MemberSet:
        return MemberSet(self.members, self.patterns)

    def clear(self) -> None:
        self.members = PMap()
        self.patterns = ()

    def add(self, name: str) -> None:
        if self.members.get(name) is not Tri.YES:
            self.members = self.members.set(name, Tri.YES)

    def maybe_add(self, name: str) -> None:
        """Added in one world of two (a value udev may refuse as too long)."""
        if name not in self.members:
            self.members = self.members.set(name, Tri.UNKNOWN)

    def all_maybe(self) -> None:
        if any(t is Tri.YES for t in self.members.values()):
            self.members = PMap(dict.fromkeys(self.members, Tri.UNKNOWN))

    def maybe_removed(self, name: str) -> None:
        if name in self.members:
            self.members = self.members.set(name, Tri.UNKNOWN)

    def add_pattern(self, pattern: str) -> None:
        if pattern not in self.patterns:
            self.patterns = self.patterns + (pattern,)

    def remove(self, name: str) -> None:
        self.members = self.members.delete(name)

    def has(self, name: str) -> Tri:
        state: Tri | None = self.members.get(name)
        if state is not None:
            return state
        if any(fnmatch(p, name) is not Tri.NO for p in self.patterns):
            return Tri.UNKNOWN
        return Tri.NO

    def empty(self) -> Tri:
        if any(t is Tri.YES for t in self.members.values()):
            return Tri.NO
        return Tri.UNKNOWN if self.members or self.patterns else Tri.YES

    def join(self, other: MemberSet) -> MemberSet:
        if self.members is other.members and self.patterns == other.patterns:
            return MemberSet(self.members, self.patterns)
        # a member the same in both stays as it is (yes and yes, maybe and maybe)
        members = self.members
        for name in self.members.differing(other.members):
            a, b = self.members.get(name, Tri.NO), other.members.get(name, Tri.NO)
            joined = Tri.YES if a is Tri.YES and b is Tri.YES else Tri.UNKNOWN
            if joined is not a:
                members = members.set(name, joined)
        patterns = self.patterns + tuple(p for p in other.patterns if p not in self.patterns)
        return MemberSet(members, patterns)

    def any_matches(self, test: Callable[[str], Tri]) -> Tri:
        """Does any member match? (SYMLINK==, TAG==)."""
        answer = Tri.NO
        for name, there in self.members.items():
            answer = answer | (there & test(name))
            if answer is Tri.YES:
                return answer
        if self.patterns:
            answer = answer | Tri.UNKNOWN
        return answer


FINALS = ("devlink", "run", "owner", "group", "mode", "name", "watch")


@dataclass
class State:
    props: PMap[Value] = field(default_factory=PMap)
    wild: tuple[tuple[str, str], ...] = ()  # (name pattern, why) set to unknown values
    # The names set since something unknown last set any property (taint "*"), None
    # before that: every other name is unknown already, and stays so when tainted again.
    fresh: PMap[bool] | None = None
    links: MemberSet = field(default_factory=MemberSet)
    tags: MemberSet = field(default_factory=MemberSet)  # current tags (Q: in the database)
    # every tag (G:): the database's tags from before the event and the ones added now;
    # TAG== matches against these (the event's device has no "current tags" database)
    all_tags: MemberSet = field(default_factory=MemberSet)
    run: MemberSet = field(default_factory=MemberSet)
    finals: dict[str, Tri] = field(default_factory=dict)
    owner: Value = None
    group: Value = None
    mode: Value = None
    name: Value = None  # NAME= (network interfaces only)
    program_result: Value = None
    priority: int | Unknown = 0
    # the device the last parent walk stopped at (index in the chain), None, or Unknown
    dev_parent: int | None | Unknown = None
    written_attrs: frozenset[str] = frozenset()  # ATTR{x}= wrote these: reads are unknown
    options: frozenset[str] = frozenset()  # db_persist, watch ... (for the report)

    def copy(self) -> State:
        # by hand: dataclasses.replace() was a tenth of an evaluation
        twin = _new_state(State)
        fields = twin.__dict__
        fields.update(self.__dict__)
        fields["links"] = self.links.copy()
        fields["tags"] = self.tags.copy()
        fields["all_tags"] = self.all_tags.copy()
        fields["run"] = self.run.copy()
        return twin

    def final(self, what: str) -> Tri:
        return self.finals.get(what, Tri.NO)

    def prop(self, name: str, facts: DeviceFacts) -> Value:
        """What ENV{name} reads now."""
        value = self.props.get(name, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[no-any-return]
        for pattern, why in self.wild:
            if fnmatch(pattern, name) is not Tri.NO:
                return Unknown("*", why)
        if name == "DEVLINKS":
            return _joined(self.links, "/dev/", " ")
        if name == "TAGS":
            return _joined(self.all_tags, ":", ":", suffix=":")
        if name == "CURRENT_TAGS":
            return _joined(self.tags, ":", ":", suffix=":")
        return facts.property(name)

    # props and finals are replaced, never changed in place: copies share them
    def set_prop(self, name: str, value: Value) -> None:
        self.props = self.props.set(name, value)
        if self.fresh is not None:
            self.fresh = self.fresh.set(name, True)

    def set_final(self, what: str) -> None:
        self.finals = {**self.finals, what: Tri.YES}

    def taint_props(self, pattern: str, why: str) -> None:
        """Something unknown may have set any property whose name matches `pattern`."""
        props = self.props
        # After an earlier taint of every name, only the names set since can change: the
        # rest are unknown already (an IMPORT{program} on every line was quadratic).
        names = self.props if pattern != "*" or self.fresh is None else self.fresh
        for name in names:
            value = props.get(name, _MISSING)
            if value is not _MISSING and fnmatch(pattern, name) is not Tri.NO:
                props = props.set(name, join_values(value, Unknown("*", why)))
        self.props = props
        if pattern == "*":
            self.fresh = PMap()
        if all(p != pattern for p, _ in self.wild):
            self.wild = self.wild + ((pattern, why),)

    def join(self, other: State, facts: DeviceFacts) -> State:
        """Both worlds in one (the inputs are not used afterwards: the result may be one
        of them)."""
        if self is other or self.__dict__ == other.__dict__:
            return self
        # Only the names whose entries are not shared can differ: the two worlds split
        # from one state, and what was set before is the same object in both. A name set
        # in neither reads the same in both when `wild` is the same.
        mine, theirs = self.props, other.props
        props = mine
        for name in mine.differing(theirs):
            a, b = mine.get(name, _MISSING), theirs.get(name, _MISSING)
            if a is not _MISSING and (a is b or (a == b and not isinstance(a, Unknown))):
                continue  # `props` holds it
            props = props.set(name, join_values(self.prop(name, facts), other.prop(name, facts)))
        if self.wild == other.wild:
            wild = self.wild
        else:
            wild = self.wild + tuple(w for w in other.wild if w not in self.wild)
        if self.finals == other.finals:
            finals = self.finals
        else:
            finals = {k: self.final(k).join(other.final(k)) for k in self.finals.keys() | other.finals.keys()}
        return State(
            props=props, wild=wild, fresh=_join_fresh(self.fresh, other.fresh),
            links=self.links.join(other.links),
            tags=self.tags.join(other.tags), all_tags=self.all_tags.join(other.all_tags),
            run=self.run.join(other.run), finals=finals,
            owner=join_values(self.owner, other.owner), group=join_values(self.group, other.group),
            mode=join_values(self.mode, other.mode), name=join_values(self.name, other.name),
            program_result=join_values(self.program_result, other.program_result),
            priority=_join_priority(self.priority, other.priority),
            dev_parent=self.dev_parent if self.dev_parent == other.dev_parent
            and not isinstance(self.dev_parent, Unknown) else Unknown("*", "the parent walk differs"),
            written_attrs=self.written_attrs | other.written_attrs,
            options=self.options | other.options,
        )


_MISSING = object()
_new_state = object.__new__
_NOTHING: PMap[Any] = PMap()  # immutable: every new state starts from this one
_BLANK = State().__dict__


def new_state() -> State:
    """State(), as fast as State.copy(): evaluate() makes one per device and event."""
    fresh = _new_state(State)
    fields = fresh.__dict__
    fields.update(_BLANK)
    fields["props"] = _NOTHING
    fields["links"] = MemberSet(_NOTHING, ())
    fields["tags"] = MemberSet(_NOTHING, ())
    fields["all_tags"] = MemberSet(_NOTHING, ())
    fields["run"] = MemberSet(_NOTHING, ())
    fields["finals"] = {}
    return fresh


def _join_fresh(a: PMap[bool] | None, b: PMap[bool] | None) -> PMap[bool] | None:
    if a is None or b is None:
        return None
    if a is b:
        return a
    joined = a
    for name in a.differing(b):
        joined = joined.set(name, True)
    return joined


def _join_priority(a: int | Unknown, b: int | Unknown) -> int | Unknown:
    if isinstance(a, int) and isinstance(b, int) and a == b:
        return a
    return Unknown("*", "link_priority is set on some paths only")


def _joined(members: MemberSet, prefix: str, sep: str, suffix: str = "") -> Value:
    if members.empty() is Tri.YES:
        return None
    certain = [name for name, there in members.members.items() if there is Tri.YES]
    if len(certain) == 1 and len(members.members) == 1 and not members.patterns:
        return prefix + certain[0] + suffix
    return Unknown("*", "the order of several links or tags is not known")


def join_all(states: list[State], facts: DeviceFacts) -> State | None:
    if not states:
        return None
    joined = states[0]
    for state in states[1:]:
        joined = joined.join(state, facts)
    return joined
