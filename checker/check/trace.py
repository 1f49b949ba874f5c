"""What `udev-drift explain` shows: the whole rule set applied to one device, read-only.

The target is a device (sdb, /dev/sdb) or a link (/dev/xapi/block/sdb, xapi/block/sdb):
a link that exists leads to its device; one that does not, to the device of the policy
entry that wants it. The trace lists every rule that matched the device, acted, or was
skipped by a GOTO, every rule whose outcome is not known, and the rules that name the
asked link but did not match; then the final links, properties and programs.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

from checker.check.claims import competing_claims
from checker.check.every_event import fix_sentence
from checker.check.named_devices import Device, PolicyDevices, kernel_of_node
from checker.errors import UsageError
from checker.evaluate.causes import link_on_disk
from checker.evaluate.engine import evaluate
from checker.evaluate.priority import creation_problem, made_on_disk
from checker.evaluate.result import Evaluation
from checker.evaluate.ruleset import RuleSet
from checker.evaluate.trace import Step
from checker.evaluate.values import Tri, Unknown, Value
from checker.host import Host
from checker.observe.devices import Devices
from checker.observe.files import RulesFiles, rules_in_udev_order
from checker.policy.desired import DesiredPolicy
from checker.policy.places import length_problem
from checker.records import dataclass, field
from checker.rules.semantics import DEFAULT, UdevSemantics

SHOWN = ("matched", "unknown", "not-reached")  # steps every trace shows


@dataclass
class Target:
    device: Device
    link: str | None  # relative to /dev, when a link was asked
    how: str  # how the device was found, for people


def find_target(name: str, host: Host, devices: Devices, policies: Sequence[DesiredPolicy]) -> Target:
    """The device (and link) `name` stands for, or a UsageError saying what was looked at."""
    finder = PolicyDevices(host, devices)
    if name.startswith("/sys/") and not host.is_tree:
        sys_path = os.path.realpath(name)
        if os.path.isdir(sys_path):
            return Target(Device(os.path.basename(sys_path), sys_path, None), None, name)
    relative = name.removeprefix("/dev/").strip("/")
    if not relative or ".." in relative.split("/"):
        raise UsageError(f"{name}: expected a device (sdb, /dev/sdb) or a link under /dev")
    link_path = f"/dev/{relative}"
    too_long = length_problem(host.path(link_path), "the link")
    if too_long:  # every look at the file system would fail with ENAMETOOLONG
        raise UsageError(f"{too_long}: expected a device (sdb, /dev/sdb) or a link under /dev")
    device = finder.by_kernel(relative.replace("/", "!"))  # a node: sdb, cciss/c0d0
    if device is not None:
        return Target(device, None, link_path)
    followed = host.follow(link_path)
    if followed is not None:
        resolved, st = followed
        if st is not None and (stat_module.S_ISBLK(st.st_mode) or stat_module.S_ISREG(st.st_mode)):
            device = finder.by_kernel(kernel_of_node(resolved))
            if device is not None and resolved != link_path:
                return Target(device, relative, f"{link_path} -> {resolved}")
    for policy in policies:
        for entry in policy.symlinks:
            if entry.link == link_path:
                device = finder.for_symlink(entry)
                if device is None:
                    raise UsageError(f"{name}: policy {policy.name} wants it for "
                                     f"{entry.device.describe()}, which is not present")
                return Target(device, relative, f"policy {policy.name}: {entry.device.describe()}")
    raise UsageError(f"{name}: no such device, no link to one, and no policy entry wants it "
                     f"(looked at {host.path(link_path)})")


# the events a present device sees (every one recomputes its links and run list); "remove"
# is shown for its programs: its links all go whatever the rules say
EVENTS = ("add", "change", "remove")


@dataclass
class Trace:
    target: Target
    action: str
    evaluation: Evaluation
    files: int
    events: dict[str, Evaluation] = field(default_factory=dict)  # the same device at each event
    fix: str | None = None  # how to write the rule whose link a change event removes
    udev_source: str = ""  # how the udev version was chosen (checker.observe.versions)
    # the asked link's competing claims at each event (checker.check.claims.competing_claims)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)

    def link_at(self, event: str) -> dict[str, str]:
        """The asked link at `event`: {"made": yes/no/unknown, "by": file:line | "why": ...}."""
        link = self.target.link
        assert link is not None
        ev = self.events[event]
        answer, cause = link_on_disk(ev, link)
        if answer is Tri.YES:
            adders = [e.where for e in ev.link_events if e.kind == "add" and link in e.names]
            return {"made": "yes", **({"by": str(adders[-1])} if adders else {})}
        if cause is None:
            return {"made": answer.value}
        step = ev.step_at(cause.where) if cause.where is not None and cause.why == "no-match" else None
        why = f"{step.decided_by} at {cause.where}" if step is not None and step.decided_by else cause.text
        return {"made": answer.value, "why": why}

    def programs_at(self, event: str) -> dict[str, list[str]]:
        run = self.events[event].state.run
        return {"yes": sorted(n for n, t in run.members.items() if t is Tri.YES),
                "maybe": sorted([n for n, t in run.members.items() if t is Tri.UNKNOWN] + list(run.patterns))}

    def _shown(self) -> list[Step]:
        templates = self.evaluation.rules.symlink_templates() if self.target.link else {}
        shown = []
        for step in self.evaluation.steps:
            names_link = bool(self.target.link) and any(
                fnmatchcase(self.target.link or "", pattern) for pattern in templates.get(step.where, ()))
            if step.status in SHOWN or names_link:
                shown.append(step)
        return shown

    def link_answer(self) -> tuple[str, str | None]:
        link = self.target.link
        assert link is not None
        answer, cause = link_on_disk(self.evaluation, link)
        return answer.value, cause.text if cause is not None else None

    def to_json(self) -> dict[str, Any]:
        ev = self.evaluation
        data: dict[str, Any] = {
            "device": self.target.device.kernel, "found_as": self.target.how, "action": self.action,
            "udev": self.evaluation.version, "rules_files": self.files,
            **({"udev_source": self.udev_source} if self.udev_source else {}),
            "steps": [{"file": s.where.file, "line": s.where.line, "status": s.status,
                       **({"why": s.why} if s.why else {}),
                       **({"did": list(s.effects)} if s.effects else {})} for s in self._shown()],
            "links": {"yes": sorted(n for n, t in ev.links.members.items() if t is Tri.YES),
                      "maybe": sorted([n for n, t in ev.links.members.items() if t is Tri.UNKNOWN]
                                      + list(ev.links.patterns)),
                      **({"not_created": not_created} if (not_created := _not_created(ev)) else {})},
            "properties": {name: _json_value(value) for name, value in sorted(ev.set_properties().items())},
            "programs": {"yes": sorted(n for n, t in ev.state.run.members.items() if t is Tri.YES),
                         "maybe": sorted([n for n, t in ev.state.run.members.items() if t is Tri.UNKNOWN]
                                         + list(ev.state.run.patterns))},
        }
        if self.target.link:
            answer, cause = self.link_answer()
            data["link"] = {"name": f"/dev/{self.target.link}", "made": answer,
                            **({"why": cause} if cause else {})}
        if self.events:
            data["events"] = {event: {**({"link": self.link_at(event)} if self.target.link
                                         and event != "remove" else {}),
                                      "programs": self.programs_at(event)} for event in self.events}
            if self.fix:
                data["events"]["change"]["fix"] = self.fix
            for event, claims in self.claims.items():
                if event in data["events"]:
                    data["events"][event]["claims"] = claims
        return data

    def render(self, write: Callable[[str], object]) -> None:
        data = self.to_json()
        write(f"udev-drift explain · {data['device']} ({self.target.how}) · action {self.action} · "
              f"{self.files} rules files · udev {self.evaluation.version} semantics"
              + (f" ({self.udev_source})" if self.udev_source else "") + "\n\n")
        marks = {"matched": "✓", "unknown": "?", "not-reached": "↷", "not-matched": "✗", "no-effect": "·"}
        for step in self._shown():
            line = f"  {marks.get(step.status, ' ')} {step.where}  {step.status}"
            if step.effects:
                line += ": " + "; ".join(step.effects)
            if step.why:
                line += f" ({step.why})"
            write(line + "\n")
        write("\n")
        links, programs = data["links"], data["programs"]
        write(f"links:      {', '.join(links['yes']) or '(none)'}\n")
        if links["maybe"]:
            write(f"  maybe:    {', '.join(links['maybe'])}\n")
        for name, why in links.get("not_created", {}).items():
            write(f"  {name}: {why}\n")
        props = data["properties"]
        said = ", ".join(f"{name}={_text(value)}" for name, value in props.items())
        write(f"properties: {said or '(none set)'}\n")
        write(f"programs:   {', '.join(programs['yes']) or '(none)'}\n")
        if programs["maybe"]:
            write(f"  maybe:    {', '.join(programs['maybe'])}\n")
        if self.target.link:
            answer, cause = self.link_answer()
            verdict = {"yes": "udev makes it", "no": "udev does not make it",
                       "unknown": "whether udev makes it is not known offline"}[answer]
            write(f"\n/dev/{self.target.link}: {verdict}" + (f": {cause}" if cause else "") + "\n")
        if self.events:
            write("\nevery event the device sees (udev recomputes its links and programs at each):\n")
            for event, said in data["events"].items():
                write(f"  {event}: {_event_line(event, said, data['events'])}\n")
            if self.fix:
                write(f"  to fix: {self.fix}\n")
            for event, claims in self.claims.items():
                write(f"  claims at {event}: {_claims_line(claims)}\n")


_VERDICTS = {"lost": "udev gives it to {by}", "kept": "this device keeps it",
             "tie": "the same link_priority as {by}: the order of events decides",
             "unknown": "who gets it is not known offline", "maybe": "{by} may claim it (not known offline)",
             "not made": "this device does not get it"}


def _claims_line(claims: dict[str, Any]) -> str:
    """"sdb (this device) yes, link_priority 0 by f:1; sdc yes, link_priority 100 by f:2 — ..."."""
    rows = []
    for i, row in enumerate(claims["claims"]):
        by = f" by {row['by']}" if "by" in row else ""
        rows.append(f"{row['device']}{' (this device)' if i == 0 else ''} {row['claims']}, "
                    f"link_priority {row['priority']}{by}")
    verdict = _VERDICTS.get(claims["verdict"], claims["verdict"]).format(by=claims.get("by", "?"))
    return "; ".join(rows) + f" — {verdict}"


def _event_line(event: str, said: dict[str, Any], events: dict[str, Any]) -> str:
    parts = []
    link = said.get("link")
    if link is not None:
        if link["made"] == "yes":
            parts.append(f"made by {link['by']}" if "by" in link else "made")
        else:
            words = "not made" if link["made"] == "no" else "maybe not made"
            why = f" ({link['why']})" if "why" in link else ""
            made_before = events.get("add", {}).get("link", {}).get("made") != "no"
            gone = event != "add" and link["made"] == "no" and made_before
            removed = " — the link is removed" if gone else ""
            parts.append(f"{words}{why}{removed}")
    elif event == "remove":
        parts.append("every link removed")
    programs = said["programs"]
    ran = ", ".join(programs["yes"]) or "none"
    maybe = f" (maybe: {', '.join(programs['maybe'])})" if programs["maybe"] else ""
    parts.append(f"programs: {ran}{maybe}")
    return "; ".join(parts)


def _not_created(evaluation: Evaluation) -> dict[str, str]:
    """The listed links udev does not create, or may not, with why (udev logs it, and
    DEVLINKS and the database still list them)."""
    found = {}
    for name in sorted(evaluation.links.members):
        made, why = made_on_disk(name, evaluation.links)
        if why is not None:
            problem = creation_problem(name)
            found[name] = f"not created: {problem}" if problem else f"maybe not created: {why}"
    return found


def _json_value(value: Value) -> Any:
    if isinstance(value, Unknown):
        return {"unknown": value.pattern}
    return value


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return f"? ({value['unknown']})"
    return "(removed)" if value is None else str(value)


def trace(target: Target, action: str, host: Host, devices: PolicyDevices,
          semantics: UdevSemantics = DEFAULT, udev_source: str = "") -> Trace:
    files = RulesFiles(host, semantics)
    in_order = rules_in_udev_order(host, files)
    rules = RuleSet.from_parsed(((f.path, f.parsed) for f in in_order), semantics)
    evaluation = evaluate(rules, devices.facts(target.device, action), trace=True)
    events = {event: evaluation if event == action else
              evaluate(rules, devices.facts(target.device, event), trace=True) for event in EVENTS}
    result = Trace(target, action, evaluation, len(in_order), events, udev_source=udev_source)
    if target.link:
        result.claims = competing_claims(rules, devices, target.device, target.link)
    if target.link and events["add"].link(target.link) is not Tri.NO \
            and events["change"].link(target.link) is Tri.NO:
        cause = events["change"].why_not(target.link)
        where = cause.where if cause is not None else None
        by_path = {f.path: f.parsed for f in in_order}
        rule = next((r for r in by_path[where.file].rules if r.end_line == where.line), None) \
            if where is not None and where.file in by_path else None
        result.fix = fix_sentence(rule) if rule is not None else None
    return result

