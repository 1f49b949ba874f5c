"""What `udev-drift install` installs into: the target system, and the two values it writes.

The target is the running host (`/`) or a tree given with --root (a host image, a test
tree). What is installed depends on what the target has, looked up under its root, never
on the machine running the command:

- systemd units (and their enablement) where systemd is the target's init system, else a
  cron entry: exactly one scheduler, never both;
- a package-manager hook for each of dpkg (apt), dnf and yum that the target has.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

from checker.errors import UsageError
from checker.host import Host
from checker.observe.versions import Version, systemd_version
from checker.records import dataclass

DEFAULT_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
BINARY_FOR_SELF_CONTAINED = "/usr/local/bin/udev-drift"

# The paths go verbatim into unit files, apt.conf, dnf/yum action lines and a crontab.
# Each format has its own quoting (and yum's splits the whole line at every ':'; systemd
# and cron give '%' a meaning; apt.conf ends a string at '"'), so instead of five quoting
# schemes, paths are kept to characters that need none of them.
SAFE_PATH = re.compile(r"/[A-Za-z0-9._+@/-]*")
SAFE_CHARACTERS = "letters, digits and . _ + @ - /"

# systemd as the target's init system: its manager binary (merged /usr or not), or, on
# the running host, the directory that exists only while systemd runs as PID 1.
SYSTEMD_MANAGERS = ("/usr/lib/systemd/systemd", "/lib/systemd/systemd")
SYSTEMD_RUNNING = "/run/systemd/system"

# Package managers by the file that marks them on the target.
PACKAGE_MANAGERS = (("apt", "/usr/bin/dpkg"), ("dnf", "/usr/bin/dnf"), ("yum", "/usr/bin/yum"))


@dataclass(frozen=True)
class Settings:
    """The values written into units, hooks and the cron entry."""

    binary: str                 # the udev-drift command they run (a host path)
    textfile_dir: str | None    # --textfile-dir for node_exporter, or None for no metrics file

    def check_command(self) -> list[str]:
        """`udev-drift check --repair` as every scheduler and hook runs it."""
        command = [self.binary, "check", "--repair", "--quiet"]
        if self.textfile_dir is not None:
            command += ["--textfile-dir", self.textfile_dir]
        return command


@dataclass(frozen=True)
class Target:
    host: Host
    systemd: bool                      # units go in (else the cron entry)
    live: bool                         # root is / and systemd runs as PID 1: enable --now
    package_managers: tuple[str, ...]  # "apt", "dnf", "yum"
    systemd_version: Version           # what the units are written for

    @property
    def unit_dialect(self) -> int:
        """The systemd version the units are written for (252 where nothing says)."""
        return self.systemd_version.number or DEFAULT_SYSTEMD

    @property
    def root(self) -> str:
        return self.host.root


# Where neither --systemd nor the target says which systemd it has.
DEFAULT_SYSTEMD = 252


def detect(host: Host, systemd_override: int | None = None) -> Target:
    def exists(path: str) -> bool:
        return os.path.lexists(host.path(path))

    live = not host.is_tree and os.path.isdir(SYSTEMD_RUNNING)
    systemd = live or any(exists(path) for path in SYSTEMD_MANAGERS)
    managers = tuple(name for name, marker in PACKAGE_MANAGERS if exists(marker))
    if systemd_override is not None:
        version = Version(systemd_override, "--systemd")
    elif systemd:
        version = systemd_version(host)
    else:
        version = Version(None, "no systemd")
    return Target(host, systemd, live, managers, version)


def safe_path(option: str, value: str) -> str:
    if not value.startswith("/"):
        raise UsageError(f"{option} {value}: must be an absolute path")
    if not SAFE_PATH.fullmatch(value):
        raise UsageError(f"{option} {value!r}: only {SAFE_CHARACTERS} are allowed (the path is "
                         "written into unit files, apt.conf, dnf/yum actions and a crontab unquoted)")
    return os.path.normpath(value)


def default_binary() -> str:
    """The udev-drift command to write into units and hooks when --binary is not given.

    The self-contained binary is copied to /usr/local/bin by convention (docs/binary.md).
    Otherwise, the console script that is running (pip's `udev-drift`), else the one beside
    this Python (run as `python -m checker`), else the one on PATH.
    """
    if getattr(sys, "frozen", False):  # PyInstaller sets it
        return BINARY_FOR_SELF_CONTAINED
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "udev-drift" and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    beside = os.path.join(os.path.dirname(sys.executable), "udev-drift")
    if os.access(beside, os.X_OK):
        return os.path.abspath(beside)
    found = shutil.which("udev-drift")
    if found and "/shims/" not in found:  # a pyenv shim is no stable path for a unit
        return os.path.abspath(found)
    return BINARY_FOR_SELF_CONTAINED


def target_for(host: Host, systemd_override: int | None = None) -> Target:
    """The target install and uninstall act on: a tree anyone may, the running host only root."""
    if not host.is_tree and os.geteuid() != 0:
        raise UsageError("install and uninstall change /etc and /var/lib: run them as root "
                         "(or with --root DIR for a tree you own)")
    return detect(host, systemd_override)
