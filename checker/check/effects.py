"""Does what a policy wants take effect at the next event? The rule set as udev 252
applies it (checker.evaluate), asked for the devices the policies name.

Two questions, on top of the text and link checks:
- a symlink entry whose device is present: will udev give the device the link at its
  next "add" (boot, hotplug, trigger)? No: drift ("not-made"), with the cause.
- a wanted rule that a file holds: is it reached, and does it act, for the device it
  names (a literal KERNEL=="sdb" of a present device, or the device of a symlink entry
  whose link it makes)? Skipped by a GOTO, never matching because it reads a property
  that only a later rule sets, or its links replaced by a later SYMLINK= or made final
  before it by a SYMLINK:= -> drift ("ineffective"), with the cause.
An answer that cannot be known offline (a PROGRAM's output, an attribute not in the facts)
is "effect": "unknown" with the reason, and never drift.

Only what these questions need is evaluated: the rule set is read only when a question
is asked, a device only when some rule could give it the link, and every device on one
slice of the rule set (checker.evaluate.slice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Optional

from checker.check.claims import Claims, LinkHeld
from checker.check.every_event import CHANGE_SENDERS, add_only, fix_sentence
from checker.check.named_devices import Device, PolicyDevices
from checker.evaluate.causes import Cause as EvaluatedCause
from checker.evaluate.causes import link_on_disk, step_cause
from checker.evaluate.engine import evaluate
from checker.evaluate.events import cause_of_missing_program, run_resetters, watched_by
from checker.evaluate.glob import Matcher
from checker.evaluate.link_names import escape_of
from checker.evaluate.result import Evaluation
from checker.evaluate.ruleset import RuleSet, symlink_patterns
from checker.evaluate.slice import ByKernel, LinkMakers, slice_rules
from checker.evaluate.trace import Where
from checker.evaluate.values import Tri
from checker.findings import Cause, Finding, PolicyReport
from checker.host import Host
from checker.observe.devices import Devices
from checker.observe.files import RulesFiles, rules_in_udev_order
from checker.policy.desired import DesiredPolicy
from checker.records import dataclass, field
from checker.rules.canonical import normalize_substitutions
from checker.rules.literal import literal_kernel
from checker.rules.model import Rule

log = logging.getLogger("udev-drift")

# Causes that make a present rule drift; "no-match" only says the rule is not for this
# device, which the symlink entry's own question decides.
RULE_DRIFT = frozenset(("goto", "reset", "final", "order", "too-long"))
# the events a present device sees, each of which recomputes its links
EVENTS = ("add", "change")


@dataclass
class _Questions:
    links: set[str] = field(default_factory=set)
    wheres: set[Where] = field(default_factory=set)


def _action_of(rule: Rule) -> str:
    for token in rule.tokens:
        if token.key == "ACTION" and token.op == "==":
            matcher = Matcher.of(token.value)
            if matcher.kind == "plain" and len(matcher.alternatives) == 1:
                return matcher.alternatives[0]
    return "add"


def _link_patterns(rule: Rule, kernel: str | None = None) -> list[str]:
    """fnmatch patterns of the links the rule's SYMLINK values can name, as udev writes
    them (substitutions: *, but %k is `kernel` when given)."""
    values = [token.value for token in rule.tokens
              if token.key == "SYMLINK" and token.op in ("+=", "=", ":=")]
    if not values:  # most rules asked about (RUN, ENV, ...) name no link
        return []
    esc = escape_of(token.value for token in rule.tokens if token.key == "OPTIONS")
    patterns: list[str] = []
    for value in values:
        patterns += symlink_patterns(normalize_substitutions(value), esc, kernel)
    return patterns


def _programs(rule: Rule) -> int:
    """How many RUN assignments the rule has (a program must be in the run list)."""
    return sum(1 for token in rule.tokens if token.key == "RUN" and token.op in ("+=", "=", ":="))


def _rule_links(rule: Rule, kernel: str) -> set[str]:
    """The plain link names the rule's SYMLINK values give `kernel`."""
    return {p for p in _link_patterns(rule, kernel) if not any(c in p for c in "*?[")}


# a rule question's answer: the cause why it does not act (None: it does), or _NO_EFFECT
_NO_EFFECT = EvaluatedCause("no-rule", None, "nothing the rule does applies to this event")
_Verdict = Optional[EvaluatedCause]


@dataclass(slots=True)  # one per rule and device asked about
class _RuleQuestion:
    finding: Finding
    rule: Rule
    where: Where
    device: Device
    action: str
    link: str = ""  # asked because of this symlink entry's link (a rule without KERNEL==)


@dataclass(slots=True)
class _LinkQuestion:
    finding: Finding
    link: str
    device: Device


@dataclass
class _Asked:
    links: list[_LinkQuestion] = field(default_factory=list)
    rules: list[_RuleQuestion] = field(default_factory=list)  # rules with a KERNEL== device
    rules_by_link: list[_RuleQuestion] = field(default_factory=list)


class Effects:
    """Asks the rule set the policies' questions and puts the answers on the findings."""

    def __init__(self, host: Host, files: RulesFiles, devices: Devices,
                 found: PolicyDevices | None = None) -> None:
        self.host = host
        self.files = files
        self.devices = found or PolicyDevices(host, devices)
        self.considered: set[Device] = set()  # other devices whose claims on a link were weighed

    def judge(self, policies: Sequence[DesiredPolicy], reports: Sequence[PolicyReport]) -> None:
        asked = _Asked()
        for policy, report in zip(policies, reports):
            self._questions(policy, report, asked)
        if not asked.links and not asked.rules:
            return  # nothing present to ask about: the rule set is not even read
        self._evaluate(asked)

    def _evaluate(self, asked: _Asked) -> None:
        in_order = rules_in_udev_order(self.host, self.files)
        rules_set = RuleSet.from_parsed(((f.path, f.parsed) for f in in_order), self.files.semantics)
        makers = LinkMakers(rules_set, [question.link for question in asked.links])
        links: list[_LinkQuestion] = []
        for question in asked.links:
            if makers.could_give(question.device.kernel, question.link):
                links.append(question)
            else:  # no rule can add it for this device: surely not made, nothing to evaluate
                said = f"no rules file has a rule that gives {question.device.kernel} this link"
                self._not_made(question, EvaluatedCause("no-rule", None, said))
        del makers  # an index of every line that makes links: not held while devices are evaluated
        # one slice per action for every question; each device evaluated once per action,
        # with the trace (for causes) only where a rule is asked about or a link is not made
        # A present device sees "add" and "change" events (and "remove" when it goes): udev
        # recomputes its links at each and removes those no rule gave it this time, so a
        # wanted link is asked of both. ("move" follows a rename, which block devices do
        # not do; "bind"/"unbind" concern drivers, not disks' nodes; "remove" takes every
        # link away anyway.)
        wanted: dict[str, _Questions] = {}
        asked_links: dict[Device, set[str]] = {}  # each device's links, for its causes
        for question in links:
            asked_links.setdefault(question.device, set()).add(question.link)
            for action in EVENTS:
                wanted.setdefault(action, _Questions()).links.add(question.link)
        resetters: list[Where] | None = None
        for rq in asked.rules + asked.rules_by_link:
            both = wanted.setdefault(rq.action, _Questions())
            both.wheres.add(rq.where)
            named = {rq.link} if rq.link else _rule_links(rq.rule, rq.device.kernel)
            both.links.update(named)  # a symlink entry's link, else the links the rule names
            asked_links.setdefault(rq.device, set()).update(named)
            if _programs(rq.rule):  # a RUN= or RUN:= anywhere may take its program away
                resetters = run_resetters(rules_set) if resetters is None else resetters
                both.wheres.update(resetters)
        # each device on its own cut of the action's slice: the lines for other devices
        # (a literal KERNEL== of another name) left out, so N disks cost N small sets
        slices = {action: ByKernel(slice_rules(rules_set, q.links, q.wheres)) for action, q in wanted.items()}
        # A trace is kept only while the device's questions are answered: devices are taken
        # one by one, and nothing kept grows with the number of devices.
        traced: dict[str, Evaluation] = {}  # the device's evaluations, by event

        def evaluation(device: Device, action: str) -> Evaluation:
            found = traced.get(action)
            if found is None:
                facts = self.devices.facts(device, action)
                cut = slices[action].for_kernel(device.kernel, asked_links.get(device, ()))
                found = traced[action] = evaluate(cut, facts, trace=True)
            return found

        # Device by device. A rule question's answer is put on its finding afterwards, in
        # the order asked (questions on one block share its finding).
        mine: dict[Device, tuple[list[_LinkQuestion], list[int], list[int]]] = {}
        for question in links:
            mine.setdefault(question.device, ([], [], []))[0].append(question)
        for i, rq in enumerate(asked.rules):
            mine.setdefault(rq.device, ([], [], []))[1].append(i)
        for i, rq in enumerate(asked.rules_by_link):
            mine.setdefault(rq.device, ([], [], []))[2].append(i)
        verdicts: list[_Verdict] = [_NO_EFFECT] * len(asked.rules)
        by_link: list[_Verdict] = [_NO_EFFECT] * len(asked.rules_by_link)  # not asked: no answer
        held: list[LinkHeld] = []  # made at every event: is it the device's against others?
        for own_links, own_rules, own_by_link in mine.values():
            traced.clear()  # the last device's
            not_made: set[str] = set()  # the device's links not surely made
            # the events whose trace a rule will surely ask for (a rule without KERNEL== is
            # asked only where its link is not surely made, and traced then)
            traced_at = {asked.rules[i].action for i in own_rules}
            for question in own_links:
                if not self._link_question(question, evaluation, traced_at, slices, rules_set, held):
                    not_made.add(question.link)
            for i in own_rules:
                rq = asked.rules[i]
                verdicts[i] = self._rule_verdict(rq, evaluation(rq.device, rq.action))
            for i in own_by_link:  # a rule without a KERNEL== of its own: only where its
                rq = asked.rules_by_link[i]  # link is not surely made
                if rq.link in not_made:
                    by_link[i] = self._rule_verdict(rq, evaluation(rq.device, rq.action))
        traced.clear()
        for rq, verdict in zip(asked.rules + asked.rules_by_link, verdicts + by_link):
            if verdict is not _NO_EFFECT:
                self._rule_answer(rq, verdict)
        untraced_at: dict[tuple[Device, str], Evaluation] = {}

        def untraced(device: Device, action: str) -> Evaluation:
            found = untraced_at.get((device, action))
            if found is None:
                cut = slices[action].for_kernel(device.kernel)
                found = evaluate(cut, self.devices.facts(device, action), trace=False)
                untraced_at[(device, action)] = found
            return found

        for action in list(slices):  # claims are weighed at add and change only
            if action not in EVENTS:
                del slices[action]
        claims = Claims(rules_set, self.devices, self._rule_text, untraced)
        claims.judge(held)
        self.considered = claims.considered

    def _link_question(self, question: _LinkQuestion, evaluation: Callable[[Device, str], Evaluation],
                       traced_at: set[str], slices: dict[str, ByKernel], rules_set: RuleSet,
                       held: list[LinkHeld]) -> bool:
        """Is the link made at every event? The answer goes on its finding; True when the
        link is surely made at add and at change."""
        device = question.device
        # the traced evaluation a rule question will need anyway answers the link too
        quick = evaluation(device, "add") if "add" in traced_at else \
            evaluate(slices["add"].for_kernel(device.kernel), self.devices.facts(device, "add"), trace=False)
        at_add = link_on_disk(quick, question.link)[0]
        if at_add is Tri.NO:
            self._link_answer(question, evaluation(device, "add"))
            return False
        if "change" in traced_at:
            at_change = link_on_disk(evaluation(device, "change"), question.link)[0]
        elif slices["change"].alike_at_change(device.kernel):
            # the lines that decide the link do the same at both events: the whole set's
            # answer at "change" is its answer at "add" (both slices answer as it does)
            at_change = at_add
        else:
            change = evaluate(slices["change"].for_kernel(device.kernel),
                              self.devices.facts(device, "change"), trace=False)
            at_change = link_on_disk(change, question.link)[0]
        if at_change is Tri.NO:  # made at add (or maybe), surely gone after a change
            self._removed_at_change(question, evaluation(device, "change"), rules_set, at_add is Tri.YES)
            return False
        if at_add is Tri.YES and at_change is Tri.YES:
            question.finding.effect = "yes"
            held.append(LinkHeld(question.finding, question.link.removeprefix("/dev/"), device))
            return True
        if at_add is not Tri.YES:
            self._link_answer(question, evaluation(device, "add"))
            return False
        self._link_answer(question, evaluation(device, "change"), "change")
        return True

    # --- what is asked ------------------------------------------------------------------
    def _questions(self, policy: DesiredPolicy, report: PolicyReport, asked: _Asked) -> None:
        entries = {entry.link: entry for entry in policy.symlinks}
        named: list[tuple[str, Device]] = []  # (link, device) of present symlink entries
        for finding in report.findings:
            entry = entries.get(finding.path) if finding.kind == "symlink" else None
            if entry is None or finding.status in ("absent", "ambiguous"):
                continue
            device = self.devices.for_symlink(entry, finding.device)
            if device is not None:
                asked.links.append(_LinkQuestion(finding, entry.link, device))
                named.append((entry.link, device))
        for finding in report.findings:
            if finding.kind != "rule" or finding.drift:
                continue
            for rule in finding.present_rules:
                where = Where(finding.path, rule.end_line)
                action = _action_of(rule)
                kernel = literal_kernel(rule)
                if kernel is not None:  # the rule names its device
                    device = self.devices.by_kernel(kernel)
                    if device is not None:
                        asked.rules.append(_RuleQuestion(finding, rule, where, device, action))
                    continue
                patterns = _link_patterns(rule)
                for link, device in named if patterns else ():
                    if any(fnmatchcase(link.removeprefix("/dev/"), p) for p in patterns):
                        asked.rules_by_link.append(_RuleQuestion(finding, rule, where, device, action, link))

    # --- what the answers do to the findings --------------------------------------------
    def _rule_at(self, where: Where) -> Rule | None:
        observed = self.files.get(where.file)
        return next((r for r in observed.parsed.rules if r.end_line == where.line), None)

    def _rule_text(self, where: Where) -> str:
        rule = self._rule_at(where)
        return rule.text.strip() if rule is not None else ""

    def _cause(self, cause: EvaluatedCause, event: str | None = None) -> Cause | None:
        if cause.where is None:
            return None
        rule = self._rule_at(cause.where)
        text = rule.text.strip() if rule is not None else ""
        return Cause(cause.where.file, cause.where.line, text, cause.why, cause.text, event)

    def _removed_at_change(self, question: _LinkQuestion, evaluation: Evaluation, rules: RuleSet,
                           made_at_add: bool) -> None:
        """The link is made at add (or may be), and the next "change" removes it."""
        finding = question.finding
        kernel = question.device.kernel
        cause = link_on_disk(evaluation, question.link)[1] \
            or EvaluatedCause("no-rule", None, "no rule names this link")
        senders = list(CHANGE_SENDERS)
        # the whole set, traced at add: the watch option is set by rules the slice drops
        watch = watched_by(rules, evaluate(rules, self.devices.facts(question.device, "add"), trace=True))
        if watch is not None:
            where, certain = watch
            senders.append(f"closing {kernel} after a write ({'' if certain else 'maybe: '}"
                           f'OPTIONS+="watch" at {where})')
        said = (f"the next change event removes it: {cause.text}; change events come from "
                + ", ".join(senders))
        finding.effect = "no"
        finding.cause = self._cause(cause, "change")
        if finding.status == "ok":
            finding.status, finding.drift = "not-made", True
            at_add = "udev makes it at add" if made_at_add else "whether udev makes it at add is not known"
            finding.message = f"{at_add}, but {said}"
        else:
            finding.details.append(f"udev would not keep it either: {said}")
        rule = self._rule_at(cause.where) if cause.where is not None else None
        fix = fix_sentence(rule) if rule is not None and add_only(rule) else None
        if fix is not None:
            finding.details.append(f"to fix: {fix}")

    def _not_made(self, question: _LinkQuestion, cause: EvaluatedCause) -> None:
        finding = question.finding
        kernel = question.device.kernel
        said = cause.text
        finding.effect = "no"
        finding.cause = self._cause(cause, "add")
        if finding.status == "ok":
            finding.status, finding.drift = "not-made", True
            finding.message = f"udev would not make it at the next event for {kernel}: {said}"
        else:
            finding.details.append(f"udev would not make it at the next event either: {said}")

    def _link_answer(self, question: _LinkQuestion, evaluation: Evaluation, event: str = "add") -> None:
        answer, cause = link_on_disk(evaluation, question.link)
        if answer is Tri.YES:
            question.finding.effect = "yes"
            return
        if answer is Tri.NO:
            self._not_made(question, cause or EvaluatedCause("no-rule", None, "no rule names this link"))
            return
        finding = question.finding
        finding.effect = "unknown"
        finding.effect_reason = cause.text if cause is not None else "not known offline"
        when = "the next event" if event == "add" else f"the next {event} event keeps it"
        finding.details.append(f"whether udev makes it at {when} is not known: " if event == "add"
                               else f"whether {when} is not known: ")
        finding.details[-1] += finding.effect_reason

    def _rule_verdict(self, question: _RuleQuestion, evaluation: Evaluation) -> _Verdict:
        """Why the rule does not act on its device at its event (None: it does), read off
        the evaluation; _NO_EFFECT: nothing it does applies to this event."""
        step = evaluation.step_at(question.where)
        if step is None or step.status == "no-effect":
            return _NO_EFFECT
        if step.status == "matched":
            cause = self._undone(question, evaluation)
            programs = _programs(question.rule)
            if cause is None and programs:
                cause = cause_of_missing_program(evaluation, step, programs)
            return cause
        return step_cause(evaluation, step)

    def _rule_answer(self, question: _RuleQuestion, cause: EvaluatedCause | None) -> None:
        finding = question.finding
        kernel = question.device.kernel
        if cause is None:
            finding.effect = finding.effect or "yes"
            return
        if cause.why == "unknown":
            if finding.effect != "no":
                finding.effect = "unknown"
                finding.effect_reason = cause.text
            finding.details.append(f"whether line {question.rule.line} acts on {kernel} is not known: "
                                   f"{cause.text}")
            return
        if cause.why not in RULE_DRIFT:
            return
        finding.effect = "no"
        sentence = f"line {question.rule.line} would not act on {kernel} ({question.action}): {cause.text}"
        if finding.status == "ok":
            finding.status, finding.drift = "ineffective", True
            finding.message = f"present, but {sentence}"
            finding.cause = self._cause(cause, question.action)
        else:
            finding.details.append(sentence)

    @staticmethod
    def _undone(question: _RuleQuestion, evaluation: Evaluation) -> EvaluatedCause | None:
        """A rule that ran: is a link it added taken away again, or was its SYMLINK ignored?"""
        for event in evaluation.link_events:
            if event.where != question.where:
                continue
            if event.kind == "ignored" and event.certain:
                # drift only where a link it names is then not made (by the := itself, say)
                names = _rule_links(question.rule, question.device.kernel)
                if any(evaluation.link(name) is Tri.NO for name in names):
                    return EvaluatedCause("final", event.final_at,
                                          f"its SYMLINK is ignored: the links were made final by "
                                          f"the SYMLINK:= at {event.final_at}")
            if event.kind == "add":
                for name in event.names:
                    if evaluation.link(name) is Tri.NO:
                        return evaluation.why_not(name)
        return None
