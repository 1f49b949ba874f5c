"""Opening a directory inside a root for writing, as a chroot would see it, race-free.

Every write and delete of udev-drift (repair, backups, state, install, uninstall) goes
through a directory descriptor opened here, then acts on one plain name relative to it
(`os.rename(..., dir_fd=)`, `os.unlink(..., dir_fd=)`). The path is walked one component
at a time from a descriptor on the root, each opened with O_NOFOLLOW|O_DIRECTORY:

- `follow=True` (a host path under --root, or on the running host): a component that is
  a link is read with readlinkat() and followed as the kernel would in a chroot: an
  absolute target starts again at the root, and `..` never climbs above it. This is what
  openat2(RESOLVE_IN_ROOT) does; done here by hand because Python has no openat2 and the
  hosts this runs on (XenServer 8: kernel 4.19) predate it. Each step is relative to a
  descriptor already inside the root, so a link swapped in meanwhile is followed inside
  the root too; `..` goes back to the descriptor of the directory walked through, so
  even a directory moved out of the tree meanwhile cannot lead out of it.
- `follow=False` (inside the state directory): any link is refused (ELOOP).

The final name is never followed by the callers: they refuse or replace a link there.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat as stat_module
from collections.abc import Callable, Iterator

MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# Called with each directory's fstat as it is walked into (the ownership check of the
# state directory); raises to stop the walk.
Check = Callable[[os.stat_result, str], None]


def split(host_path: str) -> tuple[str, str]:
    """(directory, name) of an absolute host path; the name must be a plain name."""
    directory, name = os.path.split(host_path)
    if not name or name in (".", ".."):
        raise OSError(errno.EINVAL, f"not a file name: {host_path!r}")
    return directory or "/", name


def open_directory(root: str, host_dir: str, *, follow: bool = True, make: int | None = None,
                   check: Check | None = None) -> int:
    """A descriptor (O_DIRECTORY) on `host_dir` inside `root`; the caller closes it.

    `make`: missing directories are made with that mode (owned by whoever runs this).
    `check`: called with the fstat of every directory walked into below the root.
    Raises OSError: ELOOP for a link where `follow` is False (or too many links), ENOTDIR
    for a component that is not a directory, ENOENT for a missing one.
    """
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return walk(root_fd, host_dir, follow=follow, make=make, check=check)
    finally:
        os.close(root_fd)


def walk(root_fd: int, host_dir: str, *, follow: bool = True, make: int | None = None,
         check: Check | None = None) -> int:
    """As open_directory, from an open descriptor on the root (which stays open)."""
    stack = [os.dup(root_fd)]  # stack[0] is the root; `..` pops, never past it
    pending = [part for part in reversed(host_dir.split("/")) if part]
    hops = 0
    try:
        while pending:
            part = pending.pop()
            if part == ".":
                continue
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = _open_step(stack[-1], part, make)
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                try:
                    target = os.readlink(part, dir_fd=stack[-1])
                except OSError:
                    raise error from None  # not a link: really not a directory
                if not follow:
                    raise OSError(errno.ELOOP, f"{part} is a symbolic link, not followed here") from None
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from None
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                pending.extend(p for p in reversed(target.split("/")) if p)
                continue
            stack.append(fd)
            if check is not None:
                check(os.fstat(fd), part)
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def _open_step(parent: int, name: str, make: int | None) -> int:
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if make is None:
            raise
    with contextlib.suppress(FileExistsError):  # made meanwhile by another run: fine
        os.mkdir(name, make, dir_fd=parent)
    return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)


@contextlib.contextmanager
def directory(root: str, host_dir: str, *, follow: bool = True, make: int | None = None,
              check: Check | None = None) -> Iterator[int]:
    fd = open_directory(root, host_dir, follow=follow, make=make, check=check)
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def is_regular(st: os.stat_result | None) -> bool:
    return st is not None and stat_module.S_ISREG(st.st_mode)


# -- renameat2: exchange, and rename only when nothing is there --------------------------

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# renameat2 by system call number where glibc has no wrapper (before 2.28: XenServer 8).
_SYSCALL_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "ppc64le": 357, "s390x": 347}


@functools.cache
def _renameat2_function(wrapper_allowed: bool = True) -> Callable[[int, bytes, int, bytes, int], int] | None:
    # ctypes is loaded only by a write that needs it: a plain check never does.
    import ctypes
    import ctypes.util
    import platform

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    wrapper = getattr(libc, "renameat2", None) if wrapper_allowed else None
    if wrapper is not None:
        wrapper.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        wrapper.restype = ctypes.c_int
        return wrapper  # type: ignore[no-any-return]
    number = _SYSCALL_RENAMEAT2.get(platform.machine())
    if number is None:
        return None
    syscall = libc.syscall
    return lambda a, b, c, d, e: int(syscall(ctypes.c_long(number), ctypes.c_int(a), ctypes.c_char_p(b),
                                             ctypes.c_int(c), ctypes.c_char_p(d), ctypes.c_uint(e)))


def rename2(dir_fd: int, source: str, target: str, flags: int) -> None:
    """renameat2() within one directory. OSError(ENOSYS) where there is none; EINVAL where
    the file system does not support the flag."""
    import ctypes

    renameat2 = _renameat2_function()
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if renameat2(dir_fd, os.fsencode(source), dir_fd, os.fsencode(target), flags) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


# -- one name inside the root: its directory followed as in a chroot, the name itself never

def lstat_in(root: str, host_path: str) -> os.stat_result | None:
    """lstat() of the name, or None when it (or its directory) is not there."""
    parent, name = split(host_path)
    try:
        with _directory_or_none(root, parent) as dir_fd:
            return None if dir_fd < 0 else lstat_at(dir_fd, name)
    except NotADirectoryError:
        return None


def read_in(root: str, host_path: str) -> bytes | None:
    """The bytes of the regular file at host_path (a link is not followed: ELOOP), or None."""
    parent, name = split(host_path)
    with _directory_or_none(root, parent) as dir_fd:
        if dir_fd < 0:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
    with open(fd, "rb") as handle:
        if not stat_module.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


def readlink_in(root: str, host_path: str) -> str | None:
    """The target of the link at host_path, or None when no link is there."""
    parent, name = split(host_path)
    with _directory_or_none(root, parent) as dir_fd:
        if dir_fd < 0:
            return None
        try:
            return os.readlink(name, dir_fd=dir_fd)
        except (FileNotFoundError, OSError):
            return None


def listdir_in(root: str, host_path: str) -> list[str]:
    """The names in the directory at host_path, which must not be a link."""
    parent, name = split(host_path)
    with directory(root, parent) as dir_fd:
        fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def unlink_in(root: str, host_path: str) -> None:
    """Remove the file or link at host_path (a link itself, never what it points to)."""
    parent, name = split(host_path)
    with directory(root, parent) as dir_fd:
        os.unlink(name, dir_fd=dir_fd)


def rmdir_in(root: str, host_path: str) -> None:
    parent, name = split(host_path)
    with directory(root, parent) as dir_fd:
        os.rmdir(name, dir_fd=dir_fd)



@contextlib.contextmanager
def _directory_or_none(root: str, host_dir: str) -> Iterator[int]:
    """The directory's descriptor, or -1 when it is not there."""
    try:
        fd = open_directory(root, host_dir)
    except FileNotFoundError:
        yield -1
        return
    try:
        yield fd
    finally:
        os.close(fd)
