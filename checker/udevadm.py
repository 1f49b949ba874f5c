"""Running udevadm: the only code that talks to the live udev daemon.

Every call is logged at debug level, bounded by a timeout, and turned into a
UdevadmError (exit 3) with udevadm's own last words when it fails.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence

from checker.errors import UdevDriftError

log = logging.getLogger("udev-drift")

DEFAULT_TIMEOUT = 60.0
SETTLE_TIMEOUT = 30


class UdevadmError(UdevDriftError):
    exit_status = 3


class Udevadm:
    def __init__(self, binary: str = "udevadm", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = binary
        self.timeout = timeout

    def command(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def run(self, args: Sequence[str]) -> str:
        import subprocess  # in each method: a check under --root never runs udevadm

        command = self.command(*args)
        shown = shlex.join(command)
        log.debug("running %s", shown)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            raise UdevadmError(f"{self.binary}: not found; install udev, or name it with "
                               "--udevadm PATH") from None
        except PermissionError:
            raise UdevadmError(f"{self.binary}: not executable") from None
        except subprocess.TimeoutExpired:
            raise UdevadmError(f"{shown}: no answer after {self.timeout:g} s; "
                               "udev may be stuck (see journalctl -u systemd-udevd)") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise UdevadmError(f"{shown} failed: {last}")
        return done.stdout

    def has_verify(self) -> bool:
        """`udevadm verify` exists from systemd 254 on; Debian 12 has 252."""
        import subprocess

        try:
            done = subprocess.run(self.command("verify", "--help"), capture_output=True,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    def verify(self, path: str) -> str | None:
        """udevadm's complaint about a rules file, or None when it accepts it."""
        import subprocess

        command = self.command("verify", "--resolve-names=never", "--no-style", path)
        log.debug("running %s", shlex.join(command))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"udevadm verify could not run: {error}"
        if done.returncode == 0:
            return None
        return " ".join((done.stderr or done.stdout).split())[:500] or "rejected"
