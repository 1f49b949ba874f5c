"""A .deb read as dpkg reads it: an ar archive of debian-binary, control.tar.* (the
package's name and version, and its conffiles) and data.tar.* (what it installs).

Only the rules files of data.tar are kept; every other member is read past, within the
byte budget (a compressed tar cannot be skipped without decompressing it).
"""

from __future__ import annotations

import tarfile
from typing import BinaryIO

from checker.preview.package import (
    ConfigKind,
    Limits,
    Package,
    PackageError,
    PackageFile,
    host_path,
    is_rules_path,
)
from checker.preview.streams import open_bounded, sniff
from checker.preview.tar import members, open_stream

AR_MAGIC = b"!<arch>\n"
AR_HEADER = 60
SUFFIXES = {"": None, ".gz": "gzip", ".xz": "xz", ".zst": "zstd", ".bz2": "bzip2", ".lzma": "lzma"}


def _members(handle: BinaryIO, source: str) -> list[tuple[str, int, int]]:
    """(name, offset of the data, size) of each ar member."""
    if handle.read(len(AR_MAGIC)) != AR_MAGIC:
        raise PackageError(f"{source}: not a .deb (no ar archive header)")
    found: list[tuple[str, int, int]] = []
    offset = len(AR_MAGIC)
    while True:
        handle.seek(offset)
        header = handle.read(AR_HEADER)
        if not header:
            return found
        if len(header) < AR_HEADER or header[58:60] != b"`\n":
            raise PackageError(f"{source}: truncated or damaged ar member header at byte {offset}")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise PackageError(f"{source}: ar member {name!r}: size is not a number") from None
        found.append((name, offset + AR_HEADER, size))
        offset += AR_HEADER + size + (size & 1)
        if len(found) > 16:
            raise PackageError(f"{source}: more than 16 ar members: not a .deb")


def _kind(name: str, prefix: str, source: str, handle: BinaryIO, offset: int) -> str | None:
    suffix = name[len(prefix):]
    if suffix not in SUFFIXES:
        raise PackageError(f"{source}: {name}: unknown compression {suffix!r}")
    handle.seek(offset)
    sniffed = sniff(handle.read(8))
    named = SUFFIXES[suffix]
    if sniffed != named:
        said = sniffed or "not compressed (or an unknown format)"
        raise PackageError(f"{source}: {name}: the name says {named or 'not compressed'}, the data is {said}")
    handle.seek(offset)
    return named


def _control(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


def read_deb(handle: BinaryIO, source: str, limits: Limits) -> Package:
    members = _members(handle, source)
    names = [name for name, _, _ in members]
    if not names or names[0] != "debian-binary":
        raise PackageError(f"{source}: not a .deb (the first ar member is not debian-binary)")
    control = next((m for m in members if m[0].startswith("control.tar")), None)
    data = next((m for m in members if m[0].startswith("data.tar")), None)
    if control is None or data is None:
        raise PackageError(f"{source}: not a .deb (no {'control' if control is None else 'data'}.tar member)")
    fields, conffiles = _read_control(handle, source, control, limits)
    package = Package(source, "deb", fields.get("Package", ""), fields.get("Version", ""),
                      fields.get("Architecture", ""))
    if not package.name or not package.version:
        raise PackageError(f"{source}: control file has no Package or Version field")
    package.files = _read_data(handle, source, data, conffiles, limits)
    return package


def _read_control(handle: BinaryIO, source: str, member: tuple[str, int, int],
                  limits: Limits) -> tuple[dict[str, str], set[str]]:
    name, offset, size = member
    kind = _kind(name, "control.tar", source, handle, offset)
    stream = open_bounded(handle, kind, limits.header_bytes, f"{source}: {name}", raw_limit=size)
    fields: dict[str, str] = {}
    conffiles: set[str] = set()
    try:
        with open_stream(stream) as tar:
            for count, info in enumerate(members(tar)):
                if count > 1000:
                    raise PackageError(f"{source}: {name}: more than 1000 members")
                base = info.name.removeprefix("./")
                if not info.isreg() or base not in ("control", "conffiles"):
                    continue
                extracted = tar.extractfile(info)
                text = extracted.read().decode("utf-8", "replace") if extracted else ""
                if base == "control":
                    fields = _control(text)
                else:
                    # "remove-on-upgrade /path" (dpkg 1.20.1) names a conffile it removes
                    conffiles = {line.split()[-1] for line in text.splitlines() if line.strip()
                                 and not line.startswith("remove-on-upgrade")}
    except (tarfile.TarError, EOFError) as error:
        raise PackageError(f"{source}: {name}: not a readable tar archive ({error})") from None
    if not fields:
        raise PackageError(f"{source}: {name}: has no control file")
    return fields, conffiles


def _read_data(handle: BinaryIO, source: str, member: tuple[str, int, int], conffiles: set[str],
               limits: Limits) -> list[PackageFile]:
    name, offset, size = member
    kind = _kind(name, "data.tar", source, handle, offset)
    what = f"{source}: {name}"
    stream = open_bounded(handle, kind, limits.unpacked_bytes, what, raw_limit=size)
    found: list[PackageFile] = []
    kept: dict[str, bytes] = {}  # rules files read so far: the targets of hard links
    try:
        with open_stream(stream) as tar:
            for count, info in enumerate(members(tar)):
                if count >= limits.members:
                    raise PackageError(f"{what}: more than {limits.members} members: refused")
                path = host_path(info.name, what)
                if not is_rules_path(path):
                    continue
                config: ConfigKind | None = "conffile" if path in conffiles else None
                if info.issym():
                    found.append(PackageFile(path, info.name, "link", link=info.linkname, config=config))
                elif info.islnk():
                    target = host_path(info.linkname, what)
                    if target not in kept:
                        raise PackageError(f"{what}: {info.name} is a hard link to {info.linkname}, "
                                           "which is no rules file of the package: not supported")
                    found.append(PackageFile(path, info.name, "file", kept[target], config=config))
                elif info.isreg():
                    if info.size > limits.rules_file_bytes:
                        raise PackageError(f"{what}: {info.name}: {info.size} bytes, more than a rules "
                                           f"file may be ({limits.rules_file_bytes}): refused")
                    extracted = tar.extractfile(info)
                    data = extracted.read() if extracted else b""
                    if len(data) != info.size:
                        raise PackageError(f"{what}: {info.name}: truncated")
                    kept[path] = data
                    found.append(PackageFile(path, info.name, "file", data, config=config))
                else:  # a FIFO, a device, a directory: dpkg puts it in place of what is there
                    found.append(PackageFile(path, info.name, "special", config=config))
    except (tarfile.TarError, EOFError) as error:
        raise PackageError(f"{what}: not a readable tar archive ({error})") from None
    return found
