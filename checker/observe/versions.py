"""Which systemd (and so which udev) a host or a host image runs, read, never run; and
so whose udev semantics a run applies (udev_semantics(): there, on the running host
only, `udevadm --version` is asked first).

udev has been part of systemd since 183, so one number answers both. Where it comes from,
in this order:

1. the package database: dpkg's `status` file (`systemd` or `udev`, version `252.39-1`);
2. the version banner compiled into systemd's own binaries: `systemd 219` in
   `/usr/lib/systemd/systemd` (PACKAGE_STRING, printed at boot: "systemd 219 running in
   system mode"), or the name of `libsystemd-shared-252.so` beside it. RHEL and CentOS 7
   (XenServer 8, XCP-ng 8 dom0s) keep their rpm database in Berkeley DB, which is not
   read here: their binaries answer;
3. nothing found: the caller's default, said as such.

Every file is opened as the package leftovers are (no link followed at the last
component, no FIFO waited on, bounded size), and under --root only inside the tree.
"""

from __future__ import annotations

import os
import re

from checker.host import Host
from checker.records import dataclass
from checker.rules.semantics import DEFAULT, UdevSemantics, for_version, parse_choice
from checker.udevadm.calls import Udevadm, UdevadmError

DPKG_STATUS = "/var/lib/dpkg/status"
SYSTEMD_BINARIES = ("/usr/lib/systemd/systemd", "/lib/systemd/systemd")
SHARED_LIBRARY_DIRS = ("/usr/lib/systemd", "/lib/systemd")
DPKG_PACKAGES = ("systemd", "udev")

STATUS_LIMIT = 64 * 1024 * 1024   # a dpkg status file of a large host is a few MiB
BINARY_LIMIT = 64 * 1024 * 1024   # systemd's manager is 1.5 MiB on CentOS 7, 90 KiB on Debian 12

_BANNER = re.compile(rb"\0systemd (\d{2,4})(?:[. ~+-][^\0]*)?\0")
_SHARED = re.compile(r"libsystemd-shared-(\d{2,4})(?:\.[0-9.]+)?\.so")
_UPSTREAM = re.compile(r"(?:\d+:)?(\d{2,4})\b")
# What dpkg accepts in a version (deb-version(7)); anything else in a status file is shown
# quoted with escapes, and cut: the source is printed to terminals (install's header).
_DPKG_VERSION = re.compile(r"[0-9A-Za-z.+~:-]{1,100}")


@dataclass(frozen=True)
class Version:
    number: int | None  # None: not found
    source: str         # where it was read, for people ("dpkg: systemd 252.39-1~deb12u2")


def systemd_version(host: Host) -> Version:
    """The target's systemd version, or Version(None, why) when nothing says it."""
    return _from_dpkg(host) or _from_binaries(host) or Version(
        None, f"no systemd package in {DPKG_STATUS} and no version in {SYSTEMD_BINARIES[0]}")


def _from_dpkg(host: Host) -> Version | None:
    text = host.read_file(DPKG_STATUS, STATUS_LIMIT)
    if text is None:
        return None
    for stanza in text.decode("utf-8", "replace").split("\n\n"):
        fields = _fields(stanza)
        # "install ok installed"; a removed package keeps a stanza ("deinstall ok config-files")
        if fields.get("package") not in DPKG_PACKAGES or not fields.get("status", "").endswith(" installed"):
            continue
        version = fields.get("version", "")
        found = _UPSTREAM.match(version)
        if found:
            said = version if _DPKG_VERSION.fullmatch(version) else _quoted(version)
            return Version(int(found.group(1)), f"dpkg: {fields['package']} {said}")
    return None


def _quoted(text: str, most: int = 100) -> str:
    """`text` as a quoted ASCII literal (control characters as escapes), cut to `most`."""
    return ascii(text[:most]) + ("..." if len(text) > most else "")


def _fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.split("\n"):
        name, colon, value = line.partition(":")
        if colon and not line[:1].isspace():
            fields[name.strip().lower()] = value.strip()
    return fields


def _from_binaries(host: Host) -> Version | None:
    for directory in SHARED_LIBRARY_DIRS:
        resolved = host.resolve(directory)
        try:
            names = os.listdir(host.path(resolved)) if resolved is not None else []
        except OSError:
            continue
        for name in sorted(names):
            shared = _SHARED.fullmatch(name)
            if shared:
                return Version(int(shared.group(1)), f"{directory}/{name}")
    for binary in SYSTEMD_BINARIES:
        data = host.read_file(binary, BINARY_LIMIT)
        banner = _BANNER.search(data) if data is not None else None
        if banner:
            number = int(banner.group(1))
            return Version(number, f"{binary}: \"systemd {number}\"")
    return None


# --- udev's semantics -----------------------------------------------------------------


@dataclass(frozen=True)
class UdevChoice:
    """The udev whose rules language and evaluation a run applies, and why."""

    semantics: UdevSemantics
    source: str  # for people: "--udev 219", "udevadm --version: 252", "dpkg: systemd 252.39-1"
    note: str = ""  # said when the choice is a guess (nothing found, an untested version)

    def to_json(self) -> dict[str, object]:
        found: dict[str, object] = {"version": self.semantics.version, "source": self.source}
        if self.note:
            found["note"] = self.note
        return found

    def describe(self) -> str:
        said = f"udev {self.semantics.version} semantics ({self.source})"
        return said + (f"; {self.note}" if self.note else "")


def udev_semantics(host: Host, choice: str = "auto", udevadm: Udevadm | None = None) -> UdevChoice:
    """`--udev 219|252|auto`. auto: on the running host, `udevadm --version` (udevadm is
    run, never the tree's); under --root, or when that fails, the package database or the
    version in systemd's binaries (read, never run: systemd_version()); else 252, said so."""
    chosen = parse_choice(choice)
    if chosen is not None:
        return UdevChoice(chosen, f"--udev {choice}")
    if not host.is_tree and udevadm is not None:
        live = _live_version(udevadm)
        if live is not None:
            semantics, note = for_version(live)
            return UdevChoice(semantics, f"udevadm --version: {live}", note)
    version = systemd_version(host)
    if version.number is not None:
        semantics, note = for_version(version.number)
        return UdevChoice(semantics, version.source, note)
    return UdevChoice(DEFAULT, "default",
                      f"udev's version not found ({version.source}): udev 252's semantics applied")


def _live_version(udevadm: Udevadm) -> int | None:
    try:
        out = udevadm.run(["--version"])
    except UdevadmError:
        return None
    found = _UPSTREAM.match(out.strip())
    return int(found.group(1)) if found else None
