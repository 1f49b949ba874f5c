"""What an evaluation gives: final links, properties and programs (three-valued), the
trace of every rule, and why a wanted link is not made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from checker.evaluate.facts import DeviceFacts
from checker.evaluate.state import MemberSet, State
from checker.evaluate.values import Tri, Unknown, Value

if TYPE_CHECKING:
    from checker.evaluate.causes import Cause
    from checker.evaluate.engine import RuleSet

UDEV_VERSION = "252"  # whose semantics the evaluator applies by default (RuleSet.semantics)


@dataclass(frozen=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Step(NamedTuple):
    """One rule as the evaluator met it (a tuple: an evaluation makes thousands)."""

    where: Where
    status: str  # "matched", "not-matched", "unknown", "not-reached", "no-effect"
    why: str  # the token that failed or was unknown, the GOTO that skipped it ...
    effects: tuple[str, ...] = ()  # what it did: 'SYMLINK+="xapi/block/sdb"' ...
    # (the token `KEY{attr}` that decided, kind) for causes: kind "failed"/"unknown"
    decided_by: str = ""
    skipped_by: Where | None = None  # the GOTO that jumped over this rule


@dataclass(frozen=True)
class LinkEvent:
    """A change to the device's links: what the causes are built from."""

    where: Where
    kind: str  # "add", "reset" (SYMLINK= / :=), "final" (:=), "ignored" (after :=)
    certain: bool  # the rule surely matched
    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    final_at: Where | None = None  # for "ignored": the := that made the list final


@dataclass(frozen=True)
class Evaluation:
    rules: RuleSet
    facts: DeviceFacts
    state: State
    trace: tuple[Any, ...]  # what `steps` is built from
    link_events: tuple[LinkEvent, ...]
    # ENV{X}= assignments and imports that ran (where, name pattern)
    env_writers: tuple[tuple[Where, str], ...]
    version: str = UDEV_VERSION

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """Every rule in udev's order, with what became of it."""
        return tuple(step for raw in self.trace for step in build_step(raw))

    # --- final answers ---------------------------------------------------------------
    def link(self, name: str) -> Tri:
        """Will udev give the device this link (relative to /dev: "xapi/block/sdb")?"""
        return self.state.links.has(_rel(name))

    @property
    def links(self) -> MemberSet:
        return self.state.links

    def prop(self, name: str) -> Value:
        return self.state.prop(name, self.facts)

    def set_properties(self) -> dict[str, Value]:
        """The properties the rules set or removed (None), as they end."""
        return {name: self.prop(name) for name in self.state.props}

    def runs(self, command: str) -> Tri:
        return self.state.run.has(command)

    @property
    def link_priority(self) -> int | Unknown:
        return self.state.priority

    def unknowns(self) -> list[Step]:
        return [step for step in self.steps if step.status == "unknown"]

    # --- why a wanted link is not made ---------------------------------------------------
    def cause(self, link: str) -> str | None:
        """Why `link` is not (surely) made, with file:line; None when it is made."""
        found = self.why_not(link)
        return found.text if found is not None else None

    def why_not(self, link: str) -> Cause | None:
        """The same, as a Cause: its kind and the rule to look at."""
        from checker.evaluate.causes import cause_of_missing_link

        return cause_of_missing_link(self, _rel(link))

    def step_at(self, where: Where) -> Step | None:
        """What became of the rule at `where` (None: a rule that does nothing here)."""
        return next((step for step in self.steps if step.where == where), None)


def _rel(name: str) -> str:
    return name[len("/dev/"):] if name.startswith("/dev/") else name


def build_step(raw: Step | tuple[Any, ...]) -> Iterator[Step]:
    """The Steps a trace entry stands for."""
    if isinstance(raw, Step):
        yield raw
    elif raw[0] == "jumped":
        _, lines, skipped_by = raw
        why = f"skipped by the GOTO at {skipped_by}"
        for line in lines:
            yield Step(line.where, "not-reached", why, skipped_by=skipped_by)
    else:
        _, line, failed = raw
        yield Step(line.where, "not-matched", failed.text, decided_by=failed.text)
