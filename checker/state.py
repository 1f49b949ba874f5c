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

The directory is opened inside the --root tree it belongs to (checker.safe_files.confined: links on
the way are followed as in a chroot), and nothing inside it is reached through a link:
a planted `backups` link is refused, never followed. Run as root, the directory and each
state file must be root's and writable by no one else: what another user could plant
here (a manifest that uninstall acts on, a backup link) would act with root's powers.
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
from typing import Any, Callable, Optional

from checker.errors import UdevDriftError
from checker.host import Host
from checker.safe_files import confined
from checker.safe_files.atomic import write_in
from checker.safe_files.safe_open import UnusableFile, open_regular, read_open

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


def set_aside(path: str, why: str, name: str | None = None, dir_fd: int | None = None) -> None:
    """Move an unusable state file (or whatever is at its name) out of the way, and say so.
    With `dir_fd`, `name` in that directory is moved; `path` is how messages name it."""
    source = name if dir_fd is not None and name is not None else path
    aside = f"{source}.corrupt-{int(time.time())}"
    try:
        os.rename(source, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as error:
        log.warning("%s: unusable state (%s); cannot set it aside (%s); going on without it",
                    path, why, error.strerror)
        return
    log.warning("%s: unreadable state (%s); set aside as %s and starting afresh",
                path, why, os.path.join(os.path.dirname(path), os.path.basename(aside)))


ShapeProblem = Callable[[dict[str, Any]], Optional[str]]  # what is wrong with a file's shape, or None


def _open_lock(dir_fd: int, name: str, path: str) -> int:
    # flock on a FIFO fails (EINVAL) and opening one could wait: whatever is not a regular
    # file at the lock's name is set aside once, and the lock made afresh.
    flags = os.O_RDWR | os.O_CREAT
    try:
        return open_regular(name, flags, dir_fd=dir_fd)
    except UnusableFile as error:
        with contextlib.suppress(OSError):
            # Another run may have set it aside and made the real lock meanwhile: keep that.
            if not stat_module.S_ISREG(os.lstat(name, dir_fd=dir_fd).st_mode):
                aside = f"{name}.corrupt-{int(time.time())}"
                os.rename(name, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                log.warning("%s: unusable lock (%s); set aside as %s", path, error, aside)
    except OSError as error:
        raise StateError(f"{path}: cannot open the lock file: {error.strerror}") from None
    try:
        return open_regular(name, flags, dir_fd=dir_fd)
    except UnusableFile as error:
        raise StateError(f"{path}: cannot open the lock file: it is {error}") from None
    except OSError as error:
        raise StateError(f"{path}: cannot open the lock file: {error.strerror}") from None


class UnsafeState(StateError):
    """The state directory or a state file could be written by someone other than root."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


# Untrusted state this process has already reported (refused or warned of): said once.
_SAID: set[str] = set()


def unsafe_because(st: os.stat_result) -> str | None:
    """Why root must not trust this state directory or file, or None."""
    if os.geteuid() != 0:
        return None  # a run as another user cannot be abused beyond that user's own powers
    if st.st_uid != 0:
        return f"is owned by uid {st.st_uid}, not root"
    if st.st_mode & 0o022:
        return f"is writable by group or others (mode {stat_module.S_IMODE(st.st_mode):04o})"
    return None


def check_trusted(st: os.stat_result, path: str) -> None:
    why = unsafe_because(st)
    if why is not None:
        raise UnsafeState(path, f"{path}: {why}: another user could have planted it for root to act "
                                "on, so it is not used (make it root's and writable by root alone, "
                                "or remove it)")


class StateDir:
    def __init__(self, path: str, root: str = "/") -> None:
        """`path` is the real path; under a --root tree it is confined to the tree."""
        self.path = path
        root = os.path.abspath(root)
        if root != "/" and (path == root or path.startswith(root + "/")):
            self._root, self._inside = root, path[len(root):] or "/"
        else:
            self._root, self._inside = "/", path
        self._locked = 0  # locks held: a run that writes state refuses what it cannot trust

    def exists(self) -> bool:
        """True when the directory is there to write in (made by install or a repair)."""
        path = self.located()
        return os.path.isdir(path) and os.access(path, os.W_OK)

    def located(self) -> str:
        """Where the directory really is (links followed inside the root), as a path."""
        if self._root == "/":
            return self.path  # the kernel follows the links as they are meant
        host = Host(self._root)
        return host.path(host.resolve(self._inside) or self._inside)

    def ensure(self) -> None:
        os.close(self._open(make=True))

    def _open(self, make: bool = False, verify: bool = True) -> int:
        """A descriptor on the directory, made when missing with `make`; checked as root's
        (unless not `verify`: a dry install that says it would make it root's first)."""
        try:
            if make:  # parents as other directories are (0755), the state directory 0700
                os.close(confined.open_directory(self._root, os.path.dirname(self._inside), make=0o755))
            fd = confined.open_directory(self._root, self._inside, make=0o700 if make else None)
        except FileNotFoundError:
            if make:
                raise StateError(f"{self.path}: cannot create the state directory: "
                                 f"{os.strerror(errno.ENOENT)}") from None
            raise
        except OSError as error:
            verb = "create" if make else "open"
            raise StateError(f"{self.path}: cannot {verb} the state directory: "
                             f"{error.strerror}") from None
        try:
            if verify:
                check_trusted(os.fstat(fd), self.path)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextlib.contextmanager
    def directory(self, make: bool = True, verify: bool = True) -> Iterator[int]:
        fd = self._open(make=make, verify=verify)
        try:
            yield fd
        finally:
            os.close(fd)

    # -- one run at a time -------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: float = LOCK_WAIT_SECONDS, name: str = "lock") -> Iterator[None]:
        """Hold the lock `name` (the run lock by default); wait at most `wait` seconds for
        another run to let go of it.

        flock is released by the kernel when its holder dies, so a lock left by a
        killed run never blocks the next one.
        """
        path = os.path.join(self.path, name)
        try:
            with self.directory() as dir_fd:
                fd = _open_lock(dir_fd, name, path)
            try:
                check_trusted(os.fstat(fd), path)
            except BaseException:
                os.close(fd)
                raise
        except UnsafeState as error:
            _SAID.add(error.path)  # the refusal is the one line about it
            raise
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
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError as error:
                # A full state file system: the run could keep no backup either.
                raise StateError(f"{path}: cannot record this run in the lock file: "
                                 f"{error.strerror}; nothing was changed") from None
            self._locked += 1
            try:
                yield
            finally:
                self._locked -= 1
        finally:
            os.close(fd)

    # -- JSON state files ----------------------------------------------------------------

    def read_json(self, name: str, problem: ShapeProblem | None = None) -> dict[str, Any]:
        """The state file `name` as a JSON object ({} if it is missing or unusable, with a
        warning). `problem` says what is wrong with its shape, if anything."""
        path = os.path.join(self.path, name)
        try:
            with self.directory(make=False) as dir_fd:
                fd = open_regular(name, dir_fd=dir_fd)
                try:
                    check_trusted(os.fstat(fd), path)
                    data = parse_state_json(read_open(fd, MAX_STATE_BYTES))
                finally:
                    os.close(fd)
                wrong = problem(data) if problem is not None else None
                if wrong:
                    raise BadStateFile(wrong)
                return data
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except UnsafeState as error:
            if self._locked:
                _SAID.add(error.path)  # the refusal is the one line about it
                raise
            # A plain check loses only an explanation (or a failed run a counter): said
            # once, whoever else reads it in this run.
            if error.path not in _SAID:
                _SAID.add(error.path)
                log.warning("%s", error)
            return {}
        except StateError as error:
            log.warning("%s; going on without %s", error, name)
            return {}
        except UnusableFile as error:
            self._set_aside(name, str(error))
            return {}
        except OSError as error:
            # Unreadable is not corrupt: leave it where it is, and say so.
            log.warning("%s: cannot read state (%s); going on without it", path, error.strerror)
            return {}

    def _set_aside(self, name: str, why: str) -> None:
        path = os.path.join(self.path, name)
        try:
            with self.directory(make=False) as dir_fd:
                set_aside(path, why, name, dir_fd)
        except (OSError, StateError) as error:
            log.warning("%s: unusable state (%s); cannot set it aside (%s); going on without it",
                        path, why, getattr(error, "strerror", None) or error)

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        with self.directory() as dir_fd:
            write_in(dir_fd, os.path.join(self.path, name), name, text.encode("utf-8"))

    # -- backups -------------------------------------------------------------------------

    def _backup_place(self, host_path: str) -> tuple[str, str]:
        """(directory inside the state directory, file name) of a host path's backups. The
        path is normalised first; the walk (no links, `..` never above the state directory)
        would keep a backup inside the state directory anyway."""
        host_path = os.path.normpath("/" + host_path)
        return f"backups/{os.path.dirname(host_path).strip('/')}".rstrip("/"), os.path.basename(host_path)

    @contextlib.contextmanager
    def _backup_directory(self, host_path: str, make: bool) -> Iterator[int]:
        inside, _ = self._backup_place(host_path)
        shown = os.path.join(self.path, inside)
        with self.directory(make=make) as state_fd:
            try:
                # Never through a link, and, as root, only through directories of root's.
                fd = confined.walk(state_fd, inside, follow=False, make=0o700 if make else None,
                                   check=lambda st, part: check_trusted(st, f"{shown} ({part})"))
            except OSError as error:
                raise StateError(f"{shown}: cannot open the backup directory: {error.strerror}") from None
        try:
            yield fd
        finally:
            os.close(fd)

    def backup(self, host_path: str, data: bytes, now: float | None = None) -> str:
        """Keep `data` (the file before a repair) and return where it went."""
        from datetime import datetime, timezone  # a repair's: not on the path of a check

        stamp = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc)
        inside, name = self._backup_place(host_path)
        base = f"{name}.{stamp:%Y-%m-%dT%H%M%SZ}"
        with self._backup_directory(host_path, make=True) as dir_fd:
            target, serial = f"{base}.bak", 1
            while confined.lstat_at(dir_fd, target) is not None:  # two repairs within one second
                serial += 1
                target = f"{base}-{serial}.bak"
            shown = os.path.join(self.path, inside, target)
            write_in(dir_fd, shown, target, data)
            # By age, not by name: after the clock went back, the backup just made has the
            # name that sorts first. It is never a candidate.
            older = [entry for entry in self._backup_names(dir_fd, name) if entry != target]
            for old in older[:max(0, len(older) - (BACKUPS_KEPT - 1))]:
                with contextlib.suppress(OSError):
                    os.unlink(old, dir_fd=dir_fd)
        return shown

    def backups_of(self, host_path: str) -> list[str]:
        """The backups of one file, oldest first (by when they were written; the name,
        from a clock that may have jumped, only breaks ties)."""
        inside, name = self._backup_place(host_path)
        try:
            with self._backup_directory(host_path, make=False) as dir_fd:
                names = self._backup_names(dir_fd, name)
        except (StateError, FileNotFoundError):
            return []
        return [os.path.join(self.path, inside, entry) for entry in names]

    @staticmethod
    def _backup_names(dir_fd: int, name: str) -> list[str]:
        """The backups of one file in the open backup directory, oldest first."""
        found: list[tuple[int, str, int, str]] = []
        for entry in os.listdir(dir_fd):
            match = _BACKUP_NAME.fullmatch(entry[len(name) + 1:]) if entry.startswith(name + ".") else None
            if match:
                try:
                    written = os.lstat(entry, dir_fd=dir_fd).st_mtime_ns
                except OSError:
                    continue
                found.append((written, match.group(1), int(match.group(2) or 1), entry))
        return [entry for *_, entry in sorted(found)]

