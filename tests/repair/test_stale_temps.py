"""Temporary files a killed run left are removed by a later repair: only its own pattern,
only regular files and links, only when their run is gone (or they are old)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from checker.safe_files.atomic import STALE_AFTER_SECONDS
from tests.conftest import REPO, XEN_BLOCK_POLICY, HostTree, Result

Run = Callable[..., Result]
POLICY = XEN_BLOCK_POLICY + "symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"

# A run killed in the middle of a write: makes a temporary file (or link) as checker.safe_files.atomic
# does, under its own pid, and is killed before it renames it.
KILLED = r"""
import os, signal, sys
from checker.safe_files.atomic import temp_name
directory, name, kind = sys.argv[1:]
temp = os.path.join(directory, temp_name(name))
if kind == "link":
    os.symlink("../../sdb", temp)
else:
    with open(temp, "wb") as out:
        out.write(b"half a file")
print(os.path.basename(temp), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_run_leaves(directory: Path, name: str, kind: str = "file") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", KILLED, str(directory), name, kind], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


def test_a_later_repair_removes_what_killed_runs_left_and_nothing_else(tmp_path: Path, udev_drift: Run) -> None:
    root = tmp_path / "host"
    shutil.copytree(REPO / "examples/xenserver-host", root, symlinks=True)
    (root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml").unlink()
    (root / "etc/udev-drift/policies.d/xen.yaml").write_text(POLICY)
    host = HostTree(root)
    assert udev_drift("check", "--root", root, "--repair").status == 0  # compliant from here on
    rules, links = host.path("/etc/udev/rules.d"), host.path("/dev/xapi/block")
    state = host.path("/var/lib/udev-drift")
    stale = [rules / killed_run_leaves(rules, "50-udev.rules"),
             links / killed_run_leaves(links, "sdb", "link"),
             state / killed_run_leaves(state, "fingerprints.json")]
    # A run that is still writing keeps its file: a live process of the same pattern.
    live = subprocess.Popen(["sleep", "60"])
    try:
        writing = rules / f".50-udev.rules.{live.pid}.0123abcd.udev-drift.tmp"
        writing.write_text("being written")
        # ... unless it is far older than any write takes (a pid reused by another process).
        forgotten = rules / f".other.rules.{live.pid}.89abcdef.udev-drift.tmp"
        forgotten.write_text("left long ago")
        old = time.time() - STALE_AFTER_SECONDS - 60
        os.utime(forgotten, (old, old))
        stale.append(forgotten)
        # Not ours, or not a file: never touched.
        kept = [rules / "50-udev.rules.udev-drift.tmp", rules / ".50-udev.rules.1.xyz.udev-drift.tmp",
                rules / "notes.tmp"]
        for path in kept:
            path.write_text("someone else's")
        fifo = rules / ".fifo.rules.999999.0123abcd.udev-drift.tmp"
        os.mkfifo(fifo)
        kept += [fifo, writing]
        result = udev_drift("check", "--root", root, "--repair", "--format", "json")
        assert result.status == 0, result
        assert result.json()["actions"] == [], "nothing to repair: only tidied"
        for path in stale:
            assert not os.path.lexists(path), path
        for path in kept:
            assert os.path.lexists(path), path
    finally:
        live.kill()
        live.wait()


def test_the_backup_writer_removes_a_backup_a_killed_run_left_half_written(tmp_path: Path) -> None:
    from checker.state import StateDir

    state = StateDir(str(tmp_path / "state"))
    state.backup("/etc/udev/rules.d/50-udev.rules", b"first\n", now=1_000_000)
    directory = tmp_path / "state/backups/etc/udev/rules.d"
    left = directory / killed_run_leaves(directory, "50-udev.rules.2026-01-01T000000Z.bak")
    state.backup("/etc/udev/rules.d/50-udev.rules", b"second\n", now=2_000_000)
    assert not left.exists()
    assert len(state.backups_of("/etc/udev/rules.d/50-udev.rules")) == 2
