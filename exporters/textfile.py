"""`DIR/udev_drift.prom` for node_exporter's textfile collector.

node_exporter reads every `*.prom` in the directory at each scrape, so the file must be
whole at every moment: the text goes to a hidden temporary name in DIR that does not end
in `.prom`, is made mode 0644 explicitly (fchmod ignores the umask; node_exporter often
runs as another user), fsynced, renamed over the file, and the directory is fsynced.

Not checker.atomic.write_atomic: that one keeps the mode of the file it replaces (right
for a rules file an admin chose the mode of), and this file's mode must be 0644 always.
"""

from __future__ import annotations

import contextlib
import os

from checker.atomic import WriteError, temp_name

FILENAME = "udev_drift.prom"
MODE = 0o644


def write_textfile(directory: str, data: bytes) -> str:
    """Write `data` to DIR/udev_drift.prom atomically; return the path. Raises WriteError."""
    path = os.path.join(directory, FILENAME)
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise WriteError(f"--textfile-dir {directory}: cannot open: {error.strerror}") from None
    temp = temp_name(FILENAME)  # ".udev_drift.prom.<hex>.udev-drift.tmp": never *.prom
    fd = -1
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dir_fd)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, MODE)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(temp, FILENAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        temp = ""
        os.fsync(dir_fd)
    except OSError as error:
        raise WriteError(f"{path}: cannot write the metrics: {error.strerror or error}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if temp:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
        os.close(dir_fd)
    return path
