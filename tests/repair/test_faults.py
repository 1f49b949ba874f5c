"""Faults during a repair: killed at any moment, a read-only or full file system, two runs
at once. Whatever happens, each file is wholly old or wholly new, and a run that cannot
finish says so in one line with exit 3."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, XEN_BLOCK, XEN_BLOCK_POLICY
from tests.namespace import run_private

RULES = "etc/udev/rules.d/50-udev.rules"
POLICY = XEN_BLOCK_POLICY
BLOCK = XEN_BLOCK


def large_vendor_file(rules: int = 5000) -> str:
    lines = [f'KERNEL=="sd{i}", ENV{{ID_SERIAL}}=="DISK{i:06d}", SYMLINK+="disk/by-test/{i}", GROUP="disk"'
             for i in range(rules)]
    return "\n".join(lines) + "\n"


def make_tree(root: Path, vendor: str) -> None:
    (root / "etc/udev/rules.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d/xen.yaml").write_text(POLICY)
    (root / RULES).write_text(vendor)


def tool(*args: str) -> list[str]:
    return [sys.executable, "-m", "checker", *args]


ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}


def assert_whole(root: Path, old: str, new: str) -> str:
    text = (root / RULES).read_text()
    assert text in (old, new), "the rules file is neither the old nor the new text"
    for entry in os.listdir(root / "etc/udev/rules.d"):
        assert not entry.endswith(".rules") or entry == "50-udev.rules", entry
    return "old" if text == old else "new"


# -- killed at every write-related system call ----------------------------------------------

SYSCALLS = ("write", "fsync", "fchmod", "fchown", "rename", "renameat", "renameat2", "unlink", "unlinkat")


def count_syscalls(root: Path) -> dict[str, int]:
    """How many times a full repair makes each system call of SYSCALLS (strace -c)."""
    shutil.copytree(root, root.parent / "count")
    out = subprocess.run(["strace", "-f", "-c", "-U", "name,calls", "-e", "trace=" + ",".join(SYSCALLS),
                          *tool("check", "--root", str(root.parent / "count"), "--repair")],
                         capture_output=True, text=True, env=ENV, timeout=120)
    counts = {}
    for line in out.stderr.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in SYSCALLS and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    shutil.rmtree(root.parent / "count")
    return counts


def test_a_repair_killed_at_any_write_leaves_the_file_wholly_old_or_wholly_new(tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        pytest.skip("needs strace (Debian package strace) to inject SIGKILL at a system call")
    vendor = large_vendor_file()
    template = tmp_path / "template"
    make_tree(template, vendor)
    counts = count_syscalls(template)
    assert counts.get("fsync", 0) >= 2 and counts.get("rename", 0) + counts.get("renameat", 0) >= 1, counts
    outcomes = {"old": 0, "new": 0}
    points = 0
    for syscall, total in counts.items():
        for when in range(1, total + 1):
            root = tmp_path / f"{syscall}-{when}"
            shutil.copytree(template, root)
            killed = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}",
                                     "-e", f"inject={syscall}:signal=KILL:when={when}",
                                     *tool("check", "--root", str(root), "--repair")],
                                    capture_output=True, text=True, env=ENV, timeout=120)
            points += 1
            outcomes[assert_whole(root, vendor, vendor + BLOCK)] += 1
            # The next run finishes the job and tidies what the killed one left.
            again = subprocess.run(tool("check", "--root", str(root), "--repair"), capture_output=True,
                                   text=True, env=ENV, timeout=120)
            assert again.returncode == 0, (syscall, when, killed.stderr, again.stdout, again.stderr)
            assert (root / RULES).read_text() == vendor + BLOCK
            assert sorted(os.listdir(root / "etc/udev/rules.d")) == ["50-udev.rules"]
            shutil.rmtree(root)
    print(f"kill points: {points}, {outcomes['old']} left old, {outcomes['new']} left new, 0 damaged")
    assert points >= 10 and outcomes["old"] and outcomes["new"]


def test_a_repair_killed_at_random_moments_never_leaves_a_damaged_file(tmp_path: Path) -> None:
    vendor = large_vendor_file(20000)
    make_tree(tmp_path / "timing", vendor)
    started = time.monotonic()
    subprocess.run(tool("check", "--root", str(tmp_path / "timing"), "--repair"), env=ENV,
                   capture_output=True, timeout=120, check=True)
    duration = time.monotonic() - started
    rng = random.Random(20261127)
    outcomes = {"old": 0, "new": 0}
    for attempt in range(25):
        root = tmp_path / f"r{attempt}"
        make_tree(root, vendor)
        process = subprocess.Popen(tool("check", "--root", str(root), "--repair"), env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Anywhere in the run: start-up, parsing, the write, the re-check.
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        process.kill()
        process.wait()
        outcomes[assert_whole(root, vendor, vendor + BLOCK)] += 1
        shutil.rmtree(root)
    print(f"random kills: 25, {outcomes['old']} left old, {outcomes['new']} left new, 0 damaged")
    assert outcomes["old"] and outcomes["new"], "the kills should land both before and after the rename"


# -- file systems that refuse the write -------------------------------------------------------

def fs_script(tmp_path: Path, mount: str, setup: str) -> str:
    return textwrap.dedent(f"""\
        mkdir -p {tmp_path}/fs
        mount -t tmpfs -o {mount} tmpfs {tmp_path}/fs
        root={tmp_path}/fs/host
        mkdir -p $root/etc/udev/rules.d $root/etc/udev-drift/policies.d
        cp {tmp_path}/policy.yaml $root/etc/udev-drift/policies.d/xen.yaml
        printf 'KERNEL=="null", MODE="0666"\\n' > $root/{RULES}
        {setup}
        set +e
        $UDEV_DRIFT check --root $root --repair --state-dir {tmp_path}/state > {tmp_path}/out 2> {tmp_path}/err
        echo "exit $?" >> {tmp_path}/out
        cat $root/{RULES} > {tmp_path}/after
        ls -A $root/etc/udev/rules.d > {tmp_path}/listing
    """)


def test_a_read_only_file_system_gives_exit_3_and_the_file_untouched(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    done = run_private(fs_script(tmp_path, "size=4m", f"mount -o remount,ro {tmp_path}/fs"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_text().endswith("exit 3\n")
    err = (tmp_path / "err").read_text()
    assert err.count("\n") == 1 and "Read-only file system" in err, err
    assert (tmp_path / "after").read_text() == 'KERNEL=="null", MODE="0666"\n'
    assert (tmp_path / "listing").read_text() == "50-udev.rules\n"


def test_a_full_file_system_gives_exit_3_and_the_file_untouched(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    fill = f"dd if=/dev/zero of={tmp_path}/fs/filler bs=4k 2>/dev/null || true"
    done = run_private(fs_script(tmp_path, "size=256k", fill))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_text().endswith("exit 3\n")
    err = (tmp_path / "err").read_text()
    assert err.count("\n") == 1 and "No space left on device" in err, err
    assert (tmp_path / "after").read_text() == 'KERNEL=="null", MODE="0666"\n'
    assert (tmp_path / "listing").read_text() == "50-udev.rules\n", "no temporary file is left behind"


# -- two runs at once -----------------------------------------------------------------------

def test_two_repairs_started_together_leave_one_correct_block(tmp_path: Path) -> None:
    vendor = large_vendor_file(5000)
    make_tree(tmp_path, vendor)
    runs = [subprocess.Popen(tool("check", "--root", str(tmp_path), "--repair", "--format", "json"),
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert (tmp_path / RULES).read_text() == vendor + BLOCK
    repaired = sorted('"repaired": true' in out for out, _ in results)
    assert repaired == [False, True], "one run repaired, the other found nothing to do"
