"""What the evaluator writes down as it goes: where a rule is (Where), what became of it
(Step), and what it did to the device's links (LinkEvent).

Plain data at the bottom of the folder: the engine writes it, the result and the causes
read it, and it imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from checker.records import NamedTuple, dataclass


class Where(NamedTuple):
    """A rule's file and the line it ends on (a tuple: every compiled line has one, and
    slices look them up by the thousand)."""

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
