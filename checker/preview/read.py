"""A package file, whichever format: a .deb or an .rpm, told by its first bytes."""

from __future__ import annotations

import errno
import os
import stat

from checker.errors import HostReadError
from checker.preview.deb import AR_MAGIC, read_deb
from checker.preview.package import Limits, Package, PackageError
from checker.preview.rpm import LEAD_MAGIC, read_rpm


def read_package(path: str, limits: Limits | None = None) -> Package:
    limits = limits or Limits()
    try:
        # O_NONBLOCK: a FIFO named by mistake must not hang the preview (and the update)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR):
            raise PackageError(f"{path}: {error.strerror}") from None
        raise HostReadError(f"{path}: cannot read the package: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PackageError(f"{path}: not a regular file")
    handle = os.fdopen(fd, "rb")
    with handle:
        head = handle.read(8)
        handle.seek(0)
        try:
            if head.startswith(AR_MAGIC):
                return read_deb(handle, path, limits)
            if head.startswith(LEAD_MAGIC):
                return read_rpm(handle, path, limits)
        except MemoryError:
            raise PackageError(f"{path}: too large to read") from None
    raise PackageError(f"{path}: neither a .deb nor an .rpm (starts with {head[:8]!r})")
