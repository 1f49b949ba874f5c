"""Finding the device a symlink entry names: on the file system of a --root tree, or
through libudev on the running host (one enumeration per run).

Under --root the device is found by its node, or by a stable identity through the links
udev keeps in /dev/disk (by-id for serials and WWNs, by-path for ID_PATH).
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from checker.host import Host

if TYPE_CHECKING:
    # libudev's side (and what the host uses) only for the running host: a check under
    # --root, or one answered from the caches, does not import it
    from checker.observe.udev import BlockDevice, UdevState
    from checker.observe.usage import HostUsage
    from checker.policy.desired import DesiredPolicy, DeviceRef

# Buses whose by-id links are named <bus>-<ID_SERIAL> by 60-persistent-storage.rules.
SERIAL_PREFIXES = ("ata-", "scsi-", "nvme-", "usb-", "virtio-", "mmc-", "ieee1394-", "cciss-", "xen-")


class DeviceFinder:
    """Finds a device's node on the file system; lists each /dev/disk directory once."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._listings: dict[str, set[str]] = {}

    def _names(self, directory: str) -> set[str]:
        if directory not in self._listings:
            try:
                self._listings[directory] = set(os.listdir(self.host.path(directory)))
            except OSError:
                self._listings[directory] = set()
        return self._listings[directory]

    def node_path(self, device: DeviceRef) -> str | None:
        """The host path naming the device (maybe a link to it), or None when not found."""
        if device.by == "node":
            return device.value
        if device.by == "kernel":
            return f"/dev/{device.value}"
        if device.by == "wwn":
            return f"/dev/disk/by-id/wwn-{device.value}"
        if device.by == "path":
            return f"/dev/disk/by-path/{device.value}"
        names = self._names("/dev/disk/by-id")
        for prefix in SERIAL_PREFIXES:
            if prefix + device.value in names:
                return f"/dev/disk/by-id/{prefix}{device.value}"
        return None

    def find(self, device: DeviceRef) -> tuple[str | None, os.stat_result | None]:
        """(the device's node as a host path, its stat) or (None, None) when absent."""
        path = self.node_path(device)
        if path is None:
            return None, None
        followed = self.host.follow(path)
        if followed is None:
            return None, None
        resolved, st = followed
        if st is None or stat_module.S_ISLNK(st.st_mode) or stat_module.S_ISDIR(st.st_mode):
            return None, None
        return resolved, st


class LiveDevices:
    """The running host's block devices through libudev, and what the host uses of them."""

    def __init__(self, host: Host, udev: UdevState, usage: HostUsage | None = None) -> None:
        self.host = host
        self.udev = udev
        if usage is None:
            from checker.observe.usage import HostUsage

            usage = HostUsage()
        self.usage = usage

    def find(self, device: DeviceRef) -> list[BlockDevice]:
        """The devices a reference names: none, one, or (an ambiguous identity) several."""
        if device.by != "node":
            return self.udev.find(device.by, device.value)
        # A node is its device number: whatever the path's name, udev knows the number.
        st = self.host.stat_resolved(device.value)
        if st is None or not stat_module.S_ISBLK(st.st_mode):
            return []
        found = self.udev.by_devnum.get(st.st_rdev)
        return [found] if found else []


Devices = Union[DeviceFinder, LiveDevices]


def devices_for(policies: Sequence[DesiredPolicy], host: Host) -> Devices:
    """How this run finds devices: libudev on the running host when a policy names a
    symlink, else (a --root tree, or no symlinks) the file system alone."""
    if host.is_tree or not any(policy.symlinks for policy in policies):
        return DeviceFinder(host)
    from checker.observe.udev import observe_block_devices

    return LiveDevices(host, observe_block_devices())
