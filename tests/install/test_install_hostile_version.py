"""What `install --systemd auto` says it found in a tree, when the tree's dpkg status file
was written to mislead: the version it takes is said with where it came from, and text
from the file is shown, never obeyed by the terminal."""

from __future__ import annotations

from pathlib import Path

from tests.install.conftest import make_target

HOSTILE = "252\x1b]0;PWNED\x07\x1b[2J-1"


def test_a_version_with_terminal_escapes_is_shown_not_obeyed(udev_drift, tmp_path: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["systemd"])
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(f"Package: systemd\nStatus: install ok installed\nVersion: {HOSTILE}\n\n")
    result = udev_drift("install", "--root", root, "--binary", fake_binary, "--dry-run")
    assert result.status == 0
    header = result.out.splitlines()[0]
    assert "\x1b" not in result.out and "\x07" not in result.out
    assert "systemd 252, from dpkg: systemd '252\\x1b]0;PWNED\\x07\\x1b[2J-1'" in header, header


def test_a_version_too_long_to_be_one_is_shown_cut(udev_drift, tmp_path: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["systemd"])
    status = root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(f"Package: systemd\nStatus: install ok installed\nVersion: 252-{'1' * 100_000}\n\n")
    header = udev_drift("install", "--root", root, "--binary", fake_binary, "--dry-run").out.splitlines()[0]
    assert "systemd 252, from dpkg: systemd '252-111" in header and len(header) < 1000, header[:1000]
