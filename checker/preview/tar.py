"""A streamed tar read within bounds, as dpkg reads one.

tarfile reads a member's meta header (pax, GNU long name or link) whole into memory,
keeps every member it has read (with its pax header) until the archive is closed, and
follows a sparse member's map block by block: within the byte budget a package may
unpack to (4 GiB), each of these holds gigabytes. dpkg unpacks no sparse member and
needs no meta header longer than a path, so here a meta header over MAX_META_BYTES, all
global pax headers together over that, and any sparse member end the read with a
TarError that names them; and members() forgets each member once it is passed on.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import Any

MAX_META_BYTES = 1024 * 1024
_META = {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link",
         tarfile.XHDTYPE: "pax", tarfile.XGLTYPE: "pax global", tarfile.SOLARIS_XHDTYPE: "pax"}


class RefusedMember(tarfile.TarError):
    """A member refused before it is read (tarfile's reader lets a TarError through)."""


class BoundedInfo(tarfile.TarInfo):
    """TarInfo that refuses, before reading them, the meta headers and sparse maps that
    would cost more memory than a package's files could need."""

    def _proc_member(self, tar: tarfile.TarFile) -> Any:
        kind = _META.get(self.type)
        if kind is not None:
            if self.size > MAX_META_BYTES:
                raise RefusedMember(f"a {kind} meta header of {self.size} bytes: refused")
            if self.type == tarfile.XGLTYPE:
                total = getattr(tar, "_udev_drift_global_bytes", 0) + self.size
                if total > MAX_META_BYTES:
                    raise RefusedMember(f"pax global headers of {total} bytes in all: refused")
                tar._udev_drift_global_bytes = total  # type: ignore[attr-defined]
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _sparse()
        return super()._proc_member(tar)  # type: ignore[misc]

    # GNU's pax sparse formats 0.0, 0.1 and 1.0, told by the pax header of the member
    def _proc_gnusparse_00(self, *args: Any) -> None:
        raise _sparse()

    def _proc_gnusparse_01(self, *args: Any) -> None:
        raise _sparse()

    def _proc_gnusparse_10(self, *args: Any) -> None:
        raise _sparse()


def _sparse() -> RefusedMember:
    return RefusedMember("a sparse member, which dpkg does not unpack: refused")


def open_stream(stream: Any) -> tarfile.TarFile:
    return tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedInfo)


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of a streamed archive, each forgotten by `tar` once passed on (tarfile
    keeps them all, for a later getmembers() this reader never makes)."""
    for info in tar:
        tar.members.clear()  # type: ignore[attr-defined]
        yield info
