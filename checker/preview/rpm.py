"""An .rpm read as rpm reads it: the lead, the signature header, the header (parsed here,
for the file list and each file's flags), then the compressed cpio payload.

The header lists every file with its mode, size, flags and link target, so the payload is
read only when the package has regular rules files, and only up to the last of them.
"""

from __future__ import annotations

import stat as stat_module
import struct
from typing import BinaryIO, Union

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

LEAD_MAGIC = b"\xed\xab\xee\xdb"
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
LEAD_SIZE = 96

# Header tags (rpmtag.h) and flags (rpmfiles.h) this reader needs.
NAME, VERSION, RELEASE, EPOCH, ARCH = 1000, 1001, 1002, 1003, 1022
OLDFILENAMES, FILESIZES, FILEMODES, FILELINKTOS, FILEFLAGS = 1027, 1028, 1030, 1036, 1037
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
PAYLOADFORMAT, PAYLOADCOMPRESSOR = 1124, 1125
LONGFILESIZES = 5008
RPMFILE_CONFIG, RPMFILE_NOREPLACE, RPMFILE_GHOST = 1, 16, 64

COMPRESSORS = {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz", "lzma": "lzma", "zstd": "zstd"}
MAX_INDEX = 1_000_000

Value = Union[list[int], list[str], str, bytes]


def _read_exact(handle: BinaryIO, size: int, source: str, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise PackageError(f"{source}: truncated in the {what}")
    return data


# The tags this reader decodes; every other tag is passed over unread (a hostile header
# can point each of a million tags at the whole 64 MiB store), and so is every tag of the
# signature header. The file tags hold one value per file, so no more than a package may
# have members.
WANTED = frozenset({NAME, VERSION, RELEASE, EPOCH, ARCH, PAYLOADFORMAT, PAYLOADCOMPRESSOR})
FILE_TAGS = frozenset({OLDFILENAMES, FILESIZES, FILEMODES, FILELINKTOS, FILEFLAGS, DIRINDEXES,
                       BASENAMES, DIRNAMES, LONGFILESIZES})


def read_header(handle: BinaryIO, source: str, what: str, limits: Limits,
                wanted: frozenset[int] = frozenset()) -> tuple[dict[int, Value], int]:
    """The `wanted` tags of one header structure and its size in bytes."""
    intro = _read_exact(handle, 16, source, what)
    if intro[:4] != HEADER_MAGIC:
        raise PackageError(f"{source}: no {what} where one must be (a damaged .rpm)")
    count, size = struct.unpack(">II", intro[8:16])
    if count > MAX_INDEX or size > limits.header_bytes:
        raise PackageError(f"{source}: the {what} claims {count} tags and {size} bytes: refused")
    index = _read_exact(handle, 16 * count, source, what)
    store = _read_exact(handle, size, source, what)
    tags: dict[int, Value] = {}
    for n in range(count):
        tag, kind, offset, items = struct.unpack(">IIII", index[16 * n: 16 * n + 16])
        if tag not in wanted:
            continue
        if tag in tags:  # rpm writes each tag once; decoded once, whatever the index says
            raise PackageError(f"{source}: {what}: tag {tag} is listed more than once: refused")
        if offset > size or items > size + 1:
            raise PackageError(f"{source}: {what}: tag {tag} points outside the header")
        if tag in FILE_TAGS and items > limits.members:
            raise PackageError(f"{source}: {what}: tag {tag} lists {items} values, more than the "
                               f"{limits.members} files a package may have: refused")
        tags[tag] = _value(store, kind, offset, items, source, what, tag)
    return tags, 16 + 16 * count + size


def _value(store: bytes, kind: int, offset: int, items: int, source: str, what: str, tag: int) -> Value:
    if kind in (2, 3, 4, 5, 1):  # CHAR, INT8, INT16, INT32, INT64
        width = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}[kind]
        end = offset + width * items
        if end > len(store):
            raise PackageError(f"{source}: {what}: tag {tag} runs past the header")
        code = {1: "B", 2: "B", 3: "H", 4: "I", 5: "Q"}[kind]
        return list(struct.unpack(f">{items}{code}", store[offset:end]))
    if kind == 6:  # STRING
        end = store.find(b"\0", offset)
        if end < 0:
            raise PackageError(f"{source}: {what}: tag {tag} is not terminated")
        return store[offset:end].decode("utf-8", "surrogateescape")
    if kind in (8, 9):  # STRING_ARRAY, I18NSTRING
        strings: list[str] = []
        for _ in range(items):
            end = store.find(b"\0", offset)
            if end < 0:
                raise PackageError(f"{source}: {what}: tag {tag} is not terminated")
            strings.append(store[offset:end].decode("utf-8", "surrogateescape"))
            offset = end + 1
        return strings
    if kind == 7:  # BIN
        return store[offset: offset + items]
    return b""  # NULL, or a type rpm does not define: not needed here


def _strings(tags: dict[int, Value], tag: int) -> list[str]:
    value = tags.get(tag, [])
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
        if isinstance(value, list) else []


def _ints(tags: dict[int, Value], tag: int) -> list[int]:
    value = tags.get(tag, [])
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


def _string(tags: dict[int, Value], tag: int) -> str:
    value = tags.get(tag, "")
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return value if isinstance(value, str) else ""


def file_names(tags: dict[int, Value], source: str) -> list[str]:
    basenames = _strings(tags, BASENAMES)
    if basenames:
        dirnames, indexes = _strings(tags, DIRNAMES), _ints(tags, DIRINDEXES)
        if len(indexes) != len(basenames) or any(i >= len(dirnames) for i in indexes):
            raise PackageError(f"{source}: header: BASENAMES, DIRNAMES and DIRINDEXES do not agree")
        return [dirnames[i] + name for i, name in zip(indexes, basenames)]
    return _strings(tags, OLDFILENAMES)


def read_rpm(handle: BinaryIO, source: str, limits: Limits) -> Package:
    lead = handle.read(LEAD_SIZE)
    if len(lead) < 4 or lead[:4] != LEAD_MAGIC:
        raise PackageError(f"{source}: not an .rpm (no rpm lead)")
    if len(lead) < LEAD_SIZE:
        raise PackageError(f"{source}: truncated in the lead")
    _, signature_size = read_header(handle, source, "signature header", limits)
    _read_exact(handle, -signature_size % 8, source, "signature header")  # padded to 8
    tags, _ = read_header(handle, source, "header", limits, WANTED | FILE_TAGS)
    epoch = _ints(tags, EPOCH)
    version = f"{_string(tags, VERSION)}-{_string(tags, RELEASE)}"
    package = Package(source, "rpm", _string(tags, NAME), f"{epoch[0]}:{version}" if epoch else version,
                      _string(tags, ARCH))
    if not package.name:
        raise PackageError(f"{source}: header has no NAME")
    names = file_names(tags, source)
    modes, flags, links = _ints(tags, FILEMODES), _ints(tags, FILEFLAGS), _strings(tags, FILELINKTOS)
    sizes = _ints(tags, LONGFILESIZES) or _ints(tags, FILESIZES)
    if names and not (len(modes) == len(flags) == len(names) and len(sizes) == len(names)):
        raise PackageError(f"{source}: header: the file tags do not have one value per file")
    wanted: dict[str, int] = {}  # host path -> file index, regular rules files
    files: dict[int, PackageFile] = {}
    for index, name in enumerate(names):
        path = host_path(name, source)
        if not is_rules_path(path) or flags[index] & RPMFILE_GHOST:
            continue
        config: ConfigKind | None = None
        if flags[index] & RPMFILE_CONFIG:
            config = "noreplace" if flags[index] & RPMFILE_NOREPLACE else "config"
        if stat_module.S_ISLNK(modes[index]):
            link = links[index] if index < len(links) else ""
            files[index] = PackageFile(path, name, "link", link=link, config=config)
        elif stat_module.S_ISREG(modes[index]):
            if sizes[index] > limits.rules_file_bytes:
                raise PackageError(f"{source}: {name}: {sizes[index]} bytes, more than a rules file "
                                   f"may be ({limits.rules_file_bytes}): refused")
            wanted[path] = index
            files[index] = PackageFile(path, name, "file", config=config)
        else:  # a FIFO, a device, a directory: rpm puts it in place of what is there
            files[index] = PackageFile(path, name, "special", config=config)
    if wanted:
        data = _payload(handle, source, tags, names, sizes, set(wanted), limits)
        for path, index in wanted.items():
            if path not in data:
                raise PackageError(f"{source}: {names[index]} is in the header but not in the payload")
            entry = files[index]
            files[index] = PackageFile(entry.path, entry.member, "file", data[path], config=entry.config)
    package.files = [files[i] for i in sorted(files)]
    return package


def _payload(handle: BinaryIO, source: str, tags: dict[int, Value], names: list[str], sizes: list[int],
             wanted: set[str], limits: Limits) -> dict[str, bytes]:
    """The bytes of the `wanted` files from the cpio payload (read until all are found)."""
    fmt = _string(tags, PAYLOADFORMAT) or "cpio"
    if fmt != "cpio":
        raise PackageError(f"{source}: payload format {fmt!r}: only cpio is read")
    named = _string(tags, PAYLOADCOMPRESSOR) or "gzip"
    kind = COMPRESSORS.get(named)
    if kind is None:
        raise PackageError(f"{source}: payload compressor {named!r} is not one rpm uses")
    start = handle.tell()
    sniffed = sniff(handle.read(8))
    if sniffed != kind:
        raise PackageError(f"{source}: the header says the payload is {named}, it is "
                           f"{sniffed or 'not compressed (or an unknown format)'}")
    handle.seek(start)
    what = f"{source}: payload"
    stream = open_bounded(handle, kind, limits.unpacked_bytes, what)
    found: dict[str, bytes] = {}
    by_inode: dict[int, list[str]] = {}  # hard links: rpm writes the data with the last name
    members = 0
    while len(found) < len(wanted):
        members += 1
        if members > limits.members:
            raise PackageError(f"{what}: more than {limits.members} members: refused")
        magic = stream.read(6)
        if len(magic) < 6:
            raise PackageError(f"{what}: truncated (ends before the cpio trailer)")
        if magic == b"07070X":  # rpm 4.12's stripped cpio: an index into the header's file list
            index = _hex(stream.read(8), what)
            if index >= len(names):
                raise PackageError(f"{what}: file index {index} is not in the header")
            name, size = names[index], sizes[index]
            pad = -(6 + 8) % 4
            ino, nlink = -1, 1
        elif magic in (b"070701", b"070702"):
            fields = stream.read(104)
            if len(fields) < 104:
                raise PackageError(f"{what}: truncated in a cpio header")
            values = [_hex(fields[i: i + 8], what) for i in range(0, 104, 8)]
            ino, nlink, size, namesize = values[0], values[4], values[6], values[11]
            if namesize > 4096:
                raise PackageError(f"{what}: a cpio name of {namesize} bytes: refused")
            raw = stream.read(namesize + (-(110 + namesize) % 4))
            name = raw[: max(namesize - 1, 0)].decode("utf-8", "surrogateescape")
            if name == "TRAILER!!!":
                break
            pad = 0
        else:
            raise PackageError(f"{what}: not a cpio archive rpm writes (magic {magic!r})")
        stream.read(pad)
        path = host_path(name, what)
        if path in wanted and size > limits.rules_file_bytes:
            raise PackageError(f"{what}: {name}: {size} bytes, more than a rules file may be: refused")
        if path in wanted:
            data = stream.read(size)
            if len(data) != size:
                raise PackageError(f"{what}: {name}: truncated")
            if size == 0 and nlink > 1:
                by_inode.setdefault(ino, []).append(path)
            else:
                found[path] = data
                for other in by_inode.pop(ino, []) if nlink > 1 else []:
                    found[other] = data
        else:
            _skip(stream, size, what)
            if nlink > 1 and size and ino in by_inode:
                raise PackageError(f"{what}: hard-linked rules file whose data is under another name: "
                                   "not supported")
        stream.read(-size % 4)
    return found


def _skip(stream: BinaryIO, size: int, what: str) -> None:
    while size > 0:
        chunk = stream.read(min(size, 1024 * 1024))
        if not chunk:
            raise PackageError(f"{what}: truncated")
        size -= len(chunk)


def _hex(field: bytes, what: str) -> int:
    try:
        return int(field, 16)
    except ValueError:
        raise PackageError(f"{what}: a damaged cpio header") from None
