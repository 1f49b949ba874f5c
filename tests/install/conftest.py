"""Fixtures for `udev-drift install` / `uninstall`: target trees, tree snapshots, a real command.

A target tree says what kind of host it stands for by the files install looks for:
`/usr/lib/systemd/systemd` (systemd is the init system), `/usr/bin/dpkg`, `/usr/bin/dnf`,
`/usr/bin/yum` (a package manager to hook). They are empty files: install only looks.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from checker.install.target import SYSTEMD_MANAGERS
from tests.servers import servers

__all__ = ["servers"]  # the fixture, for test_watch.py

MARKERS = {"systemd": SYSTEMD_MANAGERS[0], "apt": "/usr/bin/dpkg", "dnf": "/usr/bin/dnf", "yum": "/usr/bin/yum"}


def make_target(root: Path, kinds: Iterable[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        marker = root / MARKERS[kind].lstrip("/")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return root


def snapshot(root: Path) -> dict[str, Any]:
    """Every entry under root: type, mode, owner, and content hash or link target.

    Inode numbers and times are left out (a file replaced by the same bytes is the same
    tree to a person); `exact_snapshot` keeps them, to prove that nothing was written."""
    seen: dict[str, Any] = {}
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            full = os.path.join(directory, name)
            st = os.lstat(full)
            key = os.path.relpath(full, root)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                seen[key] = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                seen[key] = ("dir", oct(mode), st.st_uid, st.st_gid)
            else:
                with open(full, "rb") as source:
                    digest = hashlib.sha256(source.read()).hexdigest()
                seen[key] = ("file", oct(mode), st.st_uid, st.st_gid, digest)
    return seen


def exact_snapshot(root: Path) -> dict[str, Any]:
    seen = snapshot(root)
    for key in list(seen):
        st = os.lstat(root / key)
        seen[key] = (*seen[key], st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return seen


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    """A real executable to stand for udev-drift where a unit must name one that exists
    (systemd-analyze verify checks ExecStart=); it runs this checkout's udev-drift."""
    binary = tmp_path / "bin" / "udev-drift"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!/bin/sh\nexec {sys.executable} -m checker \"$@\"\n")
    binary.chmod(0o755)
    return binary
