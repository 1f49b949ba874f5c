"""`udev-drift suggest`: rules and links that name a disk by its kernel name, and the
stable key to use for that disk on this host.

Kernel names (sdb, nvme0n1, dm-3) are handed out in the order disks are found, which can
change between boots: a rule with KERNEL=="sdb" then acts on another disk. Serials and
WWNs stay. This reads the policies and, through libudev, the running host's disks; it
changes nothing. Without libudev the warnings stand, without this host's serials.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Callable

from checker.check.every_event import every_event_rules
from checker.observe.udev import IDENTITY_KEYS, BlockDevice, UdevState
from checker.policy.desired import DesiredPolicy, DesiredRules, DesiredSymlink
from checker.records import dataclass, field

log = logging.getLogger("udev-drift")

# Names the kernel hands out in discovery order; a partition adds a number (p1 on nvme/mmc).
UNSTABLE = re.compile(r"(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|mmcblk\d+|sr\d+|dm-\d+|md\d+)"
                      r"(p?\d+)?")
GLOB = re.compile(r"[*?\[]")
# udev sets ID_SERIAL, ID_WWN and ID_PATH here; a rules file read before it cannot match them
# on an "add" event.
PERSISTENT_STORAGE = "60-persistent-storage.rules"


@dataclass
class Suggestion:
    policy: str
    policy_path: str
    entry: str  # rules[0][sdb], symlinks[1]
    kind: str  # rule | symlink | event (a link a change event would remove)
    where: str  # the rules file, or the link
    kernel: str  # the unstable name: sdb
    said: str  # how the policy says it: KERNEL=="sdb", target: /dev/sdb
    rules: list[int] = field(default_factory=list)  # content lines of the rules using it
    device: BlockDevice | None = None  # the disk of that name on this host, if any
    keys: list[str] = field(default_factory=list)  # stable matches, best first
    policy_form: dict[str, str] | None = None  # symlinks: device: {serial: ...}
    rewritten: str | None = None  # the first rule with the stable key in place of KERNEL
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "policy": self.policy, "path": self.policy_path, "entry": self.entry, "kind": self.kind,
            "where": self.where, "kernel": self.kernel, "said": self.said, "present": self.device is not None,
            "keys": self.keys, "notes": self.notes}
        if self.rules:
            data["content_lines"] = self.rules
        if self.device is not None:
            data["device"] = {"node": self.device.node, **{by: values[0] for by in ("serial", "wwn", "path")
                                                          if (values := self.device.identity(by))}}
        if self.policy_form is not None:
            data["device_form"] = self.policy_form
        if self.rewritten is not None:
            data["rewritten"] = self.rewritten
        return data


def unstable_names(value: str) -> list[str]:
    """The literal kernel names in a KERNEL match value ("sdb|sdc"); globs name no disk."""
    return [name for name in value.split("|") if not GLOB.search(name) and UNSTABLE.fullmatch(name)]


def _match_keys(device: BlockDevice) -> list[str]:
    """ENV matches that name this disk (or partition) whatever its kernel name."""
    if device.is_partition:
        qualifier = 'ENV{DEVTYPE}=="partition"'
        number = device.properties.get("ID_PART_ENTRY_NUMBER")
        suffix = f', ENV{{ID_PART_ENTRY_NUMBER}}=="{number}"' if number else ""
    else:
        # Partitions inherit their disk's ID_SERIAL: without DEVTYPE the rule would match them too.
        qualifier, suffix = 'ENV{DEVTYPE}=="disk"', ""
    keys = []
    for names in IDENTITY_KEYS.values():  # serial, wwn, path: the first property udev set
        key = next((name for name in names if device.properties.get(name)), None)
        if key:
            keys.append(f'{qualifier}, ENV{{{key}}}=="{device.properties[key]}"{suffix}')
    return keys


def _policy_form(device: BlockDevice) -> dict[str, str] | None:
    for by in ("serial", "wwn", "path"):
        values = device.identity(by)
        if values:
            return {by: values[0]}
    return None


def _lookup(suggestion: Suggestion, udev: UdevState | None) -> None:
    name = suggestion.kernel
    if udev is None:
        suggestion.notes.append(f"libudev is not available here: on the host, run `udevadm info "
                                f"--query=property --name=/dev/{name}` for its ID_SERIAL and ID_WWN")
        return
    device = udev.by_name.get(name)
    if device is None:
        suggestion.notes.append(f"{name} is not on this host now: run suggest where it is, or read "
                                f"its serial there with `udevadm info --query=property --name=/dev/{name}`")
        return
    suggestion.device = device
    suggestion.keys = _match_keys(device)
    suggestion.policy_form = _policy_form(device)
    if not suggestion.keys:
        suggestion.notes.append(f"udev knows no serial, WWN or path for {name}" if device.initialized
                                else f"udev has not processed {name} (it has no entry in udev's "
                                "database): is systemd-udevd running?")


def _rule_suggestions(policy: DesiredPolicy, entry: DesiredRules, udev: UdevState | None) -> list[Suggestion]:
    found: dict[str, Suggestion] = {}
    for rule in entry.rules:
        for token in rule.tokens:
            if token.key != "KERNEL" or token.op != "==":
                continue
            for name in unstable_names(token.value):
                if name not in found:
                    found[name] = Suggestion(policy.name, policy.path, entry.entry, "rule", entry.file,
                                             name, f'KERNEL=="{token.value}"')
                    _lookup(found[name], udev)
                    if found[name].keys and token.value == name:
                        found[name].rewritten = _rewrite(rule.text, token.column, found[name].keys[0])
                found[name].rules.append(rule.line)
    for suggestion in found.values():
        if suggestion.keys and entry.file.rsplit("/", 1)[-1] < PERSISTENT_STORAGE:
            suggestion.notes.append(
                f"udev reads {entry.file.rsplit('/', 1)[-1]} before {PERSISTENT_STORAGE}, which sets "
                "ID_SERIAL, ID_WWN and ID_PATH: on an add event they are not set yet. Put the rule in "
                f"a file that sorts after it, such as /etc/udev/rules.d/61-{policy.name}.rules")
    return list(found.values())


def _rewrite(text: str, column: int, key: str) -> str | None:
    start = column - 1
    match = re.compile(r'KERNEL\s*==\s*"(?:[^"\\]|\\.)*"').match(text, start)
    return text[:start] + key + text[match.end():] if match else None


def _symlink_suggestion(policy: DesiredPolicy, entry: DesiredSymlink,
                        udev: UdevState | None) -> Suggestion | None:
    ref = entry.device
    if ref.by == "kernel":
        name, said = ref.value, f"device: {{kernel: {ref.value}}}"
    elif ref.by == "node" and ref.value.startswith("/dev/") and UNSTABLE.fullmatch(ref.value[5:]):
        name, said = ref.value[5:], f"target: {ref.value}"
    else:
        return None
    suggestion = Suggestion(policy.name, policy.path, entry.entry, "symlink", entry.link, name, said)
    _lookup(suggestion, udev)
    return suggestion


def _add_only_suggestions(policy: DesiredPolicy, entry: DesiredRules) -> list[Suggestion]:
    """Rules that make a link at "add" only: the next "change" removes it (udev recomputes
    a device's links at every event)."""
    found = []
    for rule in entry.rules:
        rewritten = every_event_rules(rule)
        if rewritten is None:
            continue
        kernel = next((t.value for t in rule.tokens if t.key == "KERNEL" and t.op == "=="), "")
        found.append(Suggestion(policy.name, policy.path, entry.entry, "event", entry.file, kernel,
                                'ACTION=="add"', [rule.line], rewritten=" / ".join(rewritten)))
    return found


def add_only_links(policies: Sequence[DesiredPolicy]) -> list[Suggestion]:
    """Every policy rule whose link a change event would remove, with how to write it."""
    return [found for policy in policies for rules in policy.rules if rules.ensure != "absent"
            for found in _add_only_suggestions(policy, rules)]


def suggestions(policies: Sequence[DesiredPolicy], udev: UdevState | None) -> list[Suggestion]:
    """Every rule match and symlink entry that relies on a kernel name, with what to use."""
    found: list[Suggestion] = []
    for policy in policies:
        for rules in policy.rules:
            if rules.ensure != "absent":  # a rule that must be absent is never acted on
                found += _rule_suggestions(policy, rules, udev)
        for symlink in policy.symlinks:
            suggestion = _symlink_suggestion(policy, symlink, udev)
            if suggestion is not None:
                found.append(suggestion)
    return found


def render(found: Sequence[Suggestion], write: Callable[[str], object]) -> None:
    current = None
    for item in found:
        if (item.policy_path, item.policy) != current:
            current = (item.policy_path, item.policy)
            write(f"\n{item.policy_path}: policy {item.policy}\n")
        if item.kind == "event":
            write(f"  ! {item.entry} {item.where}: content line {item.rules[0]} makes its link with "
                  f"{item.said} only: the next change event (udevadm trigger, a partition table "
                  "re-read, closing a watched disk after a write) removes it\n")
            write(f"      make the link on every event but remove, the rest on add: {item.rewritten}\n")
            continue
        if item.kind == "rule":
            lines = ", ".join(str(n) for n in item.rules)
            write(f"  ! {item.entry} {item.where}: {item.said} names a disk by its kernel name, "
                  f"which can change at boot (content line{'s' if len(item.rules) > 1 else ''} {lines})\n")
        else:
            write(f"  ! {item.entry} {item.where}: {item.said} names the disk by its kernel name, "
                  "which can change at boot\n")
        if item.device is not None:
            write(f"      on this host {item.kernel} is {item.device.describe()}\n")
        if item.kind == "rule":
            for number, key in enumerate(item.keys):
                write(f"      {'match it with' if number == 0 else 'or'}: {key}\n")
            if item.rewritten:
                write(f"      the rule becomes: {item.rewritten}\n")
        elif item.policy_form:
            by, value = next(iter(item.policy_form.items()))
            write(f"      use: device: {{{by}: {_yaml_scalar(value)}}}\n")
        for note in item.notes:
            write(f"      note: {note}\n")


def _yaml_scalar(value: str) -> str:
    """The value as YAML reads back as the same string: 0x5000... would load as a number."""
    import yaml

    try:
        plain = yaml.safe_load(f"{{k: {value}}}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain else "'" + value.replace("'", "''") + "'"
