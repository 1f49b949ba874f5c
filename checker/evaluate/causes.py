"""Why a wanted link is not made, said with the file and line of the rule to look at.

Built from the evaluation's trace and link events: the rule that would make the link was
skipped by a GOTO, did not match (and the property it matches is set only later), or it
added the link and a later `SYMLINK=` replaced it, or an earlier `SYMLINK:=` had made the
list final.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from checker.evaluate.glob import fnmatch
from checker.evaluate.priority import denoted, made_on_disk
from checker.evaluate.values import Tri
from checker.records import dataclass

if TYPE_CHECKING:
    from checker.evaluate.ruleset import RuleSet
    from checker.evaluate.state import MemberSet
    from checker.evaluate.trace import LinkEvent, Step, Where

# goto: skipped by a GOTO; reset: a later SYMLINK= replaced the list; final: a SYMLINK:=
# made it final; order: matches a property set only by a later rule; no-match: the rule
# does not match the device; no-rule: no rule names the link; not-created: udev lists it but
# fails to create it (priority.creation_problem); unknown: cannot be decided
Why = Literal["goto", "reset", "final", "order", "too-long", "no-match", "no-rule", "not-created", "unknown"]


class Evaluated(Protocol):
    """What causes read of an evaluation (checker.evaluate.result.Evaluation), said here so
    that the result can ask for its causes without the two importing each other."""

    @property
    def rules(self) -> RuleSet: ...
    @property
    def link_events(self) -> tuple[LinkEvent, ...]: ...
    @property
    def steps(self) -> tuple[Step, ...]: ...
    @property
    def links(self) -> MemberSet: ...
    def link(self, name: str) -> Tri: ...
    def why_not(self, link: str) -> Cause | None: ...


@dataclass(frozen=True)
class Cause:
    """Why a link is not made or a rule does not act: `where` is the rule to look at
    (the GOTO, the SYMLINK= or :=, the later ENV assignment, the rule that does not match)."""

    why: Why
    where: Where | None
    text: str

    def __str__(self) -> str:
        return self.text


def _could_make(event: LinkEvent, link: str) -> bool:
    return link in event.names or any(fnmatch(p, link) is not Tri.NO for p in event.patterns)


def cause_of_missing_link(evaluation: Evaluated, link: str) -> Cause | None:
    answer = evaluation.link(link)
    if answer is Tri.YES:
        return None
    events = evaluation.link_events
    # the link was added: what took it away?
    added = [i for i, e in enumerate(events) if e.kind == "add" and link in e.names]
    if added:
        last = added[-1]
        for later in events[last + 1:]:
            if later.kind == "reset":
                final = any(e.kind == "final" and e.where == later.where for e in events)
                verb = "made final by the SYMLINK:=" if final else "replaced by the SYMLINK="
                return Cause("final" if final else "reset", later.where,
                             f"{verb} at {later.where} (after {events[last].where} added it)")
        if answer is Tri.UNKNOWN:
            return Cause("unknown", events[last].where,
                         f"added at {events[last].where}, but whether that rule matches is not known")
    for ignored in events:
        if ignored.kind == "ignored" and link in _template_names(ignored, link):
            return Cause("final", ignored.final_at,
                         f"the rule at {ignored.where} is ignored: the links were made final by "
                         f"the SYMLINK:= at {ignored.final_at}")
    step = _rule_that_names(evaluation, link)
    if step is None:
        return Cause("no-rule", None, "no rule names this link") if answer is Tri.NO else None
    return step_cause(evaluation, step)


def link_on_disk(evaluation: Evaluated, link: str) -> tuple[Tri, Cause | None]:
    """Is `link` (relative to /dev) in /dev after the event, as far as the device's own
    rules decide (other devices' claims: priority.link_owner)? udev lists some names it
    does not create. With the cause when it is not, or may not be."""
    link = link.removeprefix("/dev/")
    made, why = made_on_disk(link, evaluation.links)
    if why is None:
        return made, evaluation.why_not(link) if made is not Tri.YES else None
    spellings = {link, *(name for name in evaluation.links.members if denoted(name) == link)}
    adders = [e.where for e in evaluation.link_events if e.kind == "add" and spellings.intersection(e.names)]
    return made, Cause("not-created" if made is Tri.NO else "unknown", adders[-1] if adders else None, why)


def step_cause(evaluation: Evaluated, step: Step) -> Cause | None:
    """Why the rule of `step` did not act: skipped, not matched (and why), not known."""
    if step.status == "not-reached":
        return Cause("goto", step.skipped_by,
                     f"the rule at {step.where} is skipped by the GOTO at {step.skipped_by}")
    if step.status in ("not-matched", "unknown"):
        unknown = step.status == "unknown"
        text = (f"whether the rule at {step.where} matches is not known ({step.why})" if unknown
                else f"the rule at {step.where} does not match: {step.why}")
        later = _set_later(evaluation, step)
        if later is not None:
            said, where = later
            return Cause("unknown" if unknown else "order", where, f"{text}; {said}")
        return Cause("unknown" if unknown else "no-match", step.where, text)
    return None


def _template_names(event: LinkEvent, link: str) -> tuple[str, ...]:
    # an ignored assignment keeps its template: %k and friends may stand for the link
    from checker.rules.canonical import normalize_substitutions

    template = normalize_substitutions(event.names[0]) if event.names else ""
    pattern = template
    for token in ("%k", "%n", "%p", "%b", "%M", "%m", "%P", "%N", "%D"):
        pattern = pattern.replace(token, "*")
    return (link,) if fnmatch(pattern, link) is not Tri.NO else ()


def _rule_that_names(evaluation: Evaluated, link: str) -> Step | None:
    """The last rule whose SYMLINK assignment could name `link` (its template)."""
    templates = evaluation.rules.symlink_templates()
    found = None
    for step in evaluation.steps:
        for template in templates.get(step.where, ()):
            if fnmatch(template, link) is not Tri.NO:
                found = step
    return found


def _set_later(evaluation: Evaluated, step: Step) -> tuple[str, Where] | None:
    """('ENV{X} is set only later, by file:line', where) when the failing token reads a
    property that a later rule sets (an ENV{X}= first, else an import that may set it)."""
    token = step.decided_by.removeprefix("unknown: ")
    if not token.startswith("ENV{"):
        return None
    name = token[4:token.index("}")]
    later = False
    imports: list[Where] = []
    for where, pattern, explicit in evaluation.rules.property_writers():
        if where == step.where:
            later = True
            continue
        if later and fnmatch(pattern, name) is not Tri.NO:
            if explicit:
                return f"ENV{{{name}}} is set only later, by {where}", where
            imports.append(where)
    if imports:
        return f"ENV{{{name}}} may be set only later, by the import at {imports[0]}", imports[0]
    return None
