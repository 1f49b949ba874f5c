"""The state directory: what must outlive one run.

    <state-dir>/lock                      one run at a time (flock; holds the pid)
    <state-dir>/fingerprints.json         each managed file as a good run left it
    <state-dir>/metrics.json              repairs made and times, for the metrics (checker.exporters/)
    <state-dir>/backups/<host path>.<UTC time>.bak   the file before each repair

Backups live here, never in a rules directory (udev would read a `*.rules` backup).
A state file that cannot be read is set aside with a warning, never a crash: losing it
costs an explanation of why a file drifted, not a run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from checker.atomic import write_atomic
from checker.errors import UdevDriftError

log = logging.getLogger("udev-drift")

BACKUPS_KEPT = 10  # per managed file
LOCK_WAIT_SECONDS = 30.0
_BACKUP_NAME = re.compile(r"(\d{4}-\d\d-\d\dT\d{6}Z)(?:-(\d+))?\.bak")


class StateError(UdevDriftError):
    exit_status = 3


class LockHeld(UdevDriftError):
    exit_status = 3


class StateDir:
    def __init__(self, path: str) -> None:
        self.path = path

    def exists(self) -> bool:
        """True when the directory is there to write in (made by install or a repair)."""
        return os.path.isdir(self.path) and os.access(self.path, os.W_OK)

    def ensure(self) -> None:
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as error:
            raise StateError(f"{self.path}: cannot create the state directory: "
                             f"{error.strerror}") from None

    # -- one run at a time -------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: float = LOCK_WAIT_SECONDS, name: str = "lock") -> Iterator[None]:
        """Hold the lock `name` (the run lock by default); wait at most `wait` seconds for
        another run to let go of it.

        flock is released by the kernel when its holder dies, so a lock left by a
        killed run never blocks the next one.
        """
        self.ensure()
        path = os.path.join(self.path, name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise StateError(f"{path}: cannot open the lock file: {error.strerror}") from None
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES):
                        raise StateError(f"{path}: cannot lock: {error.strerror}") from None
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                        raise LockHeld(
                            f"another udev-drift run (pid {holder}) has held {path} for "
                            f"{wait:g} s; try again when it has finished") from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    # -- JSON state files ----------------------------------------------------------------

    def read_json(self, name: str) -> dict[str, Any]:
        path = os.path.join(self.path, name)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except FileNotFoundError:
            return {}
        except OSError as error:
            # Unreadable is not corrupt: leave it where it is, and say so.
            log.warning("%s: cannot read state (%s); going on without it", path, error.strerror)
            return {}
        except ValueError as error:
            aside = f"{path}.corrupt-{int(time.time())}"
            with contextlib.suppress(OSError):
                os.rename(path, aside)
            log.warning("%s: unreadable state (%s); set aside as %s and starting afresh",
                        path, error, aside)
            return {}

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        self.ensure()
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        write_atomic(os.path.join(self.path, name), text.encode("utf-8"))

    # -- backups -------------------------------------------------------------------------

    def _backup_place(self, host_path: str) -> tuple[str, str]:
        directory = os.path.join(self.path, "backups", os.path.dirname(host_path).lstrip("/"))
        return directory, os.path.basename(host_path)

    def backup(self, host_path: str, data: bytes, now: float | None = None) -> str:
        """Keep `data` (the file before a repair) and return where it went."""
        stamp = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc)
        directory, name = self._backup_place(host_path)
        base = os.path.join(directory, f"{name}.{stamp:%Y-%m-%dT%H%M%SZ}")
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as error:
            raise StateError(f"{directory}: cannot create the backup directory: "
                             f"{error.strerror}") from None
        target, serial = f"{base}.bak", 1
        while os.path.lexists(target):  # two repairs within one second
            serial += 1
            target = f"{base}-{serial}.bak"
        write_atomic(target, data)
        for old in self.backups_of(host_path)[:-BACKUPS_KEPT]:
            with contextlib.suppress(OSError):
                os.unlink(old)
        return target

    def backups_of(self, host_path: str) -> list[str]:
        """The backups of one file, oldest first."""
        directory, name = self._backup_place(host_path)
        try:
            entries = os.listdir(directory)
        except OSError:
            return []
        found: list[tuple[str, int, str]] = []
        for entry in entries:
            match = _BACKUP_NAME.fullmatch(entry[len(name) + 1:]) if entry.startswith(name + ".") else None
            if match:
                found.append((match.group(1), int(match.group(2) or 1), os.path.join(directory, entry)))
        return [path for _, _, path in sorted(found)]
