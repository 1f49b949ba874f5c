"""A package member at a rules path that is neither a file nor a link (a FIFO, a device,
a directory): dpkg and rpm put it there in place of what was there, and udev reads no
rules from it. The preview must see the file it replaces go, not pass over the member
as if the package left that path alone."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
from pathlib import Path

import pytest

from tests.preview.builders import Spec, ar_bytes, rpm_bytes, tar_bytes
from tests.preview.conftest import BLOCK_FILE

CONTROL = b"Package: site\nVersion: 2\nArchitecture: all\nDescription: x\n"
KINDS = {"fifo": tarfile.FIFOTYPE, "char device": tarfile.CHRTYPE, "directory": tarfile.DIRTYPE}


def deb_with(member: str, kind: bytes, out: Path) -> Path:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(member)
        info.type = kind
        tar.addfile(info)
    control = gzip.compress(tar_bytes({"./control": CONTROL}))
    out.write_bytes(ar_bytes([("debian-binary", b"2.0\n"), ("control.tar.gz", control),
                              ("data.tar.gz", gzip.compress(data.getvalue()))]))
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_deb_that_puts_a_special_file_over_a_managed_rules_file_loses_it(udev_drift, xen, tmp_path: Path,
                                                                            kind: str) -> None:
    deb = deb_with(f".{BLOCK_FILE}", KINDS[kind], tmp_path / "site_2_all.deb")
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", deb)
    assert result.status == 1, result.out + result.err
    assert "LOST: xen: /dev/xapi/block/sdb" in result.out, result.out


def test_an_rpm_that_puts_a_fifo_over_a_managed_rules_file_loses_it(udev_drift, xen, tmp_path: Path) -> None:
    package = tmp_path / "site-2-1.noarch.rpm"
    data = rpm_bytes(Spec("site", "2-1", {BLOCK_FILE: ""}))
    # the header's mode of the one file: a regular file's made a FIFO's
    regular = (stat.S_IFREG | 0o644).to_bytes(2, "big")
    assert data.count(regular) == 1
    package.write_bytes(data.replace(regular, (stat.S_IFIFO | 0o644).to_bytes(2, "big")))
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", package)
    assert result.status == 1, result.out + result.err
    assert "LOST: xen: /dev/xapi/block/sdb" in result.out, result.out
