"""Running udevadm: the only code that talks to the live udev daemon.

Every call is logged at debug level, bounded by a timeout, and turned into a
UdevadmError (exit 3) with udevadm's own last words when it fails.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
from collections.abc import Sequence

from checker.errors import UdevDriftError

log = logging.getLogger("udev-drift")

DEFAULT_TIMEOUT = 60.0
SETTLE_TIMEOUT = 30


class UdevadmError(UdevDriftError):
    exit_status = 3


def run_bounded(command: Sequence[str], timeout: float) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a command that must end within `timeout` seconds.

    udevadm is often a wrapper script (or a --udevadm given for tests): on a timeout the
    whole process group it started is killed, not only the wrapper, so that no child
    keeps running (or keeps our pipes open, which would hang the run).
    Raises FileNotFoundError/PermissionError as Popen does, subprocess.TimeoutExpired
    once everything is stopped.
    """
    import os
    import signal
    import subprocess

    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace",
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        try:  # a child that left the group may still hold the pipes: do not wait for it
            child.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    except BaseException:  # interrupted: leave nothing behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise
    return child.returncode, out, err


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
            returncode, stdout, stderr = run_bounded(command, self.timeout)
        except FileNotFoundError:
            raise UdevadmError(f"{self.binary}: not found; install udev, or name it with "
                               "--udevadm PATH") from None
        except PermissionError:
            raise UdevadmError(f"{self.binary}: not executable") from None
        except subprocess.TimeoutExpired:
            raise UdevadmError(f"{shown}: no answer after {self.timeout:g} s; "
                               "udev may be stuck (see journalctl -u systemd-udevd)") from None
        if returncode != 0:
            last = (stderr.strip().splitlines() or [f"exit status {returncode}"])[-1]
            raise UdevadmError(f"{shown} failed: {last}")
        return stdout

    def has_verify(self) -> bool:
        """`udevadm verify` exists from systemd 254 on; Debian 12 has 252."""
        import subprocess

        try:
            returncode, _, _ = run_bounded(self.command("verify", "--help"), self.timeout)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return returncode == 0

    def verify(self, path: str) -> str | None:
        """udevadm's complaint about a rules file, or None when it accepts it."""
        import subprocess

        command = self.command("verify", "--resolve-names=never", "--no-style", path)
        log.debug("running %s", shlex.join(command))
        try:
            returncode, stdout, stderr = run_bounded(command, self.timeout)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"udevadm verify could not run: {error}"
        if returncode == 0:
            return None
        return " ".join((stderr or stdout).split())[:500] or "rejected"
