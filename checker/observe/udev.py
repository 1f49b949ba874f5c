"""Block devices as libudev sees them: the only module that imports pyudev.

Everything leaves this module as plain frozen values (`BlockDevice`, `DeviceEvent`), so
the rest of the tool never holds a pyudev object. pyudev is imported inside functions:
a `--root` check, or a host whose policies name no symlinks, never pays for it.

`UdevState` is one enumeration of the block devices, indexed by device number, kernel
name, node, identity (serial, WWN, ID_PATH) and by the links the udev database holds, so
that checking N links against D devices costs O(N + D), not O(N * D).
"""

from __future__ import annotations

import os
import select
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from checker.errors import UdevDriftError
from checker.records import dataclass, field

if TYPE_CHECKING:
    from checker.evaluate.facts import DeviceFacts

# Where an identity is read from, first match wins. udev sets these in
# 60-persistent-storage.rules (and multipath/dm rules); partitions inherit their disk's.
IDENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "serial": ("ID_SERIAL", "ID_SERIAL_SHORT"),
    "wwn": ("ID_WWN", "ID_WWN_WITH_EXTENSION"),
    "path": ("ID_PATH",),
}
EMPTY: Mapping[str, str] = MappingProxyType({})


class UdevError(UdevDriftError):
    """libudev could not be used: library missing, /sys not mounted, enumeration failed."""

    exit_status = 3


@dataclass(frozen=True)
class BlockDevice:
    """One block device as libudev reports it, in plain values."""

    sys_name: str  # sdb, sdb1, dm-0
    sys_path: str  # /sys/devices/.../block/sdb
    devtype: str  # disk | partition | "" when udev does not say
    node: str | None  # /dev/sdb
    devnum: int  # os.makedev(major, minor); 0 when the device has no number
    parent: str | None = None  # a partition's disk (sys_name)
    links: tuple[str, ...] = ()  # absolute paths the udev database lists (S: lines)
    properties: Mapping[str, str] = field(default_factory=lambda: EMPTY, hash=False, compare=False)
    initialized: bool = False  # has an entry in the udev database

    def identity(self, by: str) -> tuple[str, ...]:
        """The values of an identity (serial, wwn, path), without duplicates."""
        values = [self.properties.get(key) for key in IDENTITY_KEYS.get(by, ())]
        return tuple(dict.fromkeys(v for v in values if v))

    @property
    def name(self) -> str:
        return self.node or self.sys_name

    @property
    def is_partition(self) -> bool:
        return self.devtype == "partition"

    @property
    def is_path_member(self) -> bool:
        """A path of a multipath map: the map (dm-N), not the path, is the disk to use."""
        return (self.properties.get("DM_MULTIPATH_DEVICE_PATH") == "1"
                or self.properties.get("ID_FS_TYPE") == "mpath_member")

    def describe(self) -> str:
        """/dev/sdb (serial WDC_..., wwn 0x5...): for messages."""
        known = [f"{by} {values[0]}" for by in ("serial", "wwn") if (values := self.identity(by))]
        return f"{self.name} ({', '.join(known)})" if known else self.name

    def holder_kind(self) -> str:
        """What a device is when it holds another: LVM, multipath, dm-crypt, md RAID ..."""
        uuid = self.properties.get("DM_UUID", "")
        for prefix, kind in (("LVM-", "LVM"), ("mpath-", "multipath"), ("CRYPT-", "dm-crypt"),
                             ("part", "dm partition")):
            if uuid.startswith(prefix):
                return kind
        if self.properties.get("MD_LEVEL") or self.sys_name.startswith("md"):
            return "md RAID"
        return "device-mapper" if self.sys_name.startswith("dm-") else "block device"


class UdevState:
    """One enumeration of block devices with the indexes a check needs."""

    def __init__(self, devices: Iterable[BlockDevice]) -> None:
        self.devices = tuple(devices)
        self.by_devnum: dict[int, BlockDevice] = {}
        self.by_name: dict[str, BlockDevice] = {}
        self.by_node: dict[str, BlockDevice] = {}
        self.by_link: dict[str, list[BlockDevice]] = {}
        self.partitions: dict[str, list[BlockDevice]] = {}
        self._identities: dict[tuple[str, str], list[BlockDevice]] = {}
        for device in self.devices:
            if device.devnum:
                self.by_devnum[device.devnum] = device
            self.by_name[device.sys_name] = device
            if device.node:
                self.by_node[device.node] = device
            for link in device.links:
                self.by_link.setdefault(link, []).append(device)
            if device.parent and device.is_partition:
                self.partitions.setdefault(device.parent, []).append(device)
            if not device.is_partition:  # partitions inherit their disk's identities
                for by in IDENTITY_KEYS:
                    for value in device.identity(by):
                        self._identities.setdefault((by, value), []).append(device)

    def __len__(self) -> int:
        return len(self.devices)

    def find(self, by: str, value: str) -> list[BlockDevice]:
        """Devices named by an identity (serial, wwn, path) or a kernel name.

        The paths of a multipath map share its serial and WWN: when the map is there too,
        only the map is returned.
        """
        if by == "kernel":
            device = self.by_name.get(value)
            return [device] if device else []
        found = self._identities.get((by, value), [])
        if len(found) > 1:
            maps = [device for device in found if not device.is_path_member]
            found = maps or found
        return list(found)

    def claims(self, link: str) -> list[BlockDevice]:
        """The devices whose udev database entry lists `link`."""
        return self.by_link.get(link, [])


# -- libudev, through pyudev ----------------------------------------------------------------


def _pyudev() -> Any:
    try:
        import pyudev
    except ImportError as error:
        raise UdevError(f"cannot use libudev: the Python module pyudev is missing ({error}); "
                        "install it (pip install pyudev), or check a tree with --root DIR") from None
    return pyudev


def _context(pyudev: Any) -> Any:
    try:
        context = pyudev.Context()
    except ImportError as error:  # pyudev loads libudev.so.1 here
        raise UdevError(f"cannot use libudev: {error}; install libudev1 (Debian) or "
                        "systemd-libs, or check a tree with --root DIR") from None
    except OSError as error:
        raise UdevError(f"cannot use libudev: {error}") from None
    sys_path = str(context.sys_path)
    if not os.path.isdir(os.path.join(sys_path, "class", "block")):
        raise UdevError(f"{sys_path}/class/block is missing: sysfs is not mounted, so libudev "
                        "cannot list the block devices (mount sysfs on /sys, or check a tree "
                        "with --root DIR)")
    return context


def _plain(device: Any) -> BlockDevice:
    devtype = device.device_type or ""
    parent = None
    if devtype == "partition":  # .../block/sdb/sdb1: the disk is the directory above
        parent = os.path.basename(os.path.dirname(device.sys_path))
    return BlockDevice(
        sys_name=device.sys_name,
        sys_path=device.sys_path,
        devtype=devtype,
        node=device.device_node,
        devnum=device.device_number,
        parent=parent,
        links=tuple(device.device_links),
        properties=MappingProxyType(dict(device.properties)),
        initialized=bool(device.is_initialized),
    )


def observe_block_devices() -> UdevState:
    """Every block device libudev knows, with the links its database holds for each."""
    pyudev = _pyudev()
    context = _context(pyudev)
    try:
        return UdevState(_plain(device) for device in context.list_devices(subsystem="block"))
    except (OSError, pyudev.DeviceNotFoundError) as error:
        raise UdevError(f"cannot list block devices through libudev: {error}") from None


@dataclass(frozen=True)
class DeviceEvent:
    """A uevent for a block device, after udev processed it."""

    action: str  # add | remove | change | move | bind | unbind
    sys_name: str
    devnum: int
    # Made by `udevadm trigger` (the kernel adds SYNTH_UUID to every synthetic uevent), not
    # by the device: a repair's own trigger, an admin's, or the coldplug at boot.
    synthetic: bool = False


def block_events(stop_fd: int) -> Iterator[DeviceEvent]:
    """udev's events for block devices, until `stop_fd` becomes readable.

    The monitor is opened before the first event is asked for, so errors (no libudev, no
    netlink) surface in the caller's thread. Events come from udev, not the kernel: when
    one arrives, udev has already written the database and made the links.
    """
    pyudev = _pyudev()
    context = _context(pyudev)
    try:
        monitor = pyudev.Monitor.from_netlink(context, source="udev")
        monitor.filter_by(subsystem="block")
        monitor.start()
    except (OSError, ValueError) as error:
        raise UdevError(f"cannot listen to udev's events: {error}") from None
    return _events(monitor, stop_fd)


def _events(monitor: Any, stop_fd: int) -> Iterator[DeviceEvent]:
    # The monitor's socket closes when the generator (and with it the monitor) is dropped.
    while True:
        ready, _, _ = select.select([monitor.fileno(), stop_fd], [], [])
        if stop_fd in ready:
            return
        device = monitor.poll(timeout=0)
        if device is not None:
            yield DeviceEvent(device.action or "", device.sys_name, device.device_number,
                              "SYNTH_UUID" in device.properties)


# -- facts for the rules evaluator -----------------------------------------------------------

# Properties of a kernel event whose value no file shows: the sequence number, and what
# `udevadm trigger` adds.
EVENT_ONLY_PROPERTIES = frozenset(("SEQNUM", "SYNTH_UUID"))


def sysfs_attributes(sys_path: str, wanted: frozenset[str] | None = None
                     ) -> tuple[dict[str, str], frozenset[str], frozenset[str] | None]:
    """The device's top-level sysfs attributes as udev reads them (sd_device_get_sysattr_value):
    (readable values, names udev cannot read, every name there or None). Trailing newlines
    are dropped; of the links only driver, subsystem and module give a value (their
    target's name). With `wanted`, only those names are read (every name is still listed)."""
    values: dict[str, str] = {}
    unreadable: set[str] = set()
    try:
        names = os.listdir(sys_path)
    except OSError:
        return values, frozenset(), None
    for name in names if wanted is None else wanted.intersection(names):
        path = os.path.join(sys_path, name)
        try:
            if os.path.islink(path):
                if name in ("driver", "subsystem", "module"):
                    values[name] = os.path.basename(os.readlink(path))
                else:
                    unreadable.add(name)
                continue
            if os.path.isdir(path):
                unreadable.add(name)
                continue
            with open(path, "rb") as handle:
                data = handle.read(64 * 1024)
        except OSError:
            unreadable.add(name)
            continue
        values[name] = data.decode("utf-8", "surrogateescape").rstrip("\n\r")
    return values, frozenset(unreadable), frozenset(names)


def device_facts(sys_path: str, action: str = "add", attributes: frozenset[str] | None = None) -> DeviceFacts:
    """What the rules will see of the device at `sys_path` for an `action` event, as
    checker.evaluate.facts.DeviceFacts: its sysfs attributes, its parents, the kernel's
    uevent properties. For an "add" the properties are complete (a trigger's SEQNUM and
    SYNTH_UUID are unknown); other kernel events may carry more, so they stay open.

    `attributes`: the only attribute names the rules can read (checker.check.named_devices.
    attribute_names); the others are not read, and are unknown to the facts. None: all."""
    from checker.evaluate.facts import DeviceFacts, NodeFacts

    pyudev = _pyudev()
    context = _context(pyudev)
    try:
        device = pyudev.Devices.from_sys_path(context, sys_path)
    except (OSError, pyudev.DeviceNotFoundError) as error:
        raise UdevError(f"cannot read the device {sys_path} through libudev: {error}") from None

    def node(dev: Any) -> NodeFacts:
        values, unreadable, entries = sysfs_attributes(dev.sys_path, attributes)
        if attributes is not None and entries is not None:
            # a wanted name that is not there reads as absent, as when every name is read;
            # the names not read are unknown (attributes_complete stays False)
            unreadable |= frozenset(name for name in attributes if "/" not in name) - entries
        return NodeFacts(
            kernel=dev.sys_name, subsystem=dev.subsystem, driver=dev.driver,
            devpath=dev.device_path, attributes=MappingProxyType(values),
            absent_attributes=unreadable, attributes_complete=entries is not None and attributes is None,
            devname=dev.device_node, entries=entries)

    properties = {"ACTION": action, "DEVPATH": device.device_path}
    if device.subsystem:
        properties["SUBSYSTEM"] = device.subsystem
    uevent, _, _ = sysfs_attributes(device.sys_path, frozenset({"uevent"}))
    for line in uevent.get("uevent", "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            properties[key] = "/dev/" + value if key == "DEVNAME" and not value.startswith("/") else value
    parents = []
    parent = device.parent
    while parent is not None:
        parents.append(node(parent))
        parent = parent.parent
    devnum = device.device_number
    # the tags udev keeps from the database for the next event (TAG== sees them)
    db_tags = frozenset(device.tags) if device.is_initialized else None
    return DeviceFacts(
        action=action, node=node(device), devtype=device.device_type,
        devnum=(os.major(devnum), os.minor(devnum)) if devnum else None,
        ifindex=int(properties["IFINDEX"]) if "IFINDEX" in properties else None,
        properties=MappingProxyType(properties), properties_complete=action == "add",
        unknown_properties=EVENT_ONLY_PROPERTIES,
        # the kernel sends no ID_* for a block device; on "remove" udev reads the database
        # into the device, and that may hold anything
        absent_properties=("ID_*",) if device.subsystem == "block" and action != "remove" else (),
        parents=tuple(parents), parents_complete=True,
        db_tags=db_tags)
