"""Package files for the preview tests: .deb files built by the real dpkg-deb, and .rpm
files written here byte by byte (lead, signature, header, cpio payload) so that a test
can also make a damaged one. (tests/preview/test_rpm_real.py checks this writer against
the real rpmbuild, where it is installed.)"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import stat
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

# A file of a package: its text, or Link("/dev/null").


@dataclass(frozen=True)
class Link:
    target: str


Content = Union[str, bytes, Link]


@dataclass
class Spec:
    name: str
    version: str = "1.0"
    files: dict[str, Content] = field(default_factory=dict)  # host path -> content
    conffiles: list[str] = field(default_factory=list)  # deb: conffiles; rpm: %config
    noreplace: list[str] = field(default_factory=list)  # rpm: %config(noreplace)


def build_deb(spec: Spec, out: Path, compression: str = "xz") -> Path:
    staging = out.parent / f".{spec.name}-{spec.version}-staging"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "DEBIAN").mkdir(parents=True)
    (staging / "DEBIAN" / "control").write_text(
        f"Package: {spec.name}\nVersion: {spec.version}\nArchitecture: all\n"
        f"Maintainer: Test <test@example.org>\nDescription: preview test package\n")
    if spec.conffiles:
        (staging / "DEBIAN" / "conffiles").write_text("".join(f"{p}\n" for p in spec.conffiles))
    for path, content in spec.files.items():
        target = staging / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            os.symlink(content.target, target)
        else:
            target.write_bytes(content.encode() if isinstance(content, str) else content)
    subprocess.run(["dpkg-deb", f"-Z{compression}", "--root-owner-group", "--build", str(staging), str(out)],
                   check=True, capture_output=True)
    shutil.rmtree(staging)
    return out


# --- rpm -------------------------------------------------------------------------------
RPMTAG = {"NAME": 1000, "VERSION": 1001, "RELEASE": 1002, "ARCH": 1022, "OS": 1021,
          "FILESIZES": 1028, "FILEMODES": 1030, "FILELINKTOS": 1036, "FILEFLAGS": 1037,
          "DIRINDEXES": 1116, "BASENAMES": 1117, "DIRNAMES": 1118, "OLDFILENAMES": 1027,
          "PAYLOADFORMAT": 1124, "PAYLOADCOMPRESSOR": 1125}
INT16, INT32, STRING, STRING_ARRAY = 3, 4, 6, 8


def header(entries: list[tuple[int, int, object]]) -> bytes:
    index, store = b"", b""
    for tag, kind, value in sorted(entries, key=lambda e: e[0]):
        align = {INT16: 2, INT32: 4}.get(kind, 1)
        store += b"\0" * (-len(store) % align)
        offset = len(store)
        if kind == STRING:
            store += str(value).encode() + b"\0"
            count = 1
        elif kind == STRING_ARRAY:
            assert isinstance(value, list)
            store += b"".join(str(v).encode() + b"\0" for v in value)
            count = len(value)
        else:
            assert isinstance(value, list)
            store += struct.pack(f">{len(value)}{'H' if kind == INT16 else 'I'}", *value)
            count = len(value)
        index += struct.pack(">IIII", tag, kind, offset, count)
    return (b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", len(entries), len(store)) + index + store)


def cpio(members: list[tuple[str, int, bytes]]) -> bytes:
    """newc cpio of (name, mode, data), with the trailer."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate(members + [("TRAILER!!!", 0, b"")], start=1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        head = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        out.write(head + raw + b"\0" * (-(len(head) + len(raw)) % 4))
        out.write(data + b"\0" * (-len(data) % 4))
    return out.getvalue()


def compress(data: bytes, compressor: str) -> bytes:
    if compressor == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    if compressor == "gzip":
        return gzip.compress(data)
    if compressor == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(compressor)


def rpm_bytes(spec: Spec, compressor: str = "xz", payload: bytes | None = None,
              declared_compressor: str | None = None) -> bytes:
    names, modes, sizes, links, flags, members = [], [], [], [], [], []
    for path, content in spec.files.items():
        names.append(path)
        if isinstance(content, Link):
            modes.append(stat.S_IFLNK | 0o777)
            links.append(content.target)
            sizes.append(len(content.target))
            members.append((f".{path}", stat.S_IFLNK | 0o777, content.target.encode()))
        else:
            data = content.encode() if isinstance(content, str) else content
            modes.append(stat.S_IFREG | 0o644)
            links.append("")
            sizes.append(len(data))
            members.append((f".{path}", stat.S_IFREG | 0o644, data))
        flags.append((1 | 16) if path in spec.noreplace else 1 if path in spec.conffiles else 0)
    dirs = sorted({os.path.dirname(n) + "/" for n in names})
    version, _, release = spec.version.partition("-")
    entries: list[tuple[int, int, object]] = [
        (RPMTAG["NAME"], STRING, spec.name), (RPMTAG["VERSION"], STRING, version),
        (RPMTAG["RELEASE"], STRING, release or "1"), (RPMTAG["ARCH"], STRING, "noarch"),
        (RPMTAG["OS"], STRING, "linux"),
        (RPMTAG["PAYLOADFORMAT"], STRING, "cpio"),
        (RPMTAG["PAYLOADCOMPRESSOR"], STRING, declared_compressor or compressor)]
    if names:
        entries += [
            (RPMTAG["BASENAMES"], STRING_ARRAY, [os.path.basename(n) for n in names]),
            (RPMTAG["DIRNAMES"], STRING_ARRAY, dirs),
            (RPMTAG["DIRINDEXES"], INT32, [dirs.index(os.path.dirname(n) + "/") for n in names]),
            (RPMTAG["FILEMODES"], INT16, modes), (RPMTAG["FILESIZES"], INT32, sizes),
            (RPMTAG["FILEFLAGS"], INT32, flags), (RPMTAG["FILELINKTOS"], STRING_ARRAY, links)]
    lead = b"\xed\xab\xee\xdb\x03\x00\x00\x00\x00\x01" + spec.name.encode()[:65].ljust(66, b"\0") \
        + b"\x00\x01\x00\x05" + b"\0" * 16
    signature = header([])
    signature += b"\0" * (-len(signature) % 8)
    body = compress(cpio(members), compressor) if payload is None else payload
    return lead + signature + header(entries) + body


def build_rpm(spec: Spec, out: Path, compressor: str = "xz") -> Path:
    out.write_bytes(rpm_bytes(spec, compressor))
    return out


# --- hand-made .deb files, for the broken ones ---------------------------------------------
def ar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


def tar_bytes(files: dict[str, bytes]) -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CONTROL = b"Package: broken\nVersion: 1\nArchitecture: all\nDescription: x\n"


def deb_bytes(data_member: str, data: bytes) -> bytes:
    control = gzip.compress(tar_bytes({"./control": CONTROL}))
    return ar_bytes([("debian-binary", b"2.0\n"), ("control.tar.gz", control), (data_member, data)])


def tar_header(name: str, size: int) -> bytes:
    """The 512-byte header of a member of `size` bytes (its data not included)."""
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)
