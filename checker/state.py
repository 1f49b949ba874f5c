"""The state directory: what must outlive one run.

    <state-dir>/lock                      one run at a time (flock; holds the pid)
    <state-dir>/fingerprints.json         each managed file as a good run left it
    <state-dir>/metrics.json              repairs made and times, for the metrics (checker.exporters/)
    <state-dir>/backups/<host path>.<UTC time>.bak   the file before each repair

Backups live here, never in a rules directory (udev would read a `*.rules` backup).
A state file that cannot be read is set aside with a warning, never a crash: losing it
costs an explanation of why a file drifted, not a run. State files are opened without
following links and without blocking, and only regular files of bounded size are read,
as JSON with bounded numbers and nesting: a FIFO, a link to /dev/zero or a number of
5,000 digits at a state name costs a warning, never a hang or a crash on every run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import re
import stat as stat_module
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Callable

from checker.atomic import write_atomic
from checker.errors import UdevDriftError
from checker.safe_open import UnusableFile, open_regular, read_regular

log = logging.getLogger("udev-drift")

BACKUPS_KEPT = 10  # per managed file
LOCK_WAIT_SECONDS = 30.0
_BACKUP_NAME = re.compile(r"(\d{4}-\d\d-\d\dT\d{6}Z)(?:-(\d+))?\.bak")
MAX_STATE_BYTES = 16 * 1024 * 1024  # thousands of managed files' fingerprints fit many times
MAX_INTEGER_DIGITS = 30  # inodes, devices, counters; far below what float() overflows on


class StateError(UdevDriftError):
    exit_status = 3


class LockHeld(UdevDriftError):
    exit_status = 3


class BadStateFile(UnusableFile):
    """A state file that is there but not one a run can use: it is set aside."""


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise BadStateFile(f"a number of {len(text)} digits")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadStateFile(f"the number {text[:20]} is out of range")
    return value


def _not_a_number(name: str) -> Any:
    raise BadStateFile(f"{name} is not a number")


def parse_state_json(data: bytes) -> dict[str, Any]:
    """A JSON object with finite numbers of bounded size; BadStateFile for anything else."""
    try:
        value = json.loads(data.decode("utf-8"), parse_int=_integer, parse_float=_finite,
                           parse_constant=_not_a_number)
    except RecursionError:
        raise BadStateFile("nested too deeply") from None
    except UnicodeDecodeError:
        raise BadStateFile("not UTF-8") from None
    except BadStateFile:
        raise
    except ValueError as error:
        raise BadStateFile(str(error)) from None
    if not isinstance(value, dict):
        raise BadStateFile("not a JSON object")
    return value


def set_aside(path: str, why: str) -> None:
    """Move an unusable state file (or whatever is at its name) out of the way, and say so."""
    aside = f"{path}.corrupt-{int(time.time())}"
    try:
        os.rename(path, aside)
    except OSError as error:
        log.warning("%s: unusable state (%s); cannot set it aside (%s); going on without it",
                    path, why, error.strerror)
        return
    log.warning("%s: unreadable state (%s); set aside as %s and starting afresh", path, why, aside)


ShapeProblem = Callable[[dict[str, Any]], "str | None"]  # what is wrong with a file's shape, or None


def load_state_json(path: str, problem: ShapeProblem | None = None) -> dict[str, Any]:
    """The JSON object at `path`; {} when it is missing, unreadable (a warning) or unusable
    (set aside with a warning). `problem` says what is wrong with its shape, if anything."""
    try:
        data = parse_state_json(read_regular(path, MAX_STATE_BYTES))
        wrong = problem(data) if problem is not None else None
        if wrong:
            raise BadStateFile(wrong)
        return data
    except (FileNotFoundError, NotADirectoryError):  # a state directory that is not one is said elsewhere
        return {}
    except UnusableFile as error:
        set_aside(path, str(error))
        return {}
    except OSError as error:
        # Unreadable is not corrupt: leave it where it is, and say so.
        log.warning("%s: cannot read state (%s); going on without it", path, error.strerror)
        return {}


def _open_lock(path: str) -> int:
    # flock on a FIFO fails (EINVAL) and opening one could wait: whatever is not a regular
    # file at the lock's name is set aside once, and the lock made afresh.
    try:
        return open_regular(path, os.O_RDWR | os.O_CREAT)
    except UnusableFile as error:
        with contextlib.suppress(OSError):
            # Another run may have set it aside and made the real lock meanwhile: keep that.
            if not stat_module.S_ISREG(os.lstat(path).st_mode):
                set_aside(path, str(error))
    except OSError as error:
        raise StateError(f"{path}: cannot open the lock file: {error.strerror}") from None
    try:
        return open_regular(path, os.O_RDWR | os.O_CREAT)
    except UnusableFile as error:
        raise StateError(f"{path}: cannot open the lock file: it is {error}") from None
    except OSError as error:
        raise StateError(f"{path}: cannot open the lock file: {error.strerror}") from None


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
        fd = _open_lock(path)
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

    def read_json(self, name: str, problem: ShapeProblem | None = None) -> dict[str, Any]:
        """The state file `name` as a JSON object ({} if it is missing or unusable)."""
        return load_state_json(os.path.join(self.path, name), problem)

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
        # By age, not by name: after the clock went back, the backup just made has the
        # name that sorts first. It is never a candidate.
        older = [path for path in self.backups_of(host_path) if path != target]
        for old in older[:max(0, len(older) - (BACKUPS_KEPT - 1))]:
            with contextlib.suppress(OSError):
                os.unlink(old)
        return target

    def backups_of(self, host_path: str) -> list[str]:
        """The backups of one file, oldest first (by when they were written; the name,
        from a clock that may have jumped, only breaks ties)."""
        directory, name = self._backup_place(host_path)
        try:
            entries = os.listdir(directory)
        except OSError:
            return []
        found: list[tuple[int, str, int, str]] = []
        for entry in entries:
            match = _BACKUP_NAME.fullmatch(entry[len(name) + 1:]) if entry.startswith(name + ".") else None
            if match:
                path = os.path.join(directory, entry)
                try:
                    written = os.lstat(path).st_mtime_ns
                except OSError:
                    continue
                found.append((written, match.group(1), int(match.group(2) or 1), path))
        return [path for *_, path in sorted(found)]
