"""An rpm database that does not answer (locked by a transaction, a hung rpm) costs the
preview one query's timeout, not one per %config rules file: a package with many of them
held the package manager's hook (and the update) for the sum of all their timeouts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import checker.preview.transaction as transaction
from tests.preview.builders import Spec, build_rpm

FILES = [f"/etc/udev/rules.d/{n:02d}-site.rules" for n in range(10)]


def test_a_database_that_does_not_answer_is_asked_once(udev_drift, xen, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "rpm"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setattr(transaction, "RPM_QUERY_SECONDS", 1)
    for path in FILES:  # changed here: rpm's database decides whether rpm replaces them
        xen.write(path, "# the admin's\n", dedent=False)
    package = build_rpm(Spec("site", "2-1", {p: "# vendor\n" for p in FILES}, noreplace=FILES),
                        tmp_path / "site-2-1.noarch.rpm")
    started = time.monotonic()
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", package)
    took = time.monotonic() - started
    assert result.status in (0, 1), result.err
    assert took < 4, f"{took:.1f} s: the database was asked again after it did not answer"
    assert "the rpm database could not be asked" in result.out


def test_file_names_in_the_rpm_database_that_are_not_utf_8_are_read(udev_drift, xen, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # rpm prints a name's bytes as they are; a tree's database may hold any. Before: a
    # UnicodeDecodeError from subprocess, a traceback (a hook: "internal error").
    fake = tmp_path / "bin" / "rpm"
    fake.parent.mkdir()
    fake.write_bytes(b"#!/bin/sh\nprintf 'site\\n/usr/lib/udev/rules.d/\\377.rules\\t\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    package = build_rpm(Spec("site", "2-1", {FILES[0]: "# vendor\n"}), tmp_path / "site-2-1.noarch.rpm")
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", package)
    assert result.status in (0, 1), result.err
    assert "site 2-1 (site-2-1.noarch.rpm) installs" in result.out
