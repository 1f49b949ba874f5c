"""Host.reading(): while a check reads, each path is lstat()ed once; outside it (a repair
that writes, then checks again) every call asks the kernel, so a repaired link is seen."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from checker.host import Host


def test_a_path_is_lstat_once_while_reading_and_afresh_outside(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    host = Host(str(tmp_path))
    with mock.patch("checker.host.os.lstat", wraps=os.lstat) as lstat:
        with host.reading():
            assert host.lstat("/dev/sdb") is None
            assert host.lstat("/dev/sdb") is None
            with host.reading():  # nested: the same memo
                assert host.lstat("/dev/sdb") is None
        assert lstat.call_count == 1
        (tmp_path / "dev/sdb").write_text("")
        assert host.lstat("/dev/sdb") is not None  # outside: the kernel's answer now
        with host.reading():
            assert host.lstat("/dev/sdb") is not None
        assert lstat.call_count == 3


def test_a_repair_sees_the_links_it_made(tmp_path: Path) -> None:
    """The check after a repair's writes is a new reading: nothing from the first."""
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/sdb").write_text("")
    host = Host(str(tmp_path))
    with host.reading():
        assert host.follow("/dev/link") == ("/dev/link", None)
    os.symlink("sdb", tmp_path / "dev/link")
    host.forget()
    with host.reading():
        followed = host.follow("/dev/link")
    assert followed is not None and followed[0] == "/dev/sdb" and followed[1] is not None
