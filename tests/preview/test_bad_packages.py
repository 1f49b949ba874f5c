"""A package file that cannot be read ends in one line naming the file and what is wrong,
exit 2, quickly: never a traceback, never a hang, never more than the byte budget read.
Run by a package manager's hook, the same failure lets the update go on (exit 0) and says
so. No test writes a large file: big members are announced by their header, or streamed
through a compressor."""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import time
from pathlib import Path

import pytest

from checker.preview.package import Limits, PackageError
from checker.preview.read import read_package
from tests.preview.builders import Spec, build_deb, deb_bytes, rpm_bytes, tar_bytes, tar_header
from tests.preview.conftest import needs_dpkg

RULES = "./usr/lib/udev/rules.d/99-x.rules"


def one_line_error(result, path: Path, *words: str) -> None:
    assert result.status == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"udev-drift: {path}"), result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def run(udev_drift, xen):
    def preview(path: Path, *options: str):
        started = time.monotonic()
        result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", *options, path)
        assert time.monotonic() - started < 10
        return result
    return preview


@needs_dpkg
def test_a_truncated_deb(run, tmp_path: Path) -> None:
    deb = build_deb(Spec("v", "1", {RULES[1:]: "x" * 5000}), tmp_path / "v.deb", compression="gzip")
    data = deb.read_bytes()
    deb.write_bytes(data[: len(data) - 300])
    one_line_error(run(deb), deb)


def test_a_member_named_xz_that_holds_gzip(run, tmp_path: Path) -> None:
    deb = tmp_path / "wrong.deb"
    deb.write_bytes(deb_bytes("data.tar.xz", gzip.compress(tar_bytes({RULES: b"x\n"}))))
    one_line_error(run(deb), deb, "data.tar.xz", "the name says xz, the data is gzip")


def test_corrupt_compressed_data(run, tmp_path: Path) -> None:
    packed = bytearray(lzma.compress(tar_bytes({RULES: b"KERNEL==\"sdb\"\n" * 100})))
    packed[40:60] = b"\xff" * 20
    deb = tmp_path / "corrupt.deb"
    deb.write_bytes(deb_bytes("data.tar.xz", bytes(packed)))
    one_line_error(run(deb), deb, "data.tar.xz")


def test_a_path_outside_the_root(run, tmp_path: Path) -> None:
    deb = tmp_path / "escape.deb"
    deb.write_bytes(deb_bytes("data.tar.xz", lzma.compress(tar_bytes({"./../../etc/udev/rules.d/x.rules": b"x"}))))
    one_line_error(run(deb), deb, "outside the root")


def test_a_2_gib_rules_file_is_refused_by_its_header(run, tmp_path: Path) -> None:
    # Only the header: a 2 GiB member is announced, and refused before a byte of it is read.
    deb = tmp_path / "huge.deb"
    deb.write_bytes(deb_bytes("data.tar.xz", lzma.compress(tar_header(RULES, 2 * 1024 ** 3))))
    one_line_error(run(deb), deb, "2147483648 bytes, more than a rules file may be")


def test_a_2_gib_member_elsewhere_is_read_past_within_the_budget(run, tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    chunk = bytes(16 * 1024 * 1024)
    parts = [compressor.compress(tar_header("./usr/share/blob", 2 * 1024 ** 3))]
    for _ in range(128):  # 2 GiB of zeros, streamed through the compressor, never written
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    deb = tmp_path / "blob.deb"
    deb.write_bytes(deb_bytes("data.tar.zst", b"".join(parts)))
    assert deb.stat().st_size < 1024 * 1024
    one_line_error(run(deb, "--max-unpacked-bytes", "256M"), deb, "unpacks to more than 256 MiB")


def test_a_bomb_stops_at_the_budget(tmp_path: Path) -> None:
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=0)
    parts = [compressor.compress(tar_header("./usr/share/bomb", 64 * 1024 ** 2))]
    chunk = bytes(8 * 1024 * 1024)
    parts += [compressor.compress(chunk) for _ in range(8)]
    parts.append(compressor.flush())
    deb = tmp_path / "bomb.deb"
    deb.write_bytes(deb_bytes("data.tar.xz", b"".join(parts)))
    assert deb.stat().st_size < 64 * 1024
    with pytest.raises(PackageError, match="unpacks to more than 8 MiB"):
        read_package(str(deb), Limits(unpacked_bytes=8 * 1024 ** 2))


def test_too_many_members(tmp_path: Path) -> None:
    deb = tmp_path / "many.deb"
    deb.write_bytes(deb_bytes("data.tar.gz", gzip.compress(tar_bytes({f"./f{i}": b"" for i in range(50)}))))
    with pytest.raises(PackageError, match="more than 20 members"):
        read_package(str(deb), Limits(members=20))


def test_not_a_package(run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"hello, world\n")
    one_line_error(run(junk), junk, "neither a .deb nor an .rpm")


def test_a_missing_file(run, tmp_path: Path) -> None:
    one_line_error(run(tmp_path / "nope.deb"), tmp_path / "nope.deb", "No such file")


RPM_SPEC = Spec("v", "1-1", {"/usr/lib/udev/rules.d/99-x.rules": "KERNEL==\"sdb\"\n"})


def test_a_truncated_rpm_header(run, tmp_path: Path) -> None:
    rpm = tmp_path / "t.rpm"
    rpm.write_bytes(rpm_bytes(RPM_SPEC)[:200])
    one_line_error(run(rpm), rpm, "truncated")


def test_a_truncated_rpm_payload(run, tmp_path: Path) -> None:
    rpm = tmp_path / "t.rpm"
    data = rpm_bytes(Spec("v", "1-1", {"/usr/lib/udev/rules.d/99-x.rules": "x" * 20000}), "gzip")
    rpm.write_bytes(data[:-200])
    one_line_error(run(rpm), rpm, "payload")


def test_an_rpm_whose_payload_is_not_what_the_header_says(run, tmp_path: Path) -> None:
    rpm = tmp_path / "w.rpm"
    rpm.write_bytes(rpm_bytes(RPM_SPEC, "gzip", declared_compressor="xz"))
    one_line_error(run(rpm), rpm, "the header says the payload is xz, it is gzip")


def test_an_rpm_path_outside_the_root(run, tmp_path: Path) -> None:
    rpm = tmp_path / "e.rpm"
    rpm.write_bytes(rpm_bytes(Spec("v", "1-1", {"/usr/lib/udev/rules.d/../../../../etc/x.rules": "x"})))
    one_line_error(run(rpm), rpm, "outside the root")


def test_an_rpm_without_rules_files_is_not_decompressed(tmp_path: Path) -> None:
    # the header says there are none: the payload (here: garbage) is never read
    spec = Spec("tools", "1-1", {"/usr/bin/tool": "x"})
    rpm = tmp_path / "tools.rpm"
    data = rpm_bytes(spec, "xz")
    rpm.write_bytes(data[: len(data) - 40] + b"\0" * 40)
    assert read_package(str(rpm)).files == []


def test_a_hook_lets_the_update_go_on_when_the_preview_fails(udev_drift, xen, tmp_path: Path) -> None:
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"!<arch>\nnot really")
    result = udev_drift("preview", "--hook", "--root", xen.root, "--skip-policy-permission-check", junk)
    assert result.status == 0
    assert "WARNING: the preview failed" in result.err and "the update goes on unchecked" in result.err


def test_a_hook_refuses_on_a_failed_preview_only_when_told(udev_drift, xen, tmp_path: Path) -> None:
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n  on_error: block\n")
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"nothing")
    result = udev_drift("preview", "--hook", "--root", xen.root, "--skip-policy-permission-check", junk)
    assert result.status == 3 and "refusing the update" in result.err


@pytest.mark.parametrize("fmt", ["deb", "rpm"])
def test_damaged_packages_end_in_package_errors_only(tmp_path: Path, fmt: str) -> None:
    # 300 random damages (bytes changed, cut short, bytes inserted) of a good package, per
    # compression: each either reads or is a one-line PackageError, never another exception
    import random

    from checker.errors import UdevDriftError
    from tests.preview.builders import rpm_bytes
    spec = Spec("v", "1-1", {"/usr/lib/udev/rules.d/99-x.rules": 'KERNEL=="sdb", SYMLINK="x"\n' * 20,
                             "/etc/udev/rules.d/5.rules": "# x\n"}, noreplace=["/etc/udev/rules.d/5.rules"])
    if fmt == "deb":
        if not shutil.which("dpkg-deb"):
            pytest.skip("dpkg-deb is not installed")
        seeds = [build_deb(spec, tmp_path / f"s-{c}.deb", compression=c).read_bytes() for c in ("xz", "gzip", "zstd")]
    else:
        seeds = [rpm_bytes(spec, c) for c in ("xz", "gzip", "zstd")]
    rng = random.Random(20261207)
    damaged = tmp_path / f"damaged.{fmt}"
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        how = rng.random()
        if how < 0.4:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how < 0.7:
            data = data[: rng.randrange(len(data))]
        else:
            at = rng.randrange(len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        damaged.write_bytes(bytes(data))
        try:
            read_package(str(damaged), Limits(unpacked_bytes=64 * 1024 ** 2))
        except UdevDriftError as error:
            assert "\n" not in str(error)


def test_a_fifo_or_a_directory_is_refused_without_waiting(run, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.deb"
    os.mkfifo(fifo)
    one_line_error(run(fifo), fifo, "not a regular file")
    one_line_error(run(tmp_path), tmp_path, "not a regular file")


@needs_dpkg
@pytest.mark.parametrize("name", ["var/lib/dpkg/status", "var/lib/dpkg/info/v.list", "etc/udev/rules.d/99-x.rules"])
def test_a_fifo_or_a_link_out_of_the_tree_in_the_hosts_package_state_is_never_read(
        run, xen, tmp_path: Path, name: str) -> None:
    # A hostile image (--root) with a FIFO where dpkg's status, a package's file list or a
    # rules file the package overwrites should be: opened without blocking, never waited on.
    deb = build_deb(Spec("v", "1", {RULES[1:]: 'KERNEL=="sdz", SYMLINK+="z"\n'}), tmp_path / "v.deb")
    target = Path(xen.root) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    result = run(deb)
    assert result.status in (0, 1) and "Traceback" not in result.err, result.err
    target.unlink()
    secret = tmp_path / "outside"
    secret.write_text("Package: v\nStatus: install ok installed\nVersion: 0\nConffiles:\n /etc/x 0\n")
    target.symlink_to(secret)  # a link at the last name is not followed
    result = run(deb)
    assert result.status in (0, 1) and "Traceback" not in result.err, result.err
