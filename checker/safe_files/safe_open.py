"""Opening a file root only reads, in a directory someone else may have written to.

Never through a symbolic link, never waiting on a FIFO's writer, never reading a device
or a file without end: what is at the name must be a regular file of bounded size, or it
is not read at all.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module

_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = {stat_module.S_IFIFO: "a FIFO", stat_module.S_IFDIR: "a directory",
          stat_module.S_IFCHR: "a device", stat_module.S_IFBLK: "a device",
          stat_module.S_IFSOCK: "a socket", stat_module.S_IFLNK: "a symbolic link"}


class UnusableFile(ValueError):
    """Something is at the name, but not a regular file that may be read whole."""


def open_regular(path: str, flags: int = os.O_RDONLY, mode: int = 0o600, dir_fd: int | None = None) -> int:
    """A descriptor on the regular file at `path` (relative to `dir_fd` when given). Raises
    UnusableFile for anything else there, FileNotFoundError when nothing is, OSError when it
    cannot be opened."""
    try:
        fd = os.open(path, flags | _FLAGS, mode, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnusableFile("a symbolic link, not a regular file") from None
        if error.errno == errno.EISDIR:
            raise UnusableFile("a directory, not a regular file") from None
        raise
    kind = stat_module.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat_module.S_IFREG:
        os.close(fd)
        raise UnusableFile(f"{_KINDS.get(kind, 'a special file')}, not a regular file")
    return fd


def read_regular(path: str, limit: int) -> bytes:
    """The whole regular file at `path`, of at most `limit` bytes (UnusableFile if larger)."""
    fd = open_regular(path)
    try:
        return read_open(fd, limit)
    finally:
        os.close(fd)


def read_open(fd: int, limit: int) -> bytes:
    """The whole of the regular file open as `fd`, of at most `limit` bytes (UnusableFile
    if larger)."""
    too_large = UnusableFile(f"larger than {limit:,} bytes")
    if os.fstat(fd).st_size > limit:
        raise too_large
    data = bytearray()
    while len(data) <= limit:
        chunk = os.read(fd, limit + 1 - len(data))
        if not chunk:
            return bytes(data)
        data += chunk
    raise too_large  # it grew while being read
