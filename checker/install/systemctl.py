"""Enabling and disabling the units with systemctl, and seeing which links that made.

On a live systemd (the running host, systemd as PID 1) units are enabled and started
(`enable --now`) after a daemon-reload. Anywhere else, under --root or where systemd is
installed but not running (a container, a chroot, an image being prepared), systemctl
works on the files alone: `systemctl --root=DIR enable` makes the same links and starts
nothing.

`enable` makes links (and a `.wants` directory when there is none) that install did not
write itself; `links()` before and after tells which, for the manifest.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence

from checker.errors import UdevDriftError
from checker.host import Host

log = logging.getLogger("udev-drift")

TIMEOUT = 90.0  # enable --now starts units; a daemon-reload on a busy host takes a while


class SystemctlError(UdevDriftError):
    exit_status = 3


class Systemctl:
    def __init__(self, host: Host, live: bool, binary: str | None = None) -> None:
        self.host = host
        self.live = live
        self.binary = binary or shutil.which("systemctl") or "systemctl"

    def command(self, *args: str) -> list[str]:
        if self.live:
            return [self.binary, *args]
        return [self.binary, f"--root={self.host.root}", *args]

    def run(self, *args: str) -> None:
        command = self.command(*args)
        done = self._call(command)
        if done.returncode != 0:
            words = (done.stderr or done.stdout).strip().splitlines()
            raise SystemctlError(f"`{shlex.join(command)}` failed (exit {done.returncode}): "
                                 f"{words[-1] if words else 'no message'}")

    def state(self, verb: str, unit: str) -> str:
        """`is-enabled` or `is-active` of a unit: its one-word answer ('' if none)."""
        done = self._call(self.command(verb, unit))
        words = done.stdout.split()
        return words[0] if words else ""

    def enabled(self, units: Sequence[str]) -> bool:
        return all(self.state("is-enabled", unit) == "enabled" for unit in units)

    def active(self, units: Sequence[str]) -> bool:
        return all(self.state("is-active", unit) == "active" for unit in units)

    def _call(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        log.debug("running %s", shlex.join(command))
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                                  stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            raise SystemctlError(f"{self.binary}: not found: the target has systemd but this machine "
                                 "has no systemctl to enable the units with (install systemd)") from None
        except subprocess.TimeoutExpired:
            raise SystemctlError(f"`{shlex.join(command)}` did not finish in {TIMEOUT:g} s") from None
        except OSError as error:
            raise SystemctlError(f"`{shlex.join(command)}` could not run: {error.strerror}") from None


def links(host: Host, directory: str) -> tuple[dict[str, str], set[str]]:
    """Links (host path -> target) and directories under a unit directory of the host."""
    found: dict[str, str] = {}
    directories: set[str] = set()
    top = host.path(host.resolve(directory) or directory)  # a link there is followed in the tree
    for where, dirs, files in os.walk(top):
        for name in dirs + files:
            full = os.path.join(where, name)
            host_path = os.path.join(directory, os.path.relpath(full, top))
            if os.path.islink(full):
                found[host_path] = os.readlink(full)
            elif name in dirs:
                directories.add(host_path)
    return found, directories
