"""Generators of realistic host trees for benchmarking `udev-drift check --root DIR`.

A generated host looks like a XenServer dom0 (or any Debian-like host) with:

- a vendor rules file, /etc/udev/rules.d/50-udev.rules, of exactly N udev rules (logical
  rules: continuation lines joined, comments and blank lines not counted) written like
  Debian's 60-persistent-storage.rules and 50-udev-default.rules: GOTO/LABEL sections,
  ENV/ATTRS/KERNEL matches, SYMLINK+=, RUN+=, IMPORT{builtin}, comments, continuations;
- P policies in /etc/udev-drift/policies.d/, in the style of the shipped
  policies/xenserver-local-sata.yaml: an `ensure: block` in the vendor file, plus a
  `lines`, a `file` (a drop-in the policy owns, holding the rule that makes every disk's
  /dev/xapi/block link, as a compliant host must) and an `absent` entry, and symlink
  entries (by `target:` with for_each, and by `device: {serial: ...}`);
- D managed block devices: /dev/sdX (plain files standing for nodes, as in
  examples/xenserver-host), their /dev/disk/by-id/ata-<serial> and wwn-<wwn> links, and
  the /dev/xapi/block/sdX links the policies ask for. /dev/sda (the system disk) is
  always present and managed by no policy.

Devices are spread round-robin over the policies. Each policy's block covers at most its
first two disks (as the shipped policy lists sdb and sdc), so the device dimension grows
/dev and the symlink entries, not the number of rules: the three dimensions stay apart.

A host is compliant, or drifted in one way (see DRIFTS). Also a command line, to keep a
tree for profiling:

    python3 benchmarks/hosts.py /tmp/host --rules 20000 [--policies 1] [--devices 10] \
        [--drift block-missing]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

VENDOR_FILE = "/etc/udev/rules.d/50-udev.rules"
POLICY_DIR = "/etc/udev-drift/policies.d"
MAX_POLICY_BYTES = 1024 * 1024  # the tool refuses larger policy files

# How a drifted host differs from the compliant one.
DRIFTS: dict[str, str] = {
    "block-missing": "an update replaced the vendor file: every policy's managed block is gone",
    "rule-changed": "one rule inside the first policy's block was edited (SYMLINK+= value)",
    "link-missing": "the first device's /dev/xapi/block link is gone (the device is present)",
}

XEN_RUN = "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\""
# The shipped policy's rules: the link on every event but remove (a change event removes
# a link made at add only), the program at add and at remove.
BLOCK_TEMPLATE = (
    'ACTION!="remove", KERNEL=="{{ item }}", SYMLINK+="xapi/block/%k"\n'
    f'ACTION=="add", KERNEL=="{{{{ item }}}}", {XEN_RUN}\n'
    f'ACTION=="remove", KERNEL=="{{{{ item }}}}", {XEN_RUN}\n'
)

# Rules every generated vendor file starts with; `ensure: lines` entries require them
# (written with other spacing, which must not count as drift).
HEADER_RULES: tuple[str, ...] = (
    'SUBSYSTEM=="block", GROUP="disk"',
    'SUBSYSTEM=="block", KERNEL=="sr[0-9]*", GROUP="cdrom", MODE="0660"',
    'KERNEL=="null|zero|full|random|urandom", MODE="0666"',
    'KERNEL=="mem|kmem|port", GROUP="kmem", MODE="0640"',
)
LINES_VARIANTS: tuple[str, ...] = (
    'SUBSYSTEM=="block",GROUP="disk"',
    'KERNEL=="sr[0-9]*",  SUBSYSTEM=="block", GROUP="cdrom", MODE="0660"',
    'KERNEL=="null|zero|full|random|urandom" , MODE="0666"',
    'KERNEL=="mem|kmem|port", GROUP="kmem",MODE="0640"',
)


# --- names ---------------------------------------------------------------------------

def kernel_name(index: int) -> str:
    """sda, sdb, ..., sdz, sdaa, ... as the kernel names SCSI disks (0 -> sda)."""
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return "sd" + letters


_MODELS = ("WDC_WD40EFRX-68N32N0_WD-WCC7K", "ST4000NM0035-1V4107_ZC1", "TOSHIBA_MG04ACA400N_Y7",
           "Samsung_SSD_860_EVO_1TB_S3Z9NB0K", "HGST_HUS726040ALA610_K4K")


def serial_of(index: int) -> str:
    return f"{_MODELS[index % len(_MODELS)]}{index:07d}"


def wwn_of(index: int) -> str:
    return f"0x5000c500{index:08x}"


def policy_name(index: int) -> str:
    return f"local-sata-{index:03d}"


# --- the vendor rules file -----------------------------------------------------------

# Each template gives the physical lines of one rule for section k; `\` continuations
# stand where Debian's files have them.
Template = Callable[[int], list[str]]

_BODY: tuple[Template, ...] = (
    lambda k: [f'KERNEL=="sd*[!0-9]|sr*", ENV{{ID_SERIAL}}!="?*", SUBSYSTEMS=="scsi", '
               f'ATTRS{{vendor}}=="VEND{k:04d}", IMPORT{{program}}="ata_id --export $devnode"'],
    lambda k: [f'KERNEL=="sd*[!0-9]|sr*", SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="{k % 65536:04x}", '
               'IMPORT{builtin}="usb_id"'],
    lambda k: [f'KERNEL=="sd*|sr*|cciss*", ENV{{DEVTYPE}}=="disk", ENV{{ID_MODEL}}=="Model{k}*", '
               'ENV{ID_SERIAL}=="?*", SYMLINK+="disk/by-id/$env{ID_BUS}-$env{ID_SERIAL}"'],
    lambda k: [f'KERNEL=="sd*|cciss*", ENV{{DEVTYPE}}=="partition", ENV{{ID_MODEL}}=="Model{k}*", '
               'ENV{ID_SERIAL}=="?*", SYMLINK+="disk/by-id/$env{ID_BUS}-$env{ID_SERIAL}-part%n"'],
    lambda k: [f'KERNEL=="nvme*[0-9]n*[0-9]", ENV{{DEVTYPE}}=="disk", '
               f'ATTRS{{model}}=="NVMe {k}*", \\',
               '  OPTIONS="string_escape=replace", '
               'ENV{ID_SERIAL}="$env{ID_MODEL}_$env{ID_SERIAL_SHORT}", \\',
               '  SYMLINK+="disk/by-id/nvme-$env{ID_SERIAL}"'],
    lambda k: [f'ENV{{DEVTYPE}}=="disk", DEVPATH!="*/virtual/*", ATTRS{{vendor}}=="VEND{k:04d}", '
               'IMPORT{builtin}="path_id"'],
    lambda k: [f'KERNEL!="mmcblk[0-9]boot[0-9]", ENV{{DEVTYPE}}=="disk", '
               f'ENV{{ID_PATH}}=="pci-{k:04x}:*", '
               'SYMLINK+="disk/by-path/$env{ID_PATH}"'],
    lambda k: [f'SUBSYSTEM=="tty", KERNEL=="ttyS{k}", GROUP="dialout", MODE="0660"'],
    lambda k: [f'SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", '
               f'ATTR{{idProduct}}=="{k % 65536:04x}", '
               'IMPORT{builtin}="usb_id", IMPORT{builtin}="hwdb --subsystem=usb"'],
    lambda k: [f'ACTION=="add", SUBSYSTEM=="block", ENV{{ID_FS_TYPE}}=="linux_raid_member", '
               f'ENV{{ID_FS_LABEL}}=="array{k}", \\',
               '  RUN+="/sbin/mdadm --incremental --export $devnode --offroot $env{DEVLINKS}"'],
    lambda k: [f'SUBSYSTEM=="input", KERNEL=="event{k}", ENV{{ID_INPUT_KEYBOARD}}=="1", '
               'GROUP="input", MODE="0660", TAG+="uaccess"'],
    lambda k: [f'SUBSYSTEM=="xen", KERNEL=="blktap{k}", NAME="xen/blktap-2/%k", MODE="0600"'],
    lambda k: [f'ENV{{DEVTYPE}}=="partition", ENV{{ID_PART_ENTRY_UUID}}=="{k:08x}-*", '
               'IMPORT{parent}="ID_[!F]*", IMPORT{parent}="ID_", \\',
               '  IMPORT{parent}="ID_F[!S]*", IMPORT{parent}="ID_F"'],
    lambda k: [f'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="00:16:3e:'
               f'{k // 65536 % 256:02x}:{k // 256 % 256:02x}:{k % 256:02x}", NAME="eth{k}"'],
)

_COMMENTS = (
    "# persistent storage links: /dev/disk/{by-id,by-uuid,by-label,by-path}",
    "# Run ata_id on non-removable USB Mass Storage (SATA/PATA disks in enclosures)",
    "# For partitions import parent disk ID_* information, except ID_FS_*.",
    "# allow admin to disable probing the filesystem for slow devices",
    "# serial devices",
)


def _body(section: int, i: int) -> list[str]:
    """Rule i of a section: templates rotate, values differ in every rule of the file."""
    return _BODY[(section + i) % len(_BODY)](section * 16 + i)


def count_rules(text: str) -> int:
    """Logical rules in a rules text, counted as udev does (independently of the tool)."""
    count, continued = 0, False
    for line in text.splitlines():
        stripped = line.strip()
        if not continued and stripped and not stripped.startswith("#"):
            count += 1
        continued = stripped.endswith("\\")
    return count


def vendor_rules(count: int) -> str:
    """A vendor rules file of exactly `count` logical rules (count >= len(HEADER_RULES))."""
    if count < len(HEADER_RULES):
        raise ValueError(f"a vendor file needs at least {len(HEADER_RULES)} rules, got {count}")
    out = [f"# {VENDOR_FILE}", "#", "# do not edit this file, it will be overwritten on update", ""]
    out += list(HEADER_RULES)
    left = count - len(HEADER_RULES)
    k = 0
    while left > 0:
        size = min(left, 6 + k % 11)  # sections of 6..16 rules, GOTO and LABEL included
        out += ["", _COMMENTS[k % len(_COMMENTS)]]
        if size >= 3:
            label = f"vendor_section_{k}_end"
            out.append(f'ACTION=="remove", ENV{{VENDOR_SECTION_{k}}}=="skip", GOTO="{label}"')
            out += [line for i in range(size - 2) for line in _body(k, i)]
            out.append(f'LABEL="{label}"')
        else:
            out += [line for i in range(size) for line in _body(k, i)]
        left -= size
        k += 1
    text = "\n".join(out) + "\n"
    if count_rules(text) != count:  # the generator's own bug: never benchmark a wrong size
        raise AssertionError(f"generated {count_rules(text)} rules, wanted {count}")
    return text


# --- policies ------------------------------------------------------------------------

@dataclass
class PolicyPlan:
    """One generated policy and what its managed pieces must look like on the host."""

    index: int
    devices: list[int]  # device indexes (1..D) this policy manages

    @property
    def name(self) -> str:
        return policy_name(self.index)

    @property
    def by_target(self) -> list[int]:
        """Devices named by `target: /dev/{{ item }}` (the first half, rounded up)."""
        return self.devices[: (len(self.devices) + 1) // 2]

    @property
    def by_serial(self) -> list[int]:
        """Devices named by `device: {serial: ...}`, one entry each."""
        return self.devices[(len(self.devices) + 1) // 2:]

    @property
    def block_items(self) -> list[str]:
        return [kernel_name(d) for d in self.by_target[:2]]

    def block_content(self) -> str:
        """The managed block's rules, as the tool expands them."""
        if self.block_items:
            return "".join(BLOCK_TEMPLATE.replace("{{ item }}", item) for item in self.block_items)
        return self._deviceless_block()

    def _deviceless_block(self) -> str:
        serial = f'ENV{{ID_SERIAL}}=="LOCAL_{self.index:03d}_*"'
        return (f'ACTION!="remove", SUBSYSTEM=="block", {serial}, SYMLINK+="xapi/block/%k"\n'
                f'ACTION=="add", SUBSYSTEM=="block", {serial}, {XEN_RUN}\n')

    @property
    def dropin(self) -> str:
        return f"/etc/udev/rules.d/61-local-disks-{self.index:03d}.rules"

    def dropin_content(self) -> str:
        tag = f"LOCAL_{self.index:03d}_*"
        # the rule that makes every disk's /dev/xapi/block link: a compliant host's links
        # must be ones udev makes again at the next boot (check evaluates the rule set)
        return ('ACTION!="remove", SUBSYSTEM=="block", KERNEL=="sd*[!0-9]", SYMLINK+="xapi/block/%k"\n'
                f'SUBSYSTEM=="block", ENV{{ID_SERIAL}}=="{tag}", ENV{{UDISKS_IGNORE}}="1"\n'
                f'ACTION=="add", SUBSYSTEM=="block", ENV{{ID_FS_TYPE}}=="linux_raid_member", '
                f'ENV{{ID_SERIAL}}=="{tag}", '
                'RUN+="/sbin/mdadm --incremental --export $devnode --offroot"\n')

    def absent_rule(self) -> str:
        return (f'SUBSYSTEM=="block", KERNEL=="sd*", ENV{{ID_SERIAL}}=="LOCAL_{self.index:03d}_*", '
                'ENV{UDISKS_IGNORE}="0"\n')

    def symlink_count(self) -> int:
        return len(self.devices)

    def yaml(self) -> str:
        def block(text: str) -> str:
            return "".join(f"      {line}\n" for line in text.splitlines())

        out = [
            f"# Generated by benchmarks/hosts.py (policy {self.index}).",
            "version: 1",
            f"name: {self.name}",
            "description: Local SATA disks passed through to VMs as removable storage",
            "rules:",
            f"  - file: {VENDOR_FILE}",
            "    ensure: block",
        ]
        if self.block_items:
            out.append(f"    for_each: [{', '.join(self.block_items)}]")
            out += ["    content: |", block(BLOCK_TEMPLATE).rstrip("\n")]
        else:
            out += ["    content: |", block(self._deviceless_block()).rstrip("\n")]
        out += [
            f"  - file: {VENDOR_FILE}",
            "    ensure: lines",
            "    description: vendor rules the local disks rely on",
            "    content: |",
            block(LINES_VARIANTS[self.index % len(LINES_VARIANTS)] + "\n").rstrip("\n"),
            f"  - file: {self.dropin}",
            "    ensure: file",
            "    content: |",
            block(self.dropin_content()).rstrip("\n"),
            f"  - file: {VENDOR_FILE}",
            "    ensure: absent",
            "    description: an old rule that hid the disks from VMs",
            "    content: |",
            block(self.absent_rule()).rstrip("\n"),
        ]
        if self.devices:
            out.append("symlinks:")
        if self.by_target:
            items = ", ".join(kernel_name(d) for d in self.by_target)
            out += ["  - link: /dev/xapi/block/{{ item }}", f"    for_each: [{items}]",
                    "    target: /dev/{{ item }}", "    required: false"]
        for d in self.by_serial:
            out += [f"  - link: /dev/xapi/block/{kernel_name(d)}",
                    f'    device: {{serial: "{serial_of(d)}"}}']
        out += ["apply:", "  reload: true", "  trigger: true"]
        text = "\n".join(out) + "\n"
        if len(text.encode()) > MAX_POLICY_BYTES:
            raise ValueError(f"policy {self.name} is {len(text)} bytes, over the tool's 1 MiB "
                             "limit: use more policies for this many devices")
        return text


# --- the host ------------------------------------------------------------------------

@dataclass(frozen=True)
class HostSpec:
    vendor_rules: int = 100
    policies: int = 1
    devices: int = 10
    drift: str | None = None  # None (compliant) or a key of DRIFTS

    def label(self) -> str:
        return (f"rules={self.vendor_rules} policies={self.policies} devices={self.devices} "
                f"{self.drift or 'compliant'}")


@dataclass
class Expected:
    """What a correct `check --format json` must report for a generated host."""

    exit_status: int
    policies: int
    rule_findings: int
    symlink_findings: int
    drifted: list[tuple[str, str]] = field(default_factory=list)  # (kind, status) per drift


@dataclass
class GeneratedHost:
    root: Path
    spec: HostSpec
    expected: Expected


def plan_policies(spec: HostSpec) -> list[PolicyPlan]:
    plans = [PolicyPlan(i, []) for i in range(spec.policies)]
    for d in range(1, spec.devices + 1):  # device 0 (sda) is the system disk: unmanaged
        plans[(d - 1) % spec.policies].devices.append(d)
    return plans


def _write(root: Path, host_path: str, text: str) -> None:
    target = root / host_path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def _make_devices(root: Path, count: int, plans: Sequence[PolicyPlan], drift: str | None) -> None:
    dev = root / "dev"
    by_id = dev / "disk" / "by-id"
    xapi = dev / "xapi" / "block"
    for directory in (by_id, xapi):
        directory.mkdir(parents=True, exist_ok=True)
    for d in range(count + 1):
        name = kernel_name(d)
        (dev / name).touch()
        os.symlink(f"../../{name}", by_id / f"ata-{serial_of(d)}")
        os.symlink(f"../../{name}", by_id / f"wwn-{wwn_of(d)}")
    missing = plans[0].devices[0] if drift == "link-missing" else None
    for plan in plans:
        for d in plan.devices:
            if d != missing:
                os.symlink(f"../../{kernel_name(d)}", xapi / kernel_name(d))


def build_host(root: Path, spec: HostSpec) -> GeneratedHost:
    """Write the host tree under `root` (created; must not exist or be empty)."""
    if spec.drift is not None and spec.drift not in DRIFTS:
        raise ValueError(f"unknown drift {spec.drift!r}: expected one of {', '.join(DRIFTS)}")
    if spec.policies < 1 or spec.devices < 1:
        raise ValueError("a host needs at least one policy and one device")
    root.mkdir(parents=True, exist_ok=True)
    plans = plan_policies(spec)

    vendor = vendor_rules(spec.vendor_rules)
    if spec.drift != "block-missing":
        # The admin's blocks sit at the end of the vendor file, one per policy.
        for plan in plans:
            content = plan.block_content()
            if spec.drift == "rule-changed" and plan.index == 0:
                content = content.replace('SYMLINK+="xapi/block/%k"', 'SYMLINK+="xapi/%k"', 1)
            vendor += (f"\n# BEGIN udev-drift {plan.name}\n{content}# END udev-drift {plan.name}\n")
    _write(root, VENDOR_FILE, vendor)
    for plan in plans:
        _write(root, plan.dropin, plan.dropin_content())
        _write(root, f"{POLICY_DIR}/{plan.name}.yaml", plan.yaml())
    _make_devices(root, spec.devices, plans, spec.drift)

    drifted: list[tuple[str, str]] = []
    if spec.drift == "block-missing":
        drifted = [("rule", "missing")] * spec.policies
    elif spec.drift == "rule-changed":
        drifted = [("rule", "changed")]
    elif spec.drift == "link-missing":
        drifted = [("symlink", "missing")]
    expected = Expected(
        exit_status=1 if drifted else 0,
        policies=spec.policies,
        rule_findings=4 * spec.policies,  # block, lines, file, absent
        symlink_findings=sum(plan.symlink_count() for plan in plans),
        drifted=drifted,
    )
    return GeneratedHost(root, spec, expected)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write one generated host tree (for profiling).")
    parser.add_argument("root", type=Path, help="directory to create (must not exist)")
    parser.add_argument("--rules", type=int, default=100, help="vendor rules (default 100)")
    parser.add_argument("--policies", type=int, default=1, help="policies (default 1)")
    parser.add_argument("--devices", type=int, default=10, help="managed devices (default 10)")
    parser.add_argument("--drift", choices=sorted(DRIFTS), help="make the host drift this way")
    args = parser.parse_args(argv)
    if args.root.exists():
        parser.error(f"{args.root} exists; give a new directory")
    spec = HostSpec(args.rules, args.policies, args.devices, args.drift)
    try:
        host = build_host(args.root, spec)
    except ValueError as error:
        shutil.rmtree(args.root, ignore_errors=True)
        parser.error(str(error))
    print(f"{host.root}: {spec.label()}; expect exit {host.expected.exit_status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
