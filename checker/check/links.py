"""Checking /dev symlinks: present, a link, resolving to the device, known to udev.

Takes what observe/ read: the link (observe/links.py) and the device (observe/devices.py:
the file system under --root, libudev on the running host). On the running host the link
must also be one that the udev database lists for that device and for no other: a link
made by hand vanishes at the next boot. Nodes are compared by device number, not by path
text: ../../sdb and /dev/sdb are the same disk.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Sequence
from typing import TYPE_CHECKING

from checker.findings import Finding
from checker.host import same_node
from checker.observe.devices import DeviceFinder, Devices, LiveDevices
from checker.observe.links import Links, ObservedLink
from checker.policy.desired import DesiredPolicy, DesiredSymlink, DeviceRef

if TYPE_CHECKING:  # the running host's devices: not imported by a check under --root
    from checker.observe.udev import BlockDevice


def _kind_of(st: os.stat_result) -> str:
    if stat_module.S_ISDIR(st.st_mode):
        return "a directory"
    if stat_module.S_ISREG(st.st_mode):
        return "a regular file"
    if stat_module.S_ISBLK(st.st_mode) or stat_module.S_ISCHR(st.st_mode):
        return "a device node"
    return "not a link"


def check_symlink(entry: DesiredSymlink, links: Links, devices: DeviceFinder) -> Finding:
    finding = Finding(entry.policy, "symlink", entry.link, entry.link, entry.entry, "ok", False, "")
    node, node_stat = devices.find(entry.device)
    link = links.read(entry.link)
    link_stat, link_text = link.stat, link.text
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
        finding.status = "not-a-link"
        finding.message = f"{_kind_of(link_stat)} stands where the link should be"
    else:
        resolved, target_stat = links.follow(link)
        if target_stat is None:
            finding.status = "dangling"
            finding.message = f"points to {link_text}, which does not exist ({present_as})"
        elif not same_node(target_stat, node_stat):
            finding.status = "wrong-target"
            finding.message = f"points to {resolved} instead of {node}"
        else:
            finding.message = f"-> {link_text} ({present_as})"
    finding.drift = finding.status != "ok"
    if entry.exclusive:
        finding.details.append("exclusive: not checked under --root (mounts, swaps and holders "
                               "are the running host's, not the tree's)")
    return finding


def _names(devices: Sequence[BlockDevice]) -> str:
    return ", ".join(device.describe() for device in devices)


def _database_note(device: BlockDevice, listed: bool, others: Sequence[BlockDevice]) -> str:
    """Why a missing link is missing, from what the udev database says of it."""
    if listed:
        return (f"udev's database lists it for {device.name}: it was removed by hand; "
                "a trigger of the device makes it again")
    if others:
        return f"udev's database lists it for {_names(others)}"
    if not device.initialized:
        return f"udev has not processed {device.name} (no entry in its database)"
    return f"udev's database lists it for no device: no rule makes it for {device.name}"


def check_live_symlink(entry: DesiredSymlink, links: Links, live: LiveDevices) -> Finding:
    """The link on the running host: the device through libudev, the link through the
    file system and the udev database, and (for `exclusive`) what the host uses."""
    finding = Finding(entry.policy, "symlink", entry.link, entry.link, entry.entry, "ok", False, "")
    found = live.find(entry.device)
    if len(found) != 1:
        return _not_one_device(finding, entry, found, links.read(entry.link), live)
    device = found[0]
    finding.device = device.node or f"/dev/{device.sys_name}"
    _check_link(finding, entry, device, links, live)
    if entry.exclusive:
        _check_exclusive(finding, device, live)
    finding.drift = finding.status != "ok"
    return finding


def _not_one_device(finding: Finding, entry: DesiredSymlink, found: Sequence[BlockDevice],
                    link: ObservedLink, live: LiveDevices) -> Finding:
    if found:  # an identity that several devices share: no way to tell which is meant
        finding.status, finding.drift = "ambiguous", True
        paths = [f"{d.name} (path {d.identity('path')[0]})" if d.identity("path") else d.name
                 for d in found]
        finding.message = (f"{entry.device.describe()} names {len(found)} devices: {', '.join(paths)}; "
                           "name the one meant by its path, or use the multipath map")
        return finding
    finding.status = "absent"
    finding.drift = entry.required
    finding.message = f"device {entry.device.describe()} is not present"
    finding.message += " (required: drift)" if entry.required else " (not required: not drift)"
    if link.text is not None:
        finding.details.append(f"the link exists and points to {link.text}")
    claims = live.udev.claims(entry.link)
    if claims:  # a typo in the serial, or the disk was swapped: say which disk has the link
        finding.details.append(f"udev's database lists the link for {_names(claims)}")
    return finding


def _check_link(finding: Finding, entry: DesiredSymlink, device: BlockDevice, links: Links,
                live: LiveDevices) -> None:
    """Sets the finding's status and message from the link on disk and udev's database."""
    claims = live.udev.claims(entry.link)
    listed = any(claim.sys_name == device.sys_name for claim in claims)
    others = [claim for claim in claims if claim.sys_name != device.sys_name]
    present_as = _present_as(entry.device, device)
    link = links.read(entry.link)
    link_stat, link_text = link.stat, link.text
    if link_stat is None:
        finding.status, finding.message = "missing", f"missing ({present_as})"
        finding.details.append(_database_note(device, listed, others))
        return
    if not stat_module.S_ISLNK(link_stat.st_mode):
        finding.status = "not-a-link"
        finding.message = f"{_kind_of(link_stat)} stands where the link should be"
        return
    resolved, target = links.follow(link)
    if target is None:
        finding.status = "dangling"
        finding.message = f"points to {link_text}, which does not exist ({present_as})"
    elif not (stat_module.S_ISBLK(target.st_mode) and target.st_rdev == device.devnum):
        finding.status = "wrong-target"
        finding.message = f"points to {resolved} instead of {device.name}"
        other = live.udev.by_devnum.get(target.st_rdev) if stat_module.S_ISBLK(target.st_mode) else None
        finding.details.append(f"it points to {other.describe()}" if other
                               else f"{resolved} is not a block device libudev knows")
        if others:
            finding.details.append(f"udev's database lists the link for "
                                   f"{', '.join(d.name for d in others)}: a rule gives it to that "
                                   "device (`udev-drift suggest` shows a stable match)")
    elif others:
        finding.status = "claimed"
        finding.message = (f"also claimed by {_names(others)} in udev's database: udev gives "
                           "it to the higher link priority, or to the device handled last, "
                           "so it can move"
                           if listed else
                           f"claimed by {_names(others)} in udev's database, not by "
                           f"{device.name}: the next event for either device moves it")
    elif not listed:
        finding.status = "unknown-to-udev"
        finding.message = (f"made by hand: it will vanish at the next boot (-> {link_text}, "
                           f"{present_as}; udev's database lists it for no device)")
    else:
        finding.message = f"-> {link_text} ({present_as}), known to udev"


def _present_as(ref: DeviceRef, device: BlockDevice) -> str:
    """"disk WDC_... is present as /dev/sdb": an entry by node or kernel name learns which
    disk that is now; one by identity, which name the disk has now."""
    if ref.by in ("node", "kernel"):
        known = device.identity("serial") or device.identity("wwn")
        if known:
            return f"disk {known[0]} is present as {device.name}"
    return f"device {ref.describe()} is present as {device.name}"


def _check_exclusive(finding: Finding, device: BlockDevice, live: LiveDevices) -> None:
    """A disk for a VM alone: the host mounting, swapping on or holding it is drift. A
    wrong link is the status to fix first; the uses then go into the details."""
    from checker.observe.usage import describe_uses

    uses = live.usage.uses(device, live.udev)
    if not uses:
        return
    if finding.status != "ok":
        finding.details += [f"exclusive, but {phrase}" for phrase in describe_uses(uses)]
        return
    finding.status = "held-by-host"
    finding.message = (f"the host uses {device.name}, which is for a VM alone "
                       f"(exclusive): {'; '.join(describe_uses(uses))}")
    finding.details.append("a VM given this disk sees it busy: unmount it (and drop it "
                           "from /etc/fstab), swapoff it, or take it out of md/LVM")


def check_policy_symlinks(policy: DesiredPolicy, links: Links, devices: Devices) -> list[Finding]:
    if isinstance(devices, LiveDevices):
        return [check_live_symlink(entry, links, devices) for entry in policy.symlinks]
    return [check_symlink(entry, links, devices) for entry in policy.symlinks]
