"""What a preview reads from a package, and the limits every reader keeps."""

from __future__ import annotations

import os
import posixpath
from typing import Literal

from checker.errors import UdevDriftError
from checker.paths import UDEV_RULES_DIRS
from checker.records import dataclass, field

# How a package manager treats a file that the admin may have changed.
ConfigKind = Literal["conffile", "config", "noreplace"]


class PackageError(UdevDriftError):
    """A package file that cannot be read as one: said in one line, file first."""

    exit_status = 2


@dataclass(frozen=True)
class Limits:
    """Bounds on what one package may make a preview read: a bad or hostile package file
    ends in a one-line error, never in a hang or an exhausted machine."""

    unpacked_bytes: int = 4 * 1024 ** 3   # all members decompressed, per package
    members: int = 200_000                # archive members, per package
    rules_file_bytes: int = 16 * 1024 ** 2  # one rules file (kept in memory)
    header_bytes: int = 64 * 1024 ** 2    # an rpm header, a control.tar


@dataclass(frozen=True)
class PackageFile:
    """A file the package would install in a udev rules directory."""

    path: str  # host path, normalised: /usr/lib/udev/rules.d/60-x.rules
    member: str  # as the package names it: ./usr/lib/udev/rules.d/60-x.rules
    # "special": a FIFO, a device or a directory, which replaces what was at the path and
    # holds no rules udev reads
    kind: Literal["file", "link", "special"]
    data: bytes = b""
    link: str = ""  # the link's target ("/dev/null" masks the name)
    config: ConfigKind | None = None


@dataclass
class Package:
    source: str  # the package file, as given
    format: Literal["deb", "rpm"]
    name: str
    version: str
    architecture: str = ""
    files: list[PackageFile] = field(default_factory=list)
    removal: bool = False  # the transaction removes the installed package (no file)

    @property
    def label(self) -> str:
        return f"{self.name} (removed)" if self.removal else f"{self.name} {self.version}"

    @property
    def file_name(self) -> str:
        if self.removal:
            return "dpkg --remove" if self.format == "deb" else "rpm -e"
        return os.path.basename(self.source)


def host_path(member: str, source: str) -> str:
    """The absolute, normalised host path of an archive member; a PackageError for a
    path that leaves the root ("../", or a link-like name)."""
    name = member[1:] if member.startswith("./") else member
    if name in ("", "."):
        return "/"
    parts = name.split("/")
    if ".." in parts:
        raise PackageError(f"{source}: member {member!r} names a path outside the root ('..'): "
                           "not a package a package manager would install")
    return posixpath.normpath("/" + name.lstrip("/"))


def is_rules_path(path: str) -> bool:
    """A file udev would read as rules: `*.rules` directly in one of its rules directories."""
    return path.endswith(".rules") and posixpath.dirname(path) in UDEV_RULES_DIRS
