"""What is known of one device for one event: plain values; whatever is not here is unknown.

An attribute missing from `attributes` is UNKNOWN, not absent: only `absent_attributes`
(or `attributes_complete`) says that sysfs has no such file. The same for properties
(`properties_complete`: the kernel's uevent properties are all here), tags, and parents
(`parents_complete`: the chain ends where the list ends).
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from types import MappingProxyType

from checker.evaluate.values import ANYTHING, Unknown, Value
from checker.records import dataclass, field

EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class NodeFacts:
    """One device of the chain (the device itself, or a parent) as sysfs shows it."""

    kernel: str  # sysname: loop0, sdb, 0:0:0:0
    subsystem: str | None  # None: the device has none
    driver: str | None  # None: no driver bound
    devpath: str | None = ""  # /devices/... (without /sys); None: not known
    attributes: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    absent_attributes: frozenset[str] = frozenset()  # udev cannot read these as attributes
    # every top-level attribute udev can read is in `attributes` (names with '/' stay
    # unknown unless listed)
    attributes_complete: bool = False
    devname: str | None = None  # /dev/sdb, for %P and $devnode; None when it has no node
    # every name in the device's sysfs directory (files, directories, links): what TEST
    # finds there; None when not listed
    entries: frozenset[str] | None = None
    tags: frozenset[str] | None = None  # current tags; None: not known

    def attribute(self, name: str) -> Value:
        """The value udev reads for ATTR{name} (trailing newlines already removed)."""
        if name in self.attributes:
            return self.attributes[name]
        if name in self.absent_attributes or (self.attributes_complete and "/" not in name):
            return None
        return Unknown("*", f"attribute {name} of {self.kernel} is not known")


@dataclass(frozen=True)
class DeviceFacts:
    """One device and one action: what the rules see at the start of udev's event."""

    action: str  # add, change, remove, ...
    node: NodeFacts  # the device itself (KERNEL, SUBSYSTEM, DRIVER, ATTR)
    devtype: str | None = None
    # (major, minor); Unknown: it has a node whose number is not known; None: no node
    devnum: tuple[int, int] | Unknown | None = None
    ifindex: int | None = None  # network interfaces only
    # the kernel's uevent properties (ACTION, DEVPATH, SUBSYSTEM, DEVNAME ... as sd-device
    # holds them: DEVNAME with /dev/)
    properties: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    properties_complete: bool = False  # no other property is set when the rules start
    unknown_properties: frozenset[str] = frozenset()  # set, with a value not known (SEQNUM)
    # Names (fnmatch patterns) surely not among the event's properties even when they are
    # not complete: the kernel never sends ID_* for a block device.
    absent_properties: tuple[str, ...] = ()
    parents: tuple[NodeFacts, ...] = ()  # nearest first
    parents_complete: bool = False
    # What the udev database held before this event (IMPORT{db}, and on "remove" what the
    # rules see: udev reads the database into the device); None: not known.
    db_properties: Mapping[str, str] | None = None
    db_links: frozenset[str] | None = None  # relative to /dev
    # The device's tags in the database before this event (udev keeps them: TAG== sees
    # them); None: not known.
    db_tags: frozenset[str] | None = None
    # Kernel command line options (IMPORT{cmdline}); None: not known.
    cmdline: Mapping[str, str] | None = None
    # Files that TEST and IMPORT{file} may look at: path -> exists; others unknown.
    paths: Mapping[str, bool] = field(default_factory=dict)
    # CONST{arch}, CONST{virt}; missing: unknown.
    consts: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # Results of builtins, by name: (succeeded, properties). Missing: not known.
    builtins: Mapping[str, tuple[bool, Mapping[str, str]]] = field(default_factory=dict)

    @property
    def kernel(self) -> str:
        return self.node.kernel

    @property
    def devpath(self) -> str | None:
        return self.node.devpath

    def property(self, name: str) -> Value:
        if name in self.properties:
            return self.properties[name]
        if name in self.unknown_properties:
            return Unknown("*", f"property {name} of the event is not known")
        if self.properties_complete or any(fnmatchcase(name, p) for p in self.absent_properties):
            return None
        return Unknown("*", f"property {name} of the event is not known")

    def chain(self) -> tuple[NodeFacts, ...]:
        """The device and its parents, as the parent keys walk them."""
        return (self.node, *self.parents)


def unknown_text(why: str) -> Unknown:
    return Unknown(ANYTHING.pattern, why)


def block_device_facts(kernel: str, devnum: tuple[int, int] | None, devtype: str | None,
                       action: str = "add") -> DeviceFacts:
    """What is known of a block device from its /dev node alone (a tree under --root):
    its kernel name, number (None: a stand-in file whose number is not known) and type,
    and the kernel's uevent properties that follow from them; its sysfs path, attributes
    and parents are unknown."""
    devname = "/dev/" + kernel.replace("!", "/")  # cciss!c0d0 is /dev/cciss/c0d0
    properties = {"ACTION": action, "SUBSYSTEM": "block", "DEVNAME": devname}
    if devnum is not None:
        properties.update(MAJOR=str(devnum[0]), MINOR=str(devnum[1]))
    if devtype:
        properties["DEVTYPE"] = devtype
    node = NodeFacts(kernel, "block", None, devpath=None, devname=devname)
    # on "remove" udev reads the database into the device: any property may be there
    absent = ("ID_*",) if action != "remove" else ()
    number: tuple[int, int] | Unknown = devnum or Unknown("*", f"the number of /dev/{kernel} is not known")
    return DeviceFacts(action=action, node=node, devtype=devtype, devnum=number,
                       properties=MappingProxyType(properties), absent_properties=absent)
