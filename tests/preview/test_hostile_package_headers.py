"""Package headers made to cost: an .rpm header whose index points every tag at the whole
store, or lists one tag many times, and tar meta headers (pax, GNU long names, sparse maps)
that tarfile would read whole into memory. Each is read in a child process with limits on
CPU time and memory, so that the old cost shows as a killed child, not a slow suite."""

from __future__ import annotations

import lzma
import struct
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from checker.preview.package import Limits, PackageError
from checker.preview.read import read_package
from tests.preview.builders import RPMTAG, Spec, deb_bytes, header, rpm_bytes, tar_header

INT8, STRING_ARRAY = 2, 8


def read_in_child(path: Path, cpu_seconds: int = 20, memory: int = 1024 ** 3) -> str:
    """The one line read_package ends in, read under limits (a killed child fails)."""
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_CPU, ({cpu_seconds}, {cpu_seconds}))
        resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
        from checker.preview.package import PackageError
        from checker.preview.read import read_package
        try:
            package = read_package({str(path)!r})
        except PackageError as error:
            print("error:", error)
        else:
            print("read:", package.name, len(package.files))
        # VmHWM, not ru_maxrss: that keeps the parent's high-water mark across exec
        status = open("/proc/self/status").read()
        print("peak KiB:", status.split("VmHWM:")[1].split()[0])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, f"killed or failed ({done.returncode}): {done.stderr[-500:]}"
    return done.stdout


def rpm_with_header(tmp_path: Path, index: list[tuple[int, int, int, int]], store: bytes) -> Path:
    """A good .rpm whose header gets `index` and `store` appended to its own."""
    good = rpm_bytes(Spec("hostile", "1", {"/usr/share/doc/hostile/README": "x\n"}))
    lead, rest = good[:96], good[96:]
    signature = header([])
    signature += b"\0" * (-len(signature) % 8)
    assert rest.startswith(signature)
    rest = rest[len(signature):]
    count, size = struct.unpack(">II", rest[8:16])
    own_index, own_store = rest[16: 16 + 16 * count], rest[16 + 16 * count: 16 + 16 * count + size]
    payload = rest[16 + 16 * count + size:]
    extra = b"".join(struct.pack(">IIII", tag, kind, size + offset, items) for tag, kind, offset, items in index)
    body = (b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", count + len(index), size + len(store))
            + own_index + extra + own_store + store)
    out = tmp_path / "hostile-1.noarch.rpm"
    out.write_bytes(lead + signature + body + payload)
    return out


def test_the_hostile_rpm_helper_makes_a_readable_package(tmp_path: Path) -> None:
    path = rpm_with_header(tmp_path, [(5999, INT8, 0, 4)], b"\0" * 4)
    assert read_package(str(path)).name == "hostile"


def test_tags_that_each_span_the_whole_header_cost_nothing_when_not_needed(tmp_path: Path) -> None:
    # Before: every tag was decoded, needed or not: 20,000 tags of 4 MiB one-byte
    # integers each are 80 billion values (the hook, and the update, hung).
    store = bytes(4 * 1024 * 1024)
    path = rpm_with_header(tmp_path, [(6000 + n, INT8, 0, len(store)) for n in range(20_000)], store)
    assert read_in_child(path).startswith("read: hostile 0")


def test_a_needed_tag_listed_many_times_is_refused(tmp_path: Path) -> None:
    # Before: each of 10,000 copies of BASENAMES decoded a million empty names.
    store = bytes(1024 * 1024)
    path = rpm_with_header(tmp_path, [(RPMTAG["BASENAMES"], STRING_ARRAY, 0, len(store))] * 10_000, store)
    said = read_in_child(path)
    assert said.startswith("error:") and "tag 1117 is listed more than once" in said, said


def test_a_header_listing_more_files_than_a_package_may_hold_is_refused(tmp_path: Path) -> None:
    count = 1000
    spec = Spec("many", "1", {f"/usr/share/many/f{i}": "" for i in range(count)})
    path = tmp_path / "many-1.noarch.rpm"
    path.write_bytes(rpm_bytes(spec))
    with pytest.raises(PackageError, match=r"header: tag \d+ lists 1000 values, more than the 100 files"):
        read_package(str(path), Limits(members=100))


# --- tar meta headers ---------------------------------------------------------------------
def deb_with_data(tmp_path: Path, data: bytes) -> Path:
    out = tmp_path / "hostile_1_all.deb"
    out.write_bytes(deb_bytes("data.tar.xz", lzma.compress(data, format=lzma.FORMAT_XZ, preset=1)))
    return out


def meta(kind: bytes, size: int, fill: bytes) -> bytes:
    info = tarfile.TarInfo("././@LongLink" if kind in (tarfile.GNUTYPE_LONGNAME,) else "pax")
    info.type = kind
    info.size = size
    body = (fill * (size // len(fill) + 1))[:size]
    return info.tobuf(format=tarfile.USTAR_FORMAT if kind != tarfile.GNUTYPE_LONGNAME else tarfile.GNU_FORMAT) \
        + body + b"\0" * (-size % 512)


def pax_record(size: int) -> bytes:
    """One pax record `LEN comment=aaa...\n` of exactly `size` bytes."""
    digits = len(str(size))
    return f"{size} comment={'a' * (size - digits - len(' comment=') - 1)}\n".encode()


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_huge_tar_meta_header_is_refused_before_it_is_read(tmp_path: Path, kind: bytes) -> None:
    # Before: tarfile read the whole header into memory (256 MiB here, 4 GiB within the
    # default budget): on a dom0 of 1 GiB, the hook woke the OOM killer.
    fill = b"9 a=b\n" if kind != tarfile.GNUTYPE_LONGNAME else b"a"
    data = meta(kind, 256 * 1024 * 1024, fill) + tar_header("./usr/share/x", 0) + bytes(1024)
    said = read_in_child(deb_with_data(tmp_path, data), memory=768 * 1024 ** 2)
    assert said.startswith("error:") and "meta header of 268435456 bytes" in said, said


def test_many_pax_headers_are_not_all_kept(tmp_path: Path) -> None:
    # Before: tarfile keeps every member (with its pax header) of a streamed archive:
    # 40,000 members with 16 KiB pax headers each held 640 MiB.
    one = meta(tarfile.XHDTYPE, 16 * 1024, pax_record(16 * 1024)) + tar_header("./usr/share/x", 0)
    data = one * 40_000 + bytes(1024)
    said = read_in_child(deb_with_data(tmp_path, data), memory=1536 * 1024 ** 2)
    assert said.startswith("read: broken 0"), said
    peak = int(said.split("peak KiB:")[1])
    assert peak < 300 * 1024, f"peak {peak} KiB"


def test_a_gnu_sparse_member_is_refused(tmp_path: Path) -> None:
    # dpkg does not unpack sparse members; tarfile would read every extension block of
    # the sparse map into one list (21 entries per 512 bytes, within a 4 GiB budget)
    info = tarfile.TarInfo("./usr/share/sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    data = info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024)
    with pytest.raises(PackageError, match="sparse"):
        read_package(str(deb_with_data(tmp_path, data)))
