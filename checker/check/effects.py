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
import os
import stat as stat_module
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from checker.evaluate.causes import Cause as EvaluatedCause
from checker.evaluate.causes import step_cause
from checker.evaluate.engine import RuleSet, evaluate, symlink_patterns
from checker.evaluate.facts import DeviceFacts, block_device_facts
from checker.evaluate.glob import Matcher
from checker.evaluate.result import Evaluation, Where
from checker.evaluate.slice import LinkMakers, slice_rules
from checker.evaluate.values import Tri
from checker.findings import Cause, Finding, PolicyReport
from checker.host import Host
from checker.observe.devices import Devices, LiveDevices
from checker.observe.files import RulesFiles, rules_in_udev_order
from checker.policy.desired import DesiredPolicy, DesiredSymlink
from checker.rules.canonical import normalize_substitutions
from checker.rules.model import Rule

log = logging.getLogger("udev-drift")

# Causes that make a present rule drift; "no-match" only says the rule is not for this
# device, which the symlink entry's own question decides.
RULE_DRIFT = frozenset(("goto", "reset", "final", "order"))


@dataclass(frozen=True)
class Device:
    """A device a question is about: its kernel name and where its facts are read."""

    kernel: str
    sys_path: str | None  # the running host: its /sys directory
    node: str | None = None  # under --root: its /dev node (a host path), read when evaluated


@dataclass
class _Questions:
    links: set[str] = field(default_factory=set)
    wheres: set[Where] = field(default_factory=set)


class PolicyDevices:
    """Finds the devices the policies name and reads their facts once per action."""

    def __init__(self, host: Host, devices: Devices) -> None:
        self.host = host
        self.devices = devices
        self._facts: dict[tuple[Device, str], DeviceFacts] = {}

    def for_symlink(self, entry: DesiredSymlink, node: str | None = None) -> Device | None:
        """The entry's device; `node` is the node a check already found for it (--root)."""
        if isinstance(self.devices, LiveDevices) and not self.host.is_tree:
            found = self.devices.find(entry.device)
            return Device(found[0].sys_name, found[0].sys_path) if len(found) == 1 else None
        if node is None and not isinstance(self.devices, LiveDevices):
            node, _ = self.devices.find(entry.device)
        return Device(kernel_of_node(node), None, node) if node is not None else None

    def by_kernel(self, name: str) -> Device | None:
        """The block device of that kernel name ("cciss!c0d0" is /dev/cciss/c0d0)."""
        if "/" in name or name in ("", ".", ".."):
            return None
        if not self.host.is_tree:
            sys_path = os.path.realpath(f"/sys/class/block/{name}")
            return Device(name, sys_path) if os.path.isdir(sys_path) else None
        node = "/dev/" + name.replace("!", "/")
        lst = self.host.lstat(node)
        if lst is None or not (stat_module.S_ISBLK(lst.st_mode) or stat_module.S_ISREG(lst.st_mode)):
            return None  # a regular file stands for a node in test trees and images; a link
        return Device(name, None, node)  # is another name, not the device's own

    def facts(self, device: Device, action: str) -> DeviceFacts:
        key = (device, action)
        if key not in self._facts:
            if device.sys_path is not None:
                from checker.observe.udev import UdevError, device_facts

                try:
                    self._facts[key] = device_facts(device.sys_path, action)
                except UdevError as error:  # gone since it was found (hotplug): its name only
                    log.debug("%s: %s; its facts are its kernel name alone", device.kernel, error)
                    self._facts[key] = block_device_facts(device.kernel, None, None, action)
            else:
                # the node path is the one a check resolved inside the tree: not a link
                st = _lstat(self.host.path(device.node)) if device.node else None
                devnum = (os.major(st.st_rdev), os.minor(st.st_rdev)) \
                    if st is not None and stat_module.S_ISBLK(st.st_mode) else None
                self._facts[key] = block_device_facts(device.kernel, devnum, None, action)
        return self._facts[key]


def kernel_of_node(node: str) -> str:
    """The kernel name of a device node: its path under /dev, "/" spelt "!" (cciss!c0d0)."""
    return node.removeprefix("/dev/").replace("/", "!")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _literal_kernel(rule: Rule) -> str | None:
    """The one device a rule names by KERNEL=="sdb" (no pattern, no alternatives)."""
    for token in rule.tokens:
        if token.key == "KERNEL" and token.op == "==":
            matcher = Matcher.of(token.value)
            if matcher.kind == "plain" and len(matcher.alternatives) == 1 and not matcher.with_empty:
                return matcher.alternatives[0]
    return None


def _action_of(rule: Rule) -> str:
    for token in rule.tokens:
        if token.key == "ACTION" and token.op == "==":
            matcher = Matcher.of(token.value)
            if matcher.kind == "plain" and len(matcher.alternatives) == 1:
                return matcher.alternatives[0]
    return "add"


def _link_patterns(rule: Rule, kernel: str | None = None) -> list[str]:
    """fnmatch patterns of the links the rule's SYMLINK values can name (substitutions:
    *, but %k is `kernel` when given)."""
    patterns: list[str] = []
    for token in rule.tokens:
        if token.key == "SYMLINK" and token.op in ("+=", "=", ":="):
            template = normalize_substitutions(token.value)
            patterns += symlink_patterns(template.replace("%k", kernel) if kernel else template)
    return patterns


def _rule_links(rule: Rule, kernel: str) -> set[str]:
    """The plain link names the rule's SYMLINK values give `kernel`."""
    return {p for p in _link_patterns(rule, kernel) if not any(c in p for c in "*?[")}


@dataclass
class _RuleQuestion:
    finding: Finding
    rule: Rule
    where: Where
    device: Device
    action: str
    link: str = ""  # asked because of this symlink entry's link (a rule without KERNEL==)


@dataclass
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

    def __init__(self, host: Host, files: RulesFiles, devices: Devices) -> None:
        self.host = host
        self.files = files
        self.devices = PolicyDevices(host, devices)

    def judge(self, policies: Sequence[DesiredPolicy], reports: Sequence[PolicyReport]) -> None:
        asked = _Asked()
        for policy, report in zip(policies, reports):
            self._questions(policy, report, asked)
        if not asked.links and not asked.rules:
            return  # nothing present to ask about: the rule set is not even read
        in_order = rules_in_udev_order(self.host, self.files)
        rules_set = RuleSet.from_parsed(((f.path, f.parsed) for f in in_order), self.files.semantics)
        makers = LinkMakers(rules_set)
        links: list[_LinkQuestion] = []
        for question in asked.links:
            if makers.could_give(question.device.kernel, question.link):
                links.append(question)
            else:  # no rule can add it for this device: surely not made, nothing to evaluate
                said = f"no rules file has a rule that gives {question.device.kernel} this link"
                self._not_made(question, EvaluatedCause("no-rule", None, said))
        # one slice per action for every question; each device evaluated once per action,
        # with the trace (for causes) only where a rule is asked about or a link is not made
        wanted: dict[str, _Questions] = {}
        for question in links:
            wanted.setdefault("add", _Questions()).links.add(question.link)
        for rq in asked.rules + asked.rules_by_link:
            both = wanted.setdefault(rq.action, _Questions())
            both.wheres.add(rq.where)
            if rq.link:  # asked for a symlink entry's link: that is the link in question
                both.links.add(rq.link)
            else:
                both.links.update(_rule_links(rq.rule, rq.device.kernel))
        slices = {action: slice_rules(rules_set, q.links, q.wheres) for action, q in wanted.items()}
        traced: dict[tuple[Device, str], Evaluation] = {}

        def evaluation(device: Device, action: str) -> Evaluation:
            if (device, action) not in traced:
                facts = self.devices.facts(device, action)
                traced[(device, action)] = evaluate(slices[action], facts, trace=True)
            return traced[(device, action)]

        not_made: set[tuple[str, Device]] = set()
        for question in links:
            quick = evaluate(slices["add"], self.devices.facts(question.device, "add"), trace=False)
            if quick.link(question.link) is Tri.YES:
                question.finding.effect = "yes"
                continue
            not_made.add((question.link, question.device))
            self._link_answer(question, evaluation(question.device, "add"))
        for rq in asked.rules:
            self._rule_answer(rq, evaluation(rq.device, rq.action))
        for rq in asked.rules_by_link:  # a rule without a KERNEL== of its own: only where
            if (rq.link, rq.device) in not_made:  # its link is not surely made
                self._rule_answer(rq, evaluation(rq.device, rq.action))

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
                kernel = _literal_kernel(rule)
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
    def _cause(self, cause: EvaluatedCause) -> Cause | None:
        if cause.where is None:
            return None
        observed = self.files.get(cause.where.file)
        text = next((r.text.strip() for r in observed.parsed.rules if r.end_line == cause.where.line), "")
        return Cause(cause.where.file, cause.where.line, text, cause.why, cause.text)

    def _not_made(self, question: _LinkQuestion, cause: EvaluatedCause) -> None:
        finding = question.finding
        kernel = question.device.kernel
        said = cause.text
        finding.effect = "no"
        finding.cause = self._cause(cause)
        if finding.status == "ok":
            finding.status, finding.drift = "not-made", True
            finding.message = f"udev would not make it at the next event for {kernel}: {said}"
        else:
            finding.details.append(f"udev would not make it at the next event either: {said}")

    def _link_answer(self, question: _LinkQuestion, evaluation: Evaluation) -> None:
        answer = evaluation.link(question.link)
        if answer is Tri.YES:
            question.finding.effect = "yes"
            return
        cause = evaluation.why_not(question.link)
        if answer is Tri.NO:
            self._not_made(question, cause or EvaluatedCause("no-rule", None, "no rule names this link"))
            return
        finding = question.finding
        finding.effect = "unknown"
        finding.effect_reason = cause.text if cause is not None else "not known offline"
        finding.details.append(f"whether udev makes it at the next event is not known: "
                               f"{finding.effect_reason}")

    def _rule_answer(self, question: _RuleQuestion, evaluation: Evaluation) -> None:
        step = evaluation.step_at(question.where)
        if step is None or step.status == "no-effect":  # nothing it does applies to this event
            return
        if step.status == "matched":
            cause = self._undone(question, evaluation)
        else:
            cause = step_cause(evaluation, step)
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
            finding.cause = self._cause(cause)
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
