"""What an evaluation gives: final links, properties and programs (three-valued), the
trace of every rule, and why a wanted link is not made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checker.evaluate.causes import Cause, cause_of_missing_link
from checker.evaluate.facts import DeviceFacts
from checker.evaluate.state import MemberSet, State
from checker.evaluate.trace import LinkEvent, Step, Where, build_step
from checker.evaluate.values import Tri, Unknown, Value
from checker.records import dataclass

if TYPE_CHECKING:
    from checker.evaluate.ruleset import RuleSet

UDEV_VERSION = "252"  # whose semantics the evaluator applies by default (RuleSet.semantics)


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

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every rule in udev's order, with what became of it (built once, when first
        asked: by hand, as Python 3.11's cached_property takes a lock at every read)."""
        found: tuple[Step, ...] | None = self.__dict__.get("_steps")
        if found is None:
            found = tuple(step for raw in self.trace for step in build_step(raw))
            self.__dict__["_steps"] = found  # frozen: kept beside the fields, as cached_property does
        return found

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
        return cause_of_missing_link(self, _rel(link))

    def step_at(self, where: Where) -> Step | None:
        """What became of the rule at `where` (None: a rule that does nothing here)."""
        return next((step for step in self.steps if step.where == where), None)


def _rel(name: str) -> str:
    return name[len("/dev/"):] if name.startswith("/dev/") else name
