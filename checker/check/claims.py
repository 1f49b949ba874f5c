"""A wanted link another present device can also get: udev 252 gives it to the claim with
the highest link_priority (udev-node.c), at every event of either device.

For each wanted link the rule set makes (checker.check.effects), the other present devices
that some line could give it (checker.evaluate.claimers: found from every SYMLINK value
that can make the name) are evaluated on one slice of the rule set (the lines that can
give the competed links, and every line that sets a link_priority), once per event and
device. Then, at "add" and at "change" (the same event reaches every device: a boot, a
`udevadm trigger`):
- another device surely claims it with a higher priority: drift, status "claimed",
  the cause the other device's rule;
- with the same priority: unknown (udev gives it to the device whose event it handled
  last: the order of events decides);
- a sure claim whose priority is not known: unknown;
- a claim that may be made (its rule's match is not known offline): named in the details,
  not judged (an LVM volume's "$env{DM_VG_NAME}/$env{DM_LV_NAME}" may be any name; under
  --root every disk may be one);
- lower claims: the device keeps it (named in the details).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence

from checker.check.named_devices import Device, PolicyDevices
from checker.evaluate.claimers import LinkClaimers, Present
from checker.evaluate.engine import evaluate
from checker.evaluate.glob import fnmatch
from checker.evaluate.priority import Claim, Contest, contest
from checker.evaluate.result import Evaluation
from checker.evaluate.ruleset import RuleSet
from checker.evaluate.slice import ByKernel, slice_rules
from checker.evaluate.trace import Where
from checker.evaluate.values import Tri, Unknown
from checker.findings import Cause, Finding
from checker.records import dataclass, field

EVENTS = ("add", "change")


@dataclass(slots=True)  # one per wanted link
class LinkHeld:
    """A wanted link the rule set gives `device` at every event: is it the device's?"""

    finding: Finding
    link: str  # relative to /dev
    device: Device
    others: list[Device] = field(default_factory=list)


def priority_setters(rules: RuleSet) -> list[Where]:
    """Every line that sets a link_priority (of the whole set)."""
    return [line.where for rules_file in (rules.origin or rules).files for line in rules_file.lines
            if any(m.key == "OPTIONS" and m.value.startswith("link_priority=") for m in line.assigns)]


def claim_rule(evaluation: Evaluation, link: str) -> Where | None:
    """The last rule that added `link` for the device (surely, else maybe)."""
    found: Where | None = None
    sure = False
    for event in evaluation.link_events:
        if event.kind != "add":
            continue
        names = link in event.names or any(fnmatch(p, link) is not Tri.NO for p in event.patterns)
        if names and (event.certain or not sure):
            found, sure = event.where, event.certain
    return found


class Claims:
    """Weighs the other devices' claims on the links the policies want."""

    def __init__(self, rules: RuleSet, devices: PolicyDevices, rule_text: Callable[[Where], str],
                 quick: Callable[[Device, str], Evaluation]) -> None:
        self.rules = rules
        self.devices = devices
        self.rule_text = rule_text
        self.quick = quick  # a device's evaluation at an event on the check's slice (no trace)
        self.considered: set[Device] = set()  # other devices evaluated (the verdict cache's key)

    def judge(self, held: Sequence[LinkHeld]) -> None:
        if not held:
            return
        present = self.devices.present()
        wanted = {q.link for q in held}
        candidates = LinkClaimers(self.rules, wanted).kernels_for(wanted, Present(present))
        if not candidates - {q.device.kernel for q in held}:
            return  # no other device can get any of the links: nothing is evaluated
        # Each device that may get one of the links evaluated once per event, on the check's
        # own slice (it answers links as the whole set does), and its links looked up: the
        # cost grows with the devices, not with devices times links.
        claiming: dict[str, dict[str, Tri]] = {}  # link -> kernel -> its claim (yes or maybe)
        names = sorted(wanted)
        for kernel in sorted(candidates):
            device = present[kernel]
            self.considered.add(device)
            for event in EVENTS:
                got = self.quick(device, event).links
                for name, answer in got.members.items():
                    if name in wanted:
                        _note(claiming, name, kernel, answer)
                for pattern in got.patterns:
                    for name in _matching(pattern, names):
                        _note(claiming, name, kernel, Tri.UNKNOWN)
        # priorities only where another device surely claims a link: their lines
        # (device-mapper's, md's ...) make a slice many times larger
        weighed = []
        for question in held:
            others = {k: t for k, t in claiming.get(question.link, {}).items() if k != question.device.kernel}
            question.others = [present[k] for k in sorted(others)]
            if Tri.YES in others.values():
                weighed.append(question)
            elif others:
                self._maybe(question)
        if not weighed:
            return
        setters = priority_setters(self.rules)
        links = {q.link for q in weighed}
        evaluations: dict[tuple[Device, str], Evaluation] = {}
        cut = ByKernel(slice_rules(self.rules, links, setters))  # the same lines at every event
        for event in EVENTS:
            for device in {q.device for q in weighed} | {d for q in weighed for d in q.others}:
                facts = self.devices.facts(device, event)
                evaluations[(device, event)] = evaluate(cut.for_kernel(device.kernel), facts, trace=False)
        for question in weighed:
            self._answer(question, evaluations)

    def _maybe(self, question: LinkHeld) -> None:
        """Other devices may claim the link, none surely: named (in one line), not judged."""
        maybe: list[str] = []
        rules: dict[Where, None] = {}
        for device in question.others:
            for event in EVENTS:
                ev = self.quick(device, event)
                if ev.link(question.link) is Tri.UNKNOWN:
                    maybe.append(device.kernel)
                    where = claim_rule(ev, question.link)
                    if where is not None:
                        rules[where] = None
                    break
        shown = ", ".join(maybe[:5]) + (f" and {len(maybe) - 5} more" if len(maybe) > 5 else "")
        by = ", ".join(f"rule at {where}" for where in list(rules)[:3]) or "a rule that names it"
        question.finding.details.append(f"{shown} may also claim it ({by}; whether that gives them the "
                                        "link is not known offline): not judged")

    def _answer(self, question: LinkHeld, evaluations: dict[tuple[Device, str], Evaluation]) -> None:
        results: list[tuple[str, Contest, Evaluation]] = []
        for event in EVENTS:
            own = evaluations[(question.device, event)]
            claims = [Claim(d.kernel, evaluations[(d, event)].link(question.link),
                            evaluations[(d, event)].link_priority) for d in question.others]
            results.append((event, contest(own.link_priority, claims), own))
        by_kernel = {d.kernel: d for d in question.others}
        for wanted in ("lost", "tie", "unknown", "maybe", "kept"):
            for event, outcome, own in results:
                if outcome.verdict == wanted:
                    self._say(question, event, outcome, own, evaluations, by_kernel)
                    return

    def _say(self, question: LinkHeld, event: str, outcome: Contest, own: Evaluation,
             evaluations: dict[tuple[Device, str], Evaluation], by_kernel: dict[str, Device]) -> None:
        finding, kernel = question.finding, question.device.kernel
        mine = _priority(own.link_priority)
        for lower in outcome.lower:
            where = claim_rule(evaluations[(by_kernel[lower.device], event)], question.link)
            finding.details.append(f"{lower.device} also claims it ({_at(where)}) with link_priority "
                                   f"{_priority(lower.priority)}, lower than {kernel}'s {mine}: "
                                   f"{kernel} keeps it")
        claim = outcome.by
        if claim is None:
            return
        other = claim.device
        where = claim_rule(evaluations[(by_kernel[other], event)], question.link)
        theirs = _priority(claim.priority)
        if outcome.verdict == "lost":
            said = (f"at the next {event} event udev gives it to {other}: {other} claims it "
                    f"({_at(where)}) with link_priority {theirs}, higher than {kernel}'s {mine}")
            finding.effect = "no"
            if where is not None:
                finding.cause = Cause(where.file, where.line, self.rule_text(where), "claimed", said, event)
            if finding.status == "ok":
                finding.status, finding.drift = "claimed", True
                finding.message = said
            else:
                finding.details.append(f"udev would not give it to {kernel} either: {said}")
            finding.details.append(f"to fix: give {other} another link, or {kernel}'s link rule a "
                                   f'higher OPTIONS+="link_priority=N"')
            return
        if outcome.verdict == "maybe":
            finding.details.append(f"{other} may also claim it ({_at(where)}; whether that rule gives "
                                   f"{other} the link is not known offline), with link_priority "
                                   f"{theirs} against {kernel}'s {mine}: not judged")
            return
        if outcome.verdict == "tie":
            why = (f"{other} also claims it ({_at(where)}) with the same link_priority {theirs}: udev "
                   f"gives it to the device whose event it handled last, so the order of events decides")
        else:
            why = (f"{other} also claims it ({_at(where)}), and the link_priority of "
                   f"{other if isinstance(claim.priority, Unknown) else kernel} is not known offline "
                   f"({theirs} against {mine})")
        if finding.effect != "no":
            finding.effect = "unknown"
            finding.effect_reason = why
        finding.details.append(f"whether {kernel} keeps it at the next {event} event is not known: {why}")


def _note(claiming: dict[str, dict[str, Tri]], link: str, kernel: str, answer: Tri) -> None:
    """A claim of `kernel` on `link` at one event: yes wins over maybe."""
    if answer is Tri.NO:
        return
    seen = claiming.setdefault(link, {})
    if seen.get(kernel) is not Tri.YES:
        seen[kernel] = answer


def _matching(pattern: str, names: list[str]) -> list[str]:
    """The names (sorted) a link pattern of an evaluation may stand for."""
    cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=len(pattern))
    found = []
    for at in range(bisect_left(names, pattern[:cut]), len(names)):  # in place: no copy
        name = names[at]
        if not name.startswith(pattern[:cut]):
            break
        if fnmatch(pattern, name) is not Tri.NO:
            found.append(name)
    return found


def _priority(value: int | Unknown) -> str:
    return str(value) if isinstance(value, int) else "(not known)"


def _at(where: Where | None) -> str:
    return f"rule at {where}" if where is not None else "a rule that names it"


def competing_claims(rules: RuleSet, devices: PolicyDevices, device: Device, link: str,
                     events: Sequence[str] = EVENTS) -> dict[str, dict[str, object]]:
    """For `explain`: at each event, every present device's claim on `link` (this device
    first) with its link_priority and rule, and what udev makes of them; {} when no other
    present device can get the link."""
    link = link.removeprefix("/dev/")
    present = devices.present()
    kernels = LinkClaimers(rules, [link]).kernels(link, Present(present)) - {device.kernel}
    if not kernels:
        return {}
    cut = ByKernel(slice_rules(rules, [link], priority_setters(rules)))
    said: dict[str, dict[str, object]] = {}
    for event in events:
        rows: list[dict[str, object]] = []
        claims: list[Claim] = []
        for each in [device, *(present[k] for k in sorted(kernels))]:
            ev = evaluate(cut.for_kernel(each.kernel), devices.facts(each, event), trace=False)
            claim = Claim(each.kernel, ev.link(link), ev.link_priority)
            where = claim_rule(ev, link)
            claims.append(claim)
            priority = claim.priority if isinstance(claim.priority, int) else "unknown"
            rows.append({"device": each.kernel, "claims": claim.claims.value, "priority": priority,
                         **({"by": str(where)} if where else {})})
        own = claims[0]
        outcome = contest(own.priority, claims[1:]) if own.claims is Tri.YES else \
            Contest("not made" if own.claims is Tri.NO else "unknown")
        said[event] = {"claims": rows, "verdict": outcome.verdict,
                       **({"by": outcome.by.device} if outcome.by is not None else {})}
    return said
