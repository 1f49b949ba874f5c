"""The devices the policies name, found on the host, and their facts read once per action:
what checker.check.effects asks the rule set about, and what the verdict cache is keyed
by. Nothing of the evaluator is imported here but the facts, when they are built, so that
a run answered from the verdict cache never imports it."""

from __future__ import annotations

import logging
import os
import re
import stat as stat_module
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from checker.check.rules import PlacedRules
from checker.findings import PolicyReport
from checker.host import Host
from checker.observe.devices import Devices, LiveDevices
from checker.policy.desired import DesiredPolicy, DesiredSymlink
from checker.records import NamedTuple, replace
from checker.rules.literal import literal_kernel
from checker.rules.model import Rule

if TYPE_CHECKING:
    from checker.evaluate.facts import DeviceFacts

log = logging.getLogger("udev-drift")

class Device(NamedTuple):
    """A device a question is about: its kernel name and where its facts are read (a
    tuple: the questions about N disks key their work by it)."""

    kernel: str
    sys_path: str | None  # the running host: its /sys directory
    node: str | None = None  # under --root: its /dev node (a host path), read when evaluated


class PolicyDevices:
    """Finds the devices the policies name and reads their facts once per action."""

    def __init__(self, host: Host, devices: Devices) -> None:
        self.host = host
        self.devices = devices
        self._facts: dict[tuple[Device, str], DeviceFacts] = {}
        self._present: dict[str, Device] | None = None
        self._by_kernel: dict[str, Device | None] = {}  # a disk's three rules name it thrice
        self._devnums: dict[Device, tuple[int, int] | None] = {}  # under --root
        # the sysfs attributes a live device's facts read: those the rules files can name
        # (attribute_names()); None reads every one
        self.attribute_names: frozenset[str] | None = None

    def _node_stat(self, node: str) -> os.stat_result | None:
        """lstat() of a node in the tree (a host path): once per check, as every path is
        while a check reads (Host.reading())."""
        try:
            return self.host.lstat(node)
        except OSError:
            return None

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
        if name not in self._by_kernel:
            self._by_kernel[name] = self._find_kernel(name)
        return self._by_kernel[name]

    def _find_kernel(self, name: str) -> Device | None:
        if "/" in name or name in ("", ".", ".."):
            return None
        if not self.host.is_tree:
            sys_path = os.path.realpath(f"/sys/class/block/{name}")
            return Device(name, sys_path) if os.path.isdir(sys_path) else None
        node = "/dev/" + name.replace("!", "/")
        lst = self._node_stat(node)
        if lst is None or not (stat_module.S_ISBLK(lst.st_mode) or stat_module.S_ISREG(lst.st_mode)):
            return None  # a regular file stands for a node in test trees and images; a link
        return Device(name, None, node)  # is another name, not the device's own

    def present(self) -> dict[str, Device]:
        """Every block device present, by kernel name: the devices whose claims on a link
        udev weighs. libudev's on the running host; under --root the tree's /dev nodes
        (block nodes, or regular files standing for them), as by_kernel() finds them."""
        if self._present is not None:
            return self._present
        found: dict[str, Device] = {}
        if isinstance(self.devices, LiveDevices) and not self.host.is_tree:
            found = {d.sys_name: Device(d.sys_name, d.sys_path) for d in self.devices.udev.devices}
        elif not self.host.is_tree:
            names = _listing("/sys/class/block")
            found = {name: device for name in names if (device := self.by_kernel(name)) is not None}
        else:
            names = _listing(self.host.path("/dev"))
            found = {name: device for name in names if (device := self.by_kernel(name)) is not None}
        self._present = found
        return found

    def what_decides(self, device: Device) -> DeviceFacts | tuple[str, tuple[int, int] | None]:
        """What the device's facts are made from, for the verdict cache's key: under --root
        its kernel name and node number (block_device_facts is made of them alone, and is
        not built for a hit); on a running host its facts as read."""
        if device.sys_path is not None:
            return self.facts(device, "add")
        return device.kernel, self._devnum(device)

    def facts(self, device: Device, action: str) -> DeviceFacts:
        if device.sys_path is None:
            # under --root the facts are the node's name and number alone: made again when
            # asked (a stat), not kept for every device of a large tree
            from checker.evaluate.facts import block_device_facts

            return block_device_facts(device.kernel, self._devnum(device), None, action)
        key = (device, action)
        added = self._facts.get((device, "add"))
        if key not in self._facts and action == "change" and added is not None:
            # what the add's facts say, but for a kernel event that may carry more properties
            # (DISK_MEDIA_CHANGE, RESIZE ...): the device is not read a second time
            self._facts[key] = replace(added, action="change", properties_complete=False,
                                       properties=MappingProxyType({**added.properties, "ACTION": "change"}))
        if key not in self._facts:
            from checker.evaluate.facts import block_device_facts
            from checker.observe.udev import UdevError, device_facts

            try:
                self._facts[key] = device_facts(device.sys_path, action, self.attribute_names)
            except UdevError as error:  # gone since it was found (hotplug): its name only
                log.debug("%s: %s; its facts are its kernel name alone", device.kernel, error)
                self._facts[key] = block_device_facts(device.kernel, None, None, action)
        return self._facts[key]

    def _devnum(self, device: Device) -> tuple[int, int] | None:
        """The number of the device's node in the tree (None: a stand-in file), read once
        a run: the verdict cache's key reads it for every device asked about first."""
        if device in self._devnums:
            return self._devnums[device]
        # the node path is the one a check resolved inside the tree: not a link
        st = self._node_stat(device.node) if device.node else None
        found = (os.major(st.st_rdev), os.minor(st.st_rdev)) \
            if st is not None and stat_module.S_ISBLK(st.st_mode) else None
        self._devnums[device] = found
        return found


def kernel_of_node(node: str) -> str:
    """The kernel name of a device node: its path under /dev, "/" spelt "!" (cciss!c0d0)."""
    return node.removeprefix("/dev/").replace("/", "!")


def _listing(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def devices_asked(found: PolicyDevices, policies: Sequence[DesiredPolicy],
                  reports: Sequence[PolicyReport]) -> set[Device]:
    """The devices checker.check.effects asks the rule set about for these findings: the
    device of each present symlink entry, and the device a kept rule names by a literal
    KERNEL== (a rule without one is asked about for the symlink entries' devices)."""
    asked: set[Device] = set()
    for policy, report in zip(policies, reports):
        entries = {entry.link: entry for entry in policy.symlinks}
        for finding in report.findings:
            if finding.kind == "symlink":
                entry = entries.get(finding.path)
                if entry is None or finding.status in ("absent", "ambiguous"):
                    continue
                device = found.for_symlink(entry, finding.device)
            elif finding.kind == "rule" and not finding.drift:
                for kernel in _kernels(finding.present_rules):
                    device = found.by_kernel(kernel) if kernel is not None else None
                    if device is not None:
                        asked.add(device)
                continue
            else:
                continue
            if device is not None:
                asked.add(device)
    return asked


def _kernels(rules: Sequence[Rule]) -> list[str | None]:
    """literal_kernel() of each rule; of rules placed as a policy's text, without parsing
    them (checker.check.rules.PlacedRules)."""
    if isinstance(rules, PlacedRules):
        return rules.kernels()
    return [literal_kernel(rule) for rule in rules]


# Whatever a rules file names in braces: ATTR{size}, ATTRS{vendor}, $attr{model}, %s{rev}
# (and ENV{...}, IMPORT{...}: a superset does no harm).
_BRACED = re.compile(rb"\{([^{}\n]*)\}")
_NESTED = re.compile(rb"\{[^{}\n]*\{")  # $attr{$env{X}}: a name made at run time
# a name that a continuation splits (udev joins ATTR{si\ and ze} into ATTR{size})
_CONTINUED = re.compile(rb"\{[^{}\r\n]*\\[\r\n]")


def attribute_names(texts: Iterable[bytes]) -> frozenset[str] | None:
    """The sysfs attribute names the rules files can read, from their bytes, or None when
    a name is made at run time ($attr{$env{X}}: every attribute must then be read). An
    attribute not named here is never asked, so a live device's facts read no more than
    these (a disk and its parents hold a few hundred files). A name the rules spell in a
    way this does not see (a C escape in e"...") is then unknown to the facts, never
    wrong: the answer that needs it is "unknown"."""
    names: set[str] = set()
    for text in texts:
        if _NESTED.search(text) or _CONTINUED.search(text):
            return None
        for raw in _BRACED.findall(text):
            if b"/" in raw:
                continue  # below the device's directory: only its top level is read
            if b"$" in raw or b"%" in raw:
                return None
            names.add(raw.decode("utf-8", "surrogateescape").strip())
    return frozenset(names)
