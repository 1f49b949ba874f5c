"""Checking /dev symlinks on the file system: present, a link, resolving to the device.

The device is found by its node, or by a stable identity through the links udev keeps in
/dev/disk (by-id for serials and WWNs, by-path for ID_PATH). Nodes are compared by
device number, not by path text: ../../sdb and /dev/sdb are the same disk.
"""

from __future__ import annotations

import os
import stat as stat_module

from checker.desired import DesiredPolicy, DesiredSymlink, DeviceRef
from checker.findings import Finding
from checker.host import Host, same_node

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
        resolved = self.host.resolve(path)
        st = self.host.lstat(resolved) if resolved else None
        if st is None or stat_module.S_ISLNK(st.st_mode) or stat_module.S_ISDIR(st.st_mode):
            return None, None
        return resolved, st


def _kind_of(st: os.stat_result) -> str:
    if stat_module.S_ISDIR(st.st_mode):
        return "a directory"
    if stat_module.S_ISREG(st.st_mode):
        return "a regular file"
    if stat_module.S_ISBLK(st.st_mode) or stat_module.S_ISCHR(st.st_mode):
        return "a device node"
    return "not a link"


def check_symlink(entry: DesiredSymlink, host: Host, devices: DeviceFinder) -> Finding:
    finding = Finding(entry.policy, "symlink", entry.link, entry.link, entry.entry, "ok", False, "")
    node, node_stat = devices.find(entry.device)
    link_stat = host.lstat(entry.link)
    link_text = host.readlink(entry.link)
    if node is None or node_stat is None:
        finding.status = "absent"
        finding.drift = entry.required
        finding.message = f"device {entry.device.describe()} is not present"
        finding.message += " (required: drift)" if entry.required else " (not required: not drift)"
        if link_text is not None:
            finding.details.append(f"the link exists and points to {link_text}")
        return finding
    finding.device = node
    present_as = f"device {entry.device.describe()} is present as {node}"
    if link_stat is None:
        finding.status, finding.message = "missing", f"missing ({present_as})"
    elif not stat_module.S_ISLNK(link_stat.st_mode):
        finding.status, finding.message = "not-a-link", f"{_kind_of(link_stat)} stands where the link should be"
    else:
        resolved = host.resolve(entry.link)
        target_stat = host.lstat(resolved) if resolved else None
        if target_stat is None:
            finding.status = "dangling"
            finding.message = f"points to {link_text}, which does not exist ({present_as})"
        elif not same_node(target_stat, node_stat):
            finding.status = "wrong-target"
            finding.message = f"points to {resolved} instead of {node}"
        else:
            finding.message = f"-> {link_text} ({present_as})"
    finding.drift = finding.status != "ok"
    return finding


def check_policy_symlinks(policy: DesiredPolicy, host: Host, devices: DeviceFinder) -> list[Finding]:
    return [check_symlink(entry, host, devices) for entry in policy.symlinks]
