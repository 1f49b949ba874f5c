"""Decompression that stops at a byte budget: a package that unpacks to more than the
limit (a bomb, a 2 GiB member) ends in a PackageError, after reading at most the limit."""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from typing import Any, BinaryIO, cast

from checker.preview.package import PackageError

CHUNK = 1024 * 1024

# The first bytes of each compression a package may use.
MAGICS = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
)


def sniff(head: bytes) -> str | None:
    """The compression `head` starts with, or None (uncompressed, or unknown)."""
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


class _Limited(io.RawIOBase):
    """The next `left` bytes of `raw` (an ar member's), or all of it with None."""

    def __init__(self, raw: BinaryIO, left: int | None) -> None:
        super().__init__()
        self.raw = raw
        self.left = left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = len(buffer) if self.left is None else min(len(buffer), self.left)
        if size <= 0:
            return 0
        data = self.raw.read(size)
        if self.left is not None:
            self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)


class Bounded(io.RawIOBase):
    """A readable stream of the decompressed bytes of `raw`, at most `budget` of them.

    `what` names the stream in errors ("pkg.deb: data.tar.xz"). Truncated or corrupt
    input is a PackageError, as is going past the budget; no call ever makes more than
    CHUNK bytes at once, whatever the compression ratio (a bomb is stopped by what it
    would produce, not by what it is).
    """

    def __init__(self, raw: BinaryIO, kind: str | None, budget: int, what: str,
                 raw_limit: int | None = None) -> None:
        super().__init__()
        self.raw = _Limited(raw, raw_limit)
        self.kind = kind
        self.budget = budget
        self.what = what
        self.produced = 0
        self._tail = b""
        self._zstd: Any = None
        self._engine: Any = None
        if kind in ("xz", "lzma"):
            self._engine = lzma.LZMADecompressor(format=lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)
        elif kind == "bzip2":
            self._engine = bz2.BZ2Decompressor()
        elif kind == "gzip":
            self._engine = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        elif kind == "zstd":
            try:
                import zstandard
            except ImportError:  # pragma: no cover - a dependency; said clearly if it is missing
                raise PackageError(f"{what}: zstd-compressed, but the Python package zstandard is "
                                   "not installed (pip install zstandard)") from None
            self._zstd = zstandard.ZstdDecompressor().stream_reader(
                cast(BinaryIO, self.raw), read_size=CHUNK, read_across_frames=True)
        elif kind is not None:
            raise PackageError(f"{what}: unknown compression {kind!r}")

    def readable(self) -> bool:
        return True

    def _truncated(self) -> PackageError:
        return PackageError(f"{self.what}: truncated (the {self.kind} data ends early)")

    def _produce(self, room: int) -> bytes:
        """Up to `room` more bytes; b"" at the end of the stream."""
        if self.kind is None:
            return self.raw.read(room) or b""
        if self._zstd is not None:
            return self._zstd.read(room)  # type: ignore[no-any-return]
        engine = self._engine
        while True:
            if engine.eof:
                return b""
            if self.kind == "gzip":
                data = self._tail or self.raw.read(CHUNK)
                if not data:
                    raise self._truncated()
                out = engine.decompress(data, room)
                self._tail = engine.unconsumed_tail
            else:
                data = self.raw.read(CHUNK) if engine.needs_input else b""
                if engine.needs_input and not data:
                    raise self._truncated()
                out = engine.decompress(data, room)
            if out:
                return out  # type: ignore[no-any-return]

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        room = min(len(buffer), CHUNK, self.budget - self.produced + 1)
        try:
            out = self._produce(room)
        except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError) as error:
            raise PackageError(f"{self.what}: not valid {self.kind} data ({error})") from None
        except PackageError:
            raise
        except Exception as error:  # zstandard.ZstdError is no OSError
            if type(error).__name__ == "ZstdError":
                raise PackageError(f"{self.what}: not valid zstd data ({error})") from None
            raise
        self.produced += len(out)
        if self.produced > self.budget:
            raise PackageError(f"{self.what}: unpacks to more than {_size(self.budget)}: refused "
                               "(a damaged or hostile package)")
        buffer[: len(out)] = out
        return len(out)


def _size(count: int) -> str:
    for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} bytes"


def open_bounded(raw: BinaryIO, kind: str | None, budget: int, what: str,
                 raw_limit: int | None = None) -> io.BufferedReader:
    return io.BufferedReader(Bounded(raw, kind, budget, what, raw_limit), buffer_size=CHUNK)
