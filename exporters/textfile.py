"""`DIR/udev_drift.prom` for node_exporter's textfile collector.

node_exporter reads every `*.prom` in the directory at each scrape, so the file must be
whole at every moment: checker.safe_files.atomic writes it under a hidden temporary name that does
not end in `.prom`, fsyncs, renames it over the file and fsyncs the directory. Its mode
is 0644 whatever the umask or the old file's mode: node_exporter often runs as another user.

The directory is reached from / one name at a time, never through a symbolic link, and
written through that descriptor. On Debian /var/lib/prometheus belongs to the prometheus
user, who could otherwise swap node-exporter for a link and have root write (or
`uninstall` remove) udev_drift.prom in any directory; now the most such a user can do is
give root a directory of their own to write into.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module

from checker.paths import TEXTFILE_NAME
from checker.safe_files.atomic import WriteError, write_atomic_at

MODE = 0o644
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_directory(directory: str, start: str = "/") -> int:
    """A descriptor on `directory` (absolute, below `start`), reached from `start` without
    following any link. Raises WriteError saying which name was wrong."""
    names = [name for name in os.path.normpath(os.path.abspath(directory)).split("/") if name]
    fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    walked = start.rstrip("/")
    try:
        for name in names:
            walked += "/" + name
            try:
                inner = os.open(name, _DIRECTORY, dir_fd=fd)
            except OSError as error:
                raise WriteError(f"--textfile-dir {directory}: {_why(fd, name, walked, error)}") from None
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _why(parent_fd: int, name: str, walked: str, error: OSError) -> str:
    if error.errno == errno.ENOENT:
        return "no such directory"
    try:
        if stat_module.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
            return f"{walked} is a symbolic link; not followed (name the real directory)"
    except OSError:
        pass
    if error.errno in (errno.ENOTDIR, errno.ELOOP):
        return f"{walked} is not a directory"
    return f"{walked}: {error.strerror}"


def write_textfile(directory: str, data: bytes, name: str = TEXTFILE_NAME) -> str:
    """Write `data` to DIR/udev_drift.prom (or DIR/`name`) atomically; return the path.
    Raises WriteError."""
    path = os.path.join(directory, name)
    dir_fd = open_directory(directory)
    try:
        write_atomic_at(dir_fd, name, data, mode=MODE, shown=path)
    except WriteError as error:
        reason = str(error).split(": ", 1)[-1]
        raise WriteError(f"{path}: cannot write the metrics: {reason}") from None
    finally:
        os.close(dir_fd)
    return path
