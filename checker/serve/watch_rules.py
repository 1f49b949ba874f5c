"""Watch udev's rules directories with inotify and call back, debounced, when one changes.

For `serve`, so that a host without systemd's path unit (an older XenServer dom0, a
container) still has a rewritten rules file checked, and repaired with --repair, within
a second rather than at the next interval.

inotify is reached through ctypes on the C library already loaded into the process
(inotify_init1, inotify_add_watch): three calls, no dependency, and it works the same in
the self-contained binary. A thread waits on the inotify descriptor and a stop pipe;
after the first event it waits until the directories have been quiet for DEBOUNCE
seconds (an update writes many files; a repair writes a temporary file and renames it)
but never longer than MAX_DELAY, then calls the callback once.

A directory that does not exist yet (/run/udev/rules.d usually does not) is waited for:
its nearest existing parent is watched, and the directory is watched from the moment it
appears. A watched directory that is removed is waited for again the same way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Sequence
from typing import Callable

from checker.errors import UdevDriftError
from checker.host import Host
from checker.paths import UDEV_RULES_DIRS
from checker.safe_files.atomic import TEMP_SUFFIX

log = logging.getLogger("udev-drift")

DEBOUNCE = 0.2
MAX_DELAY = 0.5  # the first event is acted on at most this late, however busy the directory

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000

# A file written (closed after writing), made, removed or renamed in or out.
DIRECTORY_EVENTS = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_MOVED_FROM | IN_DELETE_SELF \
    | IN_MOVE_SELF | IN_ONLYDIR
# In a parent of a directory not there yet: only its arrival matters.
PARENT_EVENTS = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR

EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
READ_SIZE = 64 * 1024


class WatchError(UdevDriftError):
    exit_status = 3


def _libc() -> ctypes.CDLL:
    # The C library the interpreter already runs on (CDLL(None)), by name as a fallback.
    for name in (None, ctypes.util.find_library("c") or "libc.so.6"):
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
            return libc
        except (OSError, AttributeError):
            continue
    raise WatchError("inotify is not available: the C library has no inotify_init1")


def _why(code: int) -> str:
    if code == errno.EMFILE:
        return "too many inotify instances (raise fs.inotify.max_user_instances)"
    if code == errno.ENOSPC:
        return "the inotify watch limit is reached (raise fs.inotify.max_user_watches)"
    return os.strerror(code)


def _nearest_existing_parent(directory: str) -> str:
    parent = os.path.dirname(directory)
    while parent != os.path.dirname(parent) and not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    return parent


class RulesWatch:
    """Calls `callback` (from its own thread) shortly after any of `directories` changes."""

    def __init__(self, directories: Sequence[str], callback: Callable[[], None],
                 debounce: float = DEBOUNCE, max_delay: float = MAX_DELAY) -> None:
        self.directories = [os.path.abspath(d) for d in directories]
        self.callback = callback
        self.debounce = debounce
        self.max_delay = max(max_delay, debounce)
        self.fired = 0  # callbacks made (for tests and logs)
        self._libc = _libc()
        self._wanted: dict[str, int] = {}  # wanted directory -> its watch descriptor
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise WatchError(f"cannot watch the rules directories: {_why(ctypes.get_errno())}")
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="udev-drift-watch-rules", daemon=True)
        try:
            self._arm()
        except WatchError:
            self._close()
            raise

    # -- control -------------------------------------------------------------------------
    def start(self) -> RulesWatch:
        self._thread.start()
        return self

    def stop(self, wait: float = 5.0) -> None:
        if self._stop_write < 0:
            return
        os.write(self._stop_write, b"x")
        if self._thread.is_alive():
            self._thread.join(wait)
        self._close()

    def watched(self) -> list[str]:
        """The wanted directories that have a watch of their own now."""
        return sorted(self._wanted)

    # -- watches -------------------------------------------------------------------------
    def _add(self, path: str, mask: int) -> int | None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask)
        if wd >= 0:
            return int(wd)
        code = ctypes.get_errno()
        if code in (errno.ENOENT, errno.ENOTDIR):
            return None  # gone meanwhile: the next event re-arms
        raise WatchError(f"cannot watch {path}: {_why(code)}")

    def _arm(self) -> bool:
        """Watch every wanted directory that exists, and a parent of each that does not.
        True when a wanted directory got a watch it did not have (it appeared)."""
        appeared = False
        for directory in self.directories:
            watched_parent = ""
            while directory not in self._wanted:
                wd = self._add(directory, DIRECTORY_EVENTS)
                if wd is not None:
                    self._wanted[directory] = wd
                    appeared = True
                    break
                parent = _nearest_existing_parent(directory)
                if parent == watched_parent:
                    break  # its watch was in place before the next step was looked for
                if parent not in self._wanted:  # a wanted directory's own watch sees IN_CREATE too
                    self._add(parent, PARENT_EVENTS)
                # Rescan: the next directory down may have been made before this watch
                # existed, and no event will ever say so.
                watched_parent = parent
        return appeared

    # -- the thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        first = last = 0.0
        pending = False
        while True:
            timeout_ms: int | None = None
            if pending:
                deadline = min(last + self.debounce, first + self.max_delay)
                timeout_ms = max(0, int((deadline - time.monotonic()) * 1000) + 1)
            ready = {fd for fd, _ in poller.poll(timeout_ms)}
            if self._stop_read in ready:
                return
            if self._fd in ready and self._read():
                now = time.monotonic()
                if not pending:
                    pending, first = True, now
                last = now
            if pending and time.monotonic() >= min(last + self.debounce, first + self.max_delay):
                pending = False
                self.fired += 1
                try:
                    self.callback()
                except Exception as error:  # noqa: BLE001 - the watch outlives one failed callback
                    log.warning("rules directory watch: the callback failed: %s", error)

    def _read(self) -> bool:
        """Read what is queued; True if it is a change worth a check."""
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return False
        relevant = False
        rearm = False
        offset = 0
        while offset + EVENT.size <= len(data):
            wd, mask, _cookie, length = EVENT.unpack_from(data, offset)
            name = data[offset + EVENT.size: offset + EVENT.size + length].rstrip(b"\0")
            offset += EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                relevant = rearm = True  # events were lost: assume the worst
                continue
            # One inode can be two wanted directories (/lib -> usr/lib): one watch for both.
            owners = [directory for directory, owned in self._wanted.items() if owned == wd]
            if mask & IN_IGNORED:  # the watch is gone (its directory was removed)
                for directory in owners:
                    del self._wanted[directory]
                relevant = relevant or bool(owners)
                rearm = True
            elif owners:
                # Our own atomic writer's temporary files are not rules; its rename is.
                if not name.endswith(TEMP_SUFFIX.encode()):
                    relevant = True
                if mask & IN_MOVE_SELF:  # renamed away: stop watching it where it went
                    self._libc.inotify_rm_watch(self._fd, wd)  # IN_IGNORED follows
            else:
                rearm = True  # something happened in a parent: a wanted directory may be there
        if rearm:
            try:
                if self._arm():
                    relevant = True
            except WatchError as error:
                log.warning("rules directory watch: %s", error)
        return relevant

    def _close(self) -> None:
        for fd in (self._fd, self._stop_read, self._stop_write):
            if fd >= 0:
                os.close(fd)
        self._fd = self._stop_read = self._stop_write = -1


class Unwatched:
    """What `watch_for_serve` returns where inotify cannot be had: a watch that is not."""

    fired = 0

    def stop(self, wait: float = 0.0) -> None:
        pass


def watch_for_serve(host: Host, request_check: Callable[[], None]) -> RulesWatch | Unwatched:
    """Watch udev's rules directories (under --root, in the tree) for `serve`."""
    directories = [host.path(directory) for directory in UDEV_RULES_DIRS]
    try:
        watch = RulesWatch(directories, request_check).start()
    except WatchError as error:
        log.warning("%s; checks run every --interval only", error)
        return Unwatched()
    log.debug("watching %s for changes", ", ".join(watch.watched()) or "the parents of the rules directories")
    return watch
