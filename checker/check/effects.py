"""Does what a policy wants take effect at the next event? The rule set as udev 252
applies it (checker.evaluate), asked for the devices the policies name.

Two questions, on top of the text and link checks:
- a symlink entry whose device is present: will udev give the device the link at its
  next "add" (boot, hotplug, trigger)? No: drift ("not-made"), with the cause.
- a wanted rule that a file holds: is it reached, and does it act, for the device it
  names (a literal KERNEL=="sdb" of a present device, or the device of a symlink entry
  whose link it makes)? A link that no rule names at all is not judged here (a link made
  by hand: the live check's udev database question). Skipped by a GOTO, never matching because it reads a property
  that only a later rule sets, or its links replaced by a later SYMLINK= or made final
  before it by a SYMLINK:= -> drift ("ineffective"), with the cause.
An answer that cannot be known offline (a PROGRAM's output, an attribute not in the facts)
is "effect": "unknown" with the reason, and never drift.

Only what these questions need is evaluated: the rule set is read only when a question
is asked, a device only when some rule could give it the link, and every device on one
slice of the rule set (checker.evaluate.slice).
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Sequence
from dataclasses import dataclass, field

from checker.evaluate.causes import Cause as EvaluatedCause
from checker.evaluate.causes import step_cause
from checker.evaluate.engine import RuleSet, evaluate
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
from checker.rules.model import Rule

# Causes that make a present rule drift; "no-match" only says the rule is not for this
# device, which the symlink entry's own question decides.
RULE_DRIFT = frozenset(("goto", "reset", "final", "order"))


@dataclass(frozen=True)
class Device:
    """A device a question is about: its kernel name and how its facts are read."""

    kernel: str
    sys_path: str | None  # the running host: its /sys directory
    devnum: tuple[int, int] | None  # under --root: the node's number (None: a stand-in file)


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

    def for_symlink(self, entry: DesiredSymlink) -> Device | None:
        if isinstance(self.devices, LiveDevices):
            found = self.devices.find(entry.device)
            return Device(found[0].sys_name, found[0].sys_path, None) if len(found) == 1 else None
        node, st = self.devices.find(entry.device)
        if node is None or st is None:
            return None
        return self._tree_device(node, st)

    def by_kernel(self, name: str) -> Device | None:
        if "/" in name or name in ("", ".", ".."):
            return None
        if not self.host.is_tree:
            sys_path = os.path.realpath(f"/sys/class/block/{name}")
            return Device(name, sys_path, None) if os.path.isdir(sys_path) else None
        st = self.host.stat_resolved(f"/dev/{name}")
        return self._tree_device(f"/dev/{name}", st) if st is not None else None

    @staticmethod
    def _tree_device(node: str, st: os.stat_result) -> Device | None:
        if stat_module.S_ISBLK(st.st_mode):
            return Device(os.path.basename(node), None, (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if stat_module.S_ISREG(st.st_mode):  # a stand-in for a node, as in a test tree
            return Device(os.path.basename(node), None, None)
        return None

    def facts(self, device: Device, action: str) -> DeviceFacts:
        key = (device, action)
        if key not in self._facts:
            if device.sys_path is not None:
                from checker.observe.udev import device_facts

                self._facts[key] = device_facts(device.sys_path, action)
            else:
                self._facts[key] = block_device_facts(device.kernel, device.devnum, None, action)
        return self._facts[key]


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
        if token.key == "ACTION" and token.op == "==" and Matcher.of(token.value).kind == "plain":
            alternatives = Matcher.of(token.value).alternatives
            if len(alternatives) == 1:
                return alternatives[0]
    return "add"


def _rule_links(rule: Rule, kernel: str) -> set[str]:
    """The plain link names the rule's SYMLINK values give `kernel` (%k known)."""
    from checker.evaluate.engine import symlink_patterns
    from checker.rules.canonical import normalize_substitutions

    names: set[str] = set()
    for token in rule.tokens:
        if token.key == "SYMLINK" and token.op in ("+=", "=", ":="):
            template = normalize_substitutions(token.value).replace("%k", kernel)
            names.update(p for p in symlink_patterns(template) if not any(c in p for c in "*?["))
    return names


def _could_name(rule: Rule, link: str, kernel: str) -> bool:
    from fnmatch import fnmatchcase

    from checker.evaluate.engine import symlink_patterns
    from checker.rules.canonical import normalize_substitutions

    link = link.removeprefix("/dev/")
    for token in rule.tokens:
        if token.key == "SYMLINK" and token.op in ("+=", "=", ":="):
            template = normalize_substitutions(token.value).replace("%k", kernel)
            if any(fnmatchcase(link, p) for p in symlink_patterns(template)):
                return True
    return False


@dataclass
class _RuleQuestion:
    finding: Finding
    rule: Rule
    where: Where
    device: Device
    action: str


@dataclass
class _LinkQuestion:
    finding: Finding
    link: str
    device: Device


class Effects:
    """Asks the rule set the policies' questions and puts the answers on the findings."""

    def __init__(self, host: Host, files: RulesFiles, devices: Devices) -> None:
        self.host = host
        self.files = files
        self.devices = PolicyDevices(host, devices)

    def judge(self, policies: Sequence[DesiredPolicy], reports: Sequence[PolicyReport]) -> None:
        link_questions: list[_LinkQuestion] = []
        rule_questions: list[_RuleQuestion] = []
        for policy, report in zip(policies, reports):
            links, rules = self._questions(policy, report)
            link_questions += links
            rule_questions += rules
        if not link_questions and not rule_questions:
            return  # nothing present to ask about: the rule set is not even read
        in_order = rules_in_udev_order(self.host, self.files)
        rules_set = RuleSet.from_parsed((f.path, f.parsed) for f in in_order)
        makers = LinkMakers(rules_set)
        asked: dict[str, _Questions] = {}  # per action
        for_device: dict[tuple[Device, str], _Questions] = {}
        for question in link_questions:
            if not makers.could_give(question.device.kernel, question.link):
                # Not an effect question: nothing in the rules sets out to make it. On the
                # running host the database check says whether it was made by hand.
                question.finding.details.append(
                    f"no rules file names this link for {question.device.kernel}: whether it "
                    "survives the next event is not judged from the rules")
                continue
            asked.setdefault("add", _Questions()).links.add(question.link)
            for_device.setdefault((question.device, "add"), _Questions()).links.add(question.link)
        for rq in rule_questions:
            both = asked.setdefault(rq.action, _Questions())
            both.wheres.add(rq.where)
            both.links.update(_rule_links(rq.rule, rq.device.kernel))
            for_device.setdefault((rq.device, rq.action), _Questions())
        slices = {action: slice_rules(rules_set, q.links, q.wheres) for action, q in asked.items()}
        evaluations = {key: evaluate(slices[key[1]], self.devices.facts(*key)) for key in for_device}
        for question in link_questions:
            evaluation = evaluations.get((question.device, "add"))
            if evaluation is not None:
                self._link_answer(question, evaluation)
        for rq in rule_questions:
            self._rule_answer(rq, evaluations[(rq.device, rq.action)])

    # --- what is asked ------------------------------------------------------------------
    def _questions(self, policy: DesiredPolicy, report: PolicyReport
                   ) -> tuple[list[_LinkQuestion], list[_RuleQuestion]]:
        entries = {entry.link: entry for entry in policy.symlinks}
        links: list[_LinkQuestion] = []
        named: list[tuple[str, Device]] = []  # (link, device) of present symlink entries
        for finding in report.findings:
            entry = entries.get(finding.path) if finding.kind == "symlink" else None
            if entry is None or finding.status in ("absent", "ambiguous"):
                continue
            device = self.devices.for_symlink(entry)
            if device is not None:
                links.append(_LinkQuestion(finding, entry.link, device))
                named.append((entry.link, device))
        rules: list[_RuleQuestion] = []
        for finding in report.findings:
            if finding.kind != "rule" or finding.drift:
                continue
            for rule in finding.present_rules:
                where = Where(finding.path, rule.end_line)
                devices = self._devices_of(rule, named)
                rules += [_RuleQuestion(finding, rule, where, d, _action_of(rule)) for d in devices]
        return links, rules

    def _devices_of(self, rule: Rule, named: Sequence[tuple[str, Device]]) -> list[Device]:
        found: list[Device] = []
        kernel = _literal_kernel(rule)
        if kernel is not None:
            device = self.devices.by_kernel(kernel)
            if device is not None:
                found.append(device)
        for link, device in named:
            if device not in found and (kernel is None or kernel == device.kernel) \
                    and _could_name(rule, link, device.kernel):
                found.append(device)
        return found

    # --- what the answers do to the findings --------------------------------------------
    def _cause(self, cause: EvaluatedCause) -> Cause | None:
        if cause.where is None:
            return None
        observed = self.files.get(cause.where.file)
        text = next((r.text.strip() for r in observed.parsed.rules if r.end_line == cause.where.line), "")
        return Cause(cause.where.file, cause.where.line, text, cause.why, cause.text)

    def _not_made(self, question: _LinkQuestion, cause: EvaluatedCause | None) -> None:
        finding = question.finding
        kernel = question.device.kernel
        said = cause.text if cause is not None else "no rule that names it gives it to this device"
        finding.effect = "no"
        finding.cause = self._cause(cause) if cause is not None else None
        if finding.status == "ok" or finding.status == "unknown-to-udev":
            if finding.status != "ok":
                finding.add_reasons([f"{finding.status}: {finding.message}"])
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
            self._not_made(question, cause)
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
                return EvaluatedCause("final", event.final_at,
                                      f"its SYMLINK is ignored: the links were made final by the "
                                      f"SYMLINK:= at {event.final_at}")
            if event.kind == "add":
                for name in event.names:
                    if evaluation.link(name) is Tri.NO:
                        return evaluation.why_not(name)
        return None
