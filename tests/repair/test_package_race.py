"""A package manager's rename racing a repair never loses the package's file.

A real second process (the "package manager") renames a new version over the rules file
at a random moment while apply_plan runs, 200 times. Whatever the moment, the package's
bytes must end up in the file: a repair either wrote before the package did, or saw the
replacement and left it (the report says "changed while repairing ...").
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from checker.engine import check, load_desired
from checker.host import Host
from checker.observe.files import RulesFiles
from checker.repair import Plan, apply_plan, plan_repair
from checker.safe_files import confined
from checker.safe_files.atomic import ABSENT, REPLACED, Identity, Replaced, write_in
from checker.state import StateDir
from tests.conftest import XEN_BLOCK_POLICY, Result

RULES = "etc/udev/rules.d/50-udev.rules"
OLD = 'KERNEL=="null", MODE="0666"\n'
PACKAGE = 'KERNEL=="null", MODE="0666"\nKERNEL=="zero", MODE="0666"\n'  # the update
TRIES = 200

# Waits for a delay (in µs) on stdin, then does what dpkg does: writes the new version
# under another name in the same directory and renames it over the file.
RENAMER = r"""
import os, sys, time
target, data = sys.argv[1], sys.argv[2].encode()
temp = target + ".dpkg-new"
for line in sys.stdin:
    deadline = time.perf_counter() + int(line) / 1e6
    with open(temp, "wb") as out:
        out.write(data)
    while time.perf_counter() < deadline:
        pass
    os.rename(temp, target)
    print("renamed", flush=True)
"""


def test_a_package_update_during_a_repair_is_never_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc/udev/rules.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d").mkdir(parents=True)
    policy = root / "etc/udev-drift/policies.d/xen.yaml"
    policy.write_text(XEN_BLOCK_POLICY)
    rules = root / RULES
    policies = load_desired([str(policy)])
    host, state = Host(str(root)), StateDir(str(root / "var/lib/udev-drift"), str(root))

    def planned() -> Plan:  # the file as the package left it before, drifted; the repair planned
        rules.write_text(OLD)
        host.forget()
        files = RulesFiles(host)
        return plan_repair(policies, check(policies, host, None, files), files, host)

    # How long a repair takes here, so that the renames are spread over all of it.
    started = time.perf_counter()
    for _ in range(5):
        apply_plan(planned(), host, state, None)
    span = (time.perf_counter() - started) / 5

    renamer = subprocess.Popen([sys.executable, "-c", RENAMER, str(rules), PACKAGE], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert renamer.stdin is not None and renamer.stdout is not None
    outcomes = {"replaced-seen": 0, "changed-before-write": 0, "written-then-updated": 0}
    lost = 0
    try:
        for _ in range(TRIES):
            plan = planned()
            renamer.stdin.write(f"{random.randint(0, int(span * 1.2e6))}\n")
            renamer.stdin.flush()
            [action] = apply_plan(plan, host, state, None)
            assert renamer.stdout.readline() == "renamed\n"
            if rules.read_text() != PACKAGE:
                lost += 1
            elif action.detail == REPLACED:
                outcomes["replaced-seen"] += 1
            elif action.action == "refuse":
                outcomes["changed-before-write"] += 1
            else:
                outcomes["written-then-updated"] += 1
            assert not [n for n in os.listdir(rules.parent) if n.endswith(".tmp")]
    finally:
        renamer.stdin.close()
        renamer.wait(10)
    print(f"{TRIES} tries over a {span * 1e3:.1f} ms repair: {outcomes}, package file lost {lost} times")
    assert lost == 0, f"the package's file was overwritten {lost} times in {TRIES}: {outcomes}"
    assert outcomes["replaced-seen"] >= 5, f"the race window was hardly hit: {outcomes}"


# -- the last instant: a rename landing between the final look and the rename itself ----------

def _rename_lands_first(monkeypatch: pytest.MonkeyPatch, directory: Path, name: str,
                        data: bytes) -> list[int]:
    """Make the package's rename land just before udev-drift's own rename (real renames)."""
    real = confined.rename2
    calls: list[int] = []

    def package_first(dir_fd: int, source: str, target: str, flags: int) -> None:
        if not calls:
            (directory / "pkg.dpkg-new").write_bytes(data)
            os.rename(directory / "pkg.dpkg-new", directory / name)
        calls.append(flags)
        real(dir_fd, source, target, flags)

    monkeypatch.setattr(confined, "rename2", package_first)
    return calls


def test_a_rename_after_the_last_look_is_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "50-udev.rules").write_text(OLD)
    read = Identity.of(os.stat(tmp_path / "50-udev.rules"))
    calls = _rename_lands_first(monkeypatch, tmp_path, "50-udev.rules", PACKAGE.encode())
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(Replaced, match="changed while repairing"):
            write_in(fd, "/etc/udev/rules.d/50-udev.rules", "50-udev.rules", b"REPAIRED\n", expect=read)
    finally:
        os.close(fd)
    # Exchanged in, seen to be the package's file, exchanged back.
    assert calls == [confined.RENAME_EXCHANGE, confined.RENAME_EXCHANGE]
    assert (tmp_path / "50-udev.rules").read_text() == PACKAGE
    assert sorted(os.listdir(tmp_path)) == ["50-udev.rules"]

    # A file that was not there and is made meanwhile is not replaced either.
    (tmp_path / "new.rules").unlink(missing_ok=True)
    monkeypatch.undo()
    calls = _rename_lands_first(monkeypatch, tmp_path, "new.rules", PACKAGE.encode())
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(Replaced):
            write_in(fd, "/etc/udev/rules.d/new.rules", "new.rules", b"REPAIRED\n", expect=ABSENT)
    finally:
        os.close(fd)
    assert calls == [confined.RENAME_NOREPLACE]
    assert (tmp_path / "new.rules").read_text() == PACKAGE
    assert sorted(os.listdir(tmp_path)) == ["50-udev.rules", "new.rules"]


def test_a_repair_that_met_a_package_update_says_so_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, udev_drift: Callable[..., Result]) -> None:
    root = tmp_path / "host"
    (root / "etc/udev/rules.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d/xen.yaml").write_text(XEN_BLOCK_POLICY)
    (root / RULES).write_text(OLD)
    _rename_lands_first(monkeypatch, root / "etc/udev/rules.d", "50-udev.rules", PACKAGE.encode())
    result = udev_drift("check", "--root", root, "--repair", "--format", "json")
    assert result.status == 1, result  # the package's file has not the block: drift, for the next run
    [action] = result.json()["actions"]
    assert (action["action"], action["path"], action["detail"]) == (
        "refuse", "/etc/udev/rules.d/50-udev.rules", REPLACED)
    assert (root / RULES).read_text() == PACKAGE
    monkeypatch.undo()
    assert udev_drift("check", "--root", root, "--repair").status == 0, "the next run repairs it"
    assert (root / RULES).read_text().startswith(PACKAGE)
