"""What the host itself does with a disk: mounted, used as swap, held by md/LVM/dm.

A disk passed through to a VM must not be used by the host at the same time: the guest
then sees it "busy" (or, worse, both write to it). This reads the running host's
/proc/self/mountinfo, /proc/swaps and /sys/class/block/<dev>/holders/, and matches by
device number, not by name. Every root (/proc, /sys, /dev) is injectable, so tests can
point them at a tree.
"""

from __future__ import annotations

import os
import re
import stat as stat_module
from collections.abc import Sequence

from checker.observe.udev import BlockDevice, UdevState
from checker.records import dataclass

_OCTAL = re.compile(r"\\([0-7]{3})")  # mountinfo and swaps escape space, tab, \n and \ so


def _unescape(text: str) -> str:
    return _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), text)


@dataclass(frozen=True)
class Use:
    """One way the host uses a device."""

    device: str  # the disk or partition used: sdb1
    kind: str  # mounted | swap | held
    what: str  # the mount point, the swap's name, or the holder and its kind

    def describe(self) -> str:
        return describe_uses([self])[0]


MAX_SHOWN = 3  # mount points named per device; a bind-mounted root can have dozens


def describe_uses(uses: Sequence[Use]) -> list[str]:
    """One phrase per device and kind: "sdb1 is mounted at /srv and /mnt/x"."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for use in uses:
        grouped.setdefault((use.device, use.kind), []).append(use.what)
    phrases = []
    for (device, kind), whats in grouped.items():
        shown = whats[:MAX_SHOWN]
        listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
        if len(whats) > MAX_SHOWN:
            listed = ", ".join(shown) + f" (and {len(whats) - MAX_SHOWN} more)"
        if kind == "swap":
            phrases.append(f"{device} is used as swap ({listed})")
        else:
            phrases.append(f"{device} is {'mounted at' if kind == 'mounted' else 'held by'} {listed}")
    return phrases


class HostUsage:
    """Mounts, swaps and holders of the running host, each read at most once per run."""

    def __init__(self, proc: str = "/proc", sys: str = "/sys", dev: str = "/dev") -> None:
        self.proc = proc
        self.sys = sys
        self.dev = dev
        self._mounts: dict[int, list[str]] | None = None
        self._swaps: dict[int, list[str]] | None = None

    def _read(self, path: str) -> list[str]:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                return handle.read().splitlines()
        except OSError:  # no /proc (a container without it): nothing is known to be used
            return []

    def _devnum_of(self, path: str) -> int | None:
        """The number of the block device a /dev path names (following links), or None.
        Only /dev paths are looked at: stat() of a path on a hung network file system
        would hang the check."""
        if not path.startswith("/dev/"):
            return None
        try:
            st = os.stat(os.path.join(self.dev, path[len("/dev/"):]))
        except OSError:
            return None
        return st.st_rdev if stat_module.S_ISBLK(st.st_mode) else None

    def mounts(self) -> dict[int, list[str]]:
        """Device number -> mount points.

        mountinfo's major:minor is the file system's st_dev, which for btrfs (and other
        multi-device file systems) is an anonymous number: the mount source (/dev/sdb1)
        is looked at too.
        """
        if self._mounts is None:
            self._mounts = {}
            for line in self._read(os.path.join(self.proc, "self", "mountinfo")):
                fields = line.split(" ")
                if len(fields) < 10 or "-" not in fields[6:]:
                    continue
                point = _unescape(fields[4])
                numbers = set()
                major, _, minor = fields[2].partition(":")
                if major.isdigit() and minor.isdigit():
                    numbers.add(os.makedev(int(major), int(minor)))
                number = self._devnum_of(_unescape(fields[fields.index("-", 6) + 2]))
                if number is not None:
                    numbers.add(number)
                for number in numbers:
                    self._mounts.setdefault(number, []).append(point)
        return self._mounts

    def swaps(self) -> dict[int, list[str]]:
        """Device number -> swap names, for swap on a block device (a swap file lives on a
        mounted file system, which `mounts` already shows)."""
        if self._swaps is None:
            self._swaps = {}
            for line in self._read(os.path.join(self.proc, "swaps"))[1:]:
                fields = line.split()
                if len(fields) >= 2 and fields[1] == "partition":
                    name = _unescape(fields[0])
                    number = self._devnum_of(name)
                    if number is not None:
                        self._swaps.setdefault(number, []).append(name)
        return self._swaps

    def holders(self, sys_name: str) -> list[str]:
        """The devices (dm-0, md127) that hold this one: LVM, md RAID, multipath, dm-crypt."""
        try:
            return sorted(os.listdir(os.path.join(self.sys, "class", "block", sys_name, "holders")))
        except OSError:
            return []

    def uses(self, disk: BlockDevice, udev: UdevState) -> list[Use]:
        """Every use of the disk and of each of its partitions."""
        found: list[Use] = []
        devices: Sequence[BlockDevice] = [disk, *udev.partitions.get(disk.sys_name, [])]
        for device in devices:
            if device.devnum:
                found += [Use(device.sys_name, "mounted", point)
                          for point in self.mounts().get(device.devnum, [])]
                found += [Use(device.sys_name, "swap", name)
                          for name in self.swaps().get(device.devnum, [])]
            for holder in self.holders(device.sys_name):
                known = udev.by_name.get(holder)
                name = known.properties.get("DM_NAME") if known else None
                kind = known.holder_kind() if known else "block device"
                found.append(Use(device.sys_name, "held",
                                 f"{holder} ({kind}{', ' + name if name else ''})"))
        return found
