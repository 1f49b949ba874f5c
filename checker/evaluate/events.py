"""What the other events of a present device do to what a policy wants: whether a rule's
programs are in the device's final run list (and why not), and which rule makes udev
watch the device (closing it after a write then sends a "change").

udev recomputes a device's links and its run list on every event, from the rules alone:
a link the rules do not give the device at a "change" is removed from /dev, and a program
a later `RUN=` takes out of the list never runs. Built from an evaluation's trace, as the
link causes are (causes.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from checker.evaluate.causes import Cause
from checker.evaluate.result import Evaluation
from checker.evaluate.ruleset import RuleSet
from checker.evaluate.trace import Step, Where
from checker.evaluate.values import Tri

# how engine._run_cmd() writes a RUN assignment into a step's effects, with what
# engine._refused() adds when the program may not fit udev's buffer
_RUN_EFFECT = re.compile(r'RUN(\+=|=|:=)"(.*)"( refused: .*| \(refused if .*\))?', re.DOTALL)


def run_effects(step: Step) -> list[tuple[str, str]]:
    """The (operator, program as substituted) of each RUN assignment the step applied."""
    return [(op, program) for op, program, refused in _run_assignments(step) if refused is not Tri.YES]


def _run_assignments(step: Step) -> list[tuple[str, str, Tri]]:
    """(operator, program, refused: YES surely, UNKNOWN maybe, NO not) of each RUN
    assignment of the step."""
    found = []
    for effect in step.effects:
        match = _RUN_EFFECT.fullmatch(effect)
        if match:
            suffix = match.group(3) or ""
            refused = Tri.YES if suffix.startswith(" refused:") else Tri.UNKNOWN if suffix else Tri.NO
            found.append((match.group(1), match.group(2), refused))
    return found


def run_resetters(rules: RuleSet) -> list[Where]:
    """Every line whose RUN= or RUN:= empties the run list (of the whole set): what a
    question about a program must keep in its slice."""
    return [line.where for rules_file in (rules.origin or rules).files for line in rules_file.lines
            if any(m.key == "RUN" and m.op in ("=", ":=") for m in line.assigns)]


def cause_of_missing_program(evaluation: Evaluation, step: Step, wanted: int) -> Cause | None:
    """Why a program of the rule at `step` (which matched, with `wanted` RUN assignments)
    is not (surely) in the final run list; None when all of them are."""
    assignments = _run_assignments(step)
    for _, program, refused in assignments:
        if refused is Tri.YES:
            return Cause("too-long", step.where, f"its program is longer than udev's buffer: udev refuses "
                                                 f"{program[:60]!r}...")
        if refused is Tri.UNKNOWN:
            return Cause("unknown", step.where, f"{program!r} is refused if longer than udev's buffer, "
                                                f"and its length is not known offline")
    applied = [(op, program) for op, program, _ in assignments]  # none refused (above)
    if len(applied) < wanted:  # its RUN was ignored: an earlier RUN:= made the list final
        final = _last_before(evaluation.steps[:evaluation.steps.index(step)], ":=")
        where = final.where if final is not None else None
        return Cause("final", where, f"its RUN is ignored: the programs were made final by the "
                                     f"RUN:= at {where}")
    for _, program in applied:
        answer = evaluation.runs(program)
        if answer is Tri.YES:
            continue
        for later in evaluation.steps[evaluation.steps.index(step) + 1:]:
            resets = [op for op, _ in run_effects(later) if op in ("=", ":=")]
            if not resets:
                continue
            verb = "made final by the RUN:=" if ":=" in resets else "replaced by the RUN="
            if answer is Tri.UNKNOWN and later.status != "matched":
                return Cause("unknown", later.where,
                             f"{program!r} may be {verb} at {later.where}: whether that rule "
                             f"matches is not known ({later.why})")
            return Cause("final" if ":=" in resets else "reset", later.where,
                         f"its program is {verb} at {later.where} (after {step.where} added it)")
        if answer is Tri.UNKNOWN:
            # the rule surely ran and no later RUN= or RUN:= can take its program out: it is
            # there, though its text (a substitution not known offline) is only a pattern
            continue
        return Cause("reset", None, f"{program!r} is not in the final run list")
    return None


def _last_before(steps: Iterable[Step], op: str) -> Step | None:
    found = None
    for step in steps:
        if step.status in ("matched", "unknown") and any(o == op for o, _ in run_effects(step)):
            found = step
    return found


def watched_by(rules: RuleSet, evaluation: Evaluation) -> tuple[Where, bool] | None:
    """The rule whose OPTIONS+="watch" stands last for the device in `evaluation` (of the
    whole set), and whether it surely applies; None when no rule makes udev watch it (or
    a later "nowatch" undoes it). A watched device gets a "change" each time it is closed
    after a write."""
    options: dict[Where, str] = {}
    for rules_file in (rules.origin or rules).files:
        for line in rules_file.lines:
            for m in line.assigns:
                if m.key == "OPTIONS" and m.value in ("watch", "nowatch"):
                    options[line.where] = m.value
    if not options:
        return None
    last: tuple[Where, bool] | None = None
    for step in evaluation.steps:
        option = options.get(step.where)
        if option is None or step.status not in ("matched", "unknown"):
            continue
        if option == "watch":
            last = (step.where, step.status == "matched")
        elif step.status == "matched":
            last = None
    return last
