"""`check --repair` and `--dry-run` on --root trees: what is written, kept, refused."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from checker.state import BACKUPS_KEPT, StateDir
from checker.udevadm import owed as udevadm_owed
from tests.conftest import REPO, XEN_BLOCK, XEN_BLOCK_POLICY, XEN_EVERY_EVENT_RULES, HostTree, Result

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
VENDOR = 'SUBSYSTEM=="block", GROUP="disk"\nKERNEL=="null|zero", MODE="0666"\n'
BLOCK = XEN_BLOCK
POLICY = XEN_BLOCK_POLICY + "symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"


@pytest.fixture
def example(tmp_path: Path) -> HostTree:
    """A copy of the bundled example host, with the shipped policy copied in."""
    root = tmp_path / "host"
    shutil.copytree(REPO / "examples/xenserver-host", root, symlinks=True)
    policy = root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
    policy.unlink()
    shutil.copy(REPO / "policies/xenserver-local-sata.yaml", policy)
    return HostTree(root)


def test_the_example_host_is_repaired_and_a_second_repair_changes_nothing(example: HostTree, udev_drift: Run) -> None:
    vendor = example.read(RULES)
    first = udev_drift("check", "--root", example.root, "--repair", "--format", "json")
    assert first.status == 0, first.out
    report = first.json()
    assert report["compliant"] is True and report["repaired"] is True
    [write, link] = report["actions"]
    assert (write["action"], write["path"]) == ("write", RULES)
    assert (link["action"], link["path"], link["detail"]) == ("link", "/dev/xapi/block/sdb", "../../sdb")
    # The vendor's lines are kept byte for byte, the block is appended after them.
    assert example.read(RULES).startswith(vendor)
    assert "# BEGIN udev-drift xenserver-local-sata\n" in example.read(RULES)
    assert os.readlink(example.path("/dev/xapi/block/sdb")) == "../../sdb"
    # The backup holds the file as it was, in the state directory, never in a rules directory.
    backup = write["detail"].removeprefix("backup ")
    assert Path(backup).read_text() == vendor
    assert Path(backup).is_relative_to(example.root / "var/lib/udev-drift/backups")
    before = example.snapshot()
    inode = example.path(RULES).stat().st_ino
    second = udev_drift("check", "--root", example.root, "--repair", "--format", "json")
    assert second.status == 0
    assert second.json()["repaired"] is False and second.json()["actions"] == []
    assert example.path(RULES).stat().st_ino == inode, "a no-op repair does not even rewrite the file"
    # Nothing changed but the run's own bookkeeping (lock, metrics, fingerprints): no new
    # backup, no file touched.
    def host_files(snapshot: dict) -> dict:
        return {k: v for k, v in snapshot.items()
                if not k.startswith("var/lib/udev-drift/") or k.startswith("var/lib/udev-drift/backups")}
    assert host_files(example.snapshot()) == host_files(before)


def test_nothing_but_the_managed_file_and_state_appears_in_the_rules_directory(example: HostTree, udev_drift: Run) -> None:
    udev_drift("check", "--root", example.root, "--repair")
    names = sorted(p.name for p in example.path("/etc/udev/rules.d").iterdir())
    assert names == ["50-udev.rules", "50-udev.rules.rpmsave"]


def test_a_dry_run_shows_the_change_and_changes_nothing(example: HostTree, udev_drift: Run) -> None:
    before = example.snapshot()
    result = udev_drift("check", "--root", example.root, "--repair", "--dry-run", "--color", "never")
    assert result.status == 1
    assert example.snapshot() == before
    assert "dry run: would write /etc/udev/rules.d/50-udev.rules (a backup is kept first)" in result.out
    assert "dry run: would link /dev/xapi/block/sdb -> ../../sdb" in result.out
    assert "+# BEGIN udev-drift xenserver-local-sata" in result.out
    assert result.out.rstrip().endswith("dry run: 2 items drifted · nothing was changed")


def test_dry_run_without_repair_is_a_usage_error(example: HostTree, udev_drift: Run) -> None:
    result = udev_drift("check", "--root", example.root, "--dry-run")
    assert result.status == 2 and "--dry-run goes with --repair" in result.err


def test_the_files_mode_owner_and_line_endings_are_kept(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    path = tree.write(RULES, VENDOR.replace("\n", "\r\n"))
    os.chmod(path, 0o600)
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = tree.read(RULES)
    assert text == (VENDOR + BLOCK).replace("\n", "\r\n")


def test_a_new_file_is_0644_whatever_the_umask(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    old = os.umask(0o077)
    try:
        assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(tree.path(RULES).stat().st_mode) == 0o644
    assert tree.read(RULES) == BLOCK


def test_a_masked_file_is_left_alone_with_the_reason(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    tree.link(RULES, "/dev/null")
    result = udev_drift("check", "--root", tree.root, "--repair", "--format", "json")
    assert result.status == 1
    refused = [a for a in result.json()["actions"] if a["action"] == "refuse"]
    assert refused and "link to /dev/null" in refused[0]["detail"]
    assert os.readlink(tree.path(RULES)) == "/dev/null"


def test_a_regular_file_where_the_link_should_be_is_not_replaced(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    tree.write(RULES, VENDOR + BLOCK)
    tree.write("/dev/xapi/block/sdb", "someone's notes\n")
    result = udev_drift("check", "--root", tree.root, "--repair")
    assert result.status == 1
    assert tree.read("/dev/xapi/block/sdb") == "someone's notes\n"
    assert "left /dev/xapi/block/sdb as it is" in result.out


def test_a_wrong_link_is_replaced(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    tree.write("/dev/sdc", "")
    tree.write(RULES, VENDOR + BLOCK)
    tree.link("/dev/xapi/block/sdb", "../../sdc")
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    assert os.readlink(tree.path("/dev/xapi/block/sdb")) == "../../sdb"


def test_a_second_run_waits_for_the_lock_then_gives_up_with_exit_3(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write(RULES, VENDOR)
    state = StateDir(str(tree.path("/var/lib/udev-drift")))
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with state.lock():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(5)
        started = time.monotonic()
        result = udev_drift("check", "--root", tree.root, "--repair", "--lock-timeout", "0.3")
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert result.status == 3
    assert f"another udev-drift run (pid {os.getpid()}) has held" in result.err
    assert waited >= 0.3
    assert tree.read(RULES) == VENDOR


def test_the_fingerprint_tells_a_replaced_file_from_one_edited_in_place(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    tree.write(RULES, VENDOR)
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    # An update writes a new file and renames it over the old one.
    replacement = tree.write("/etc/udev/rules.d/.new", VENDOR)
    os.rename(replacement, tree.path(RULES))
    assert "the file was replaced on" in udev_drift("check", "--root", tree.root).out
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    with open(tree.path(RULES), "a") as handle:  # an editor appending in place
        handle.write('KERNEL=="sdb", GROUP="nas"\n')
    os.truncate(tree.path(RULES), len(VENDOR))
    assert "the file was edited in place on" in udev_drift("check", "--root", tree.root).out


@pytest.mark.parametrize("ensure, before, content, after", [
    ("lines", VENDOR, 'KERNEL=="sdb", SYMLINK+="nas/disk0"\n', VENDOR + 'KERNEL=="sdb", SYMLINK+="nas/disk0"\n'),
    ("absent", VENDOR, 'KERNEL=="null|zero", MODE="0666"\n', 'SUBSYSTEM=="block", GROUP="disk"\n'),
    ("file", VENDOR, 'KERNEL=="sdb", SYMLINK+="nas/disk0"\n', 'KERNEL=="sdb", SYMLINK+="nas/disk0"\n'),
    ("block", VENDOR + BLOCK + BLOCK, XEN_EVERY_EVENT_RULES.format(disk="sdb"), VENDOR + BLOCK),
])
def test_every_mode_is_repaired_and_stays_repaired(tree: HostTree, udev_drift: Run, ensure: str, before: str,
                                                   content: str, after: str) -> None:
    body = "".join(f"      {line}\n" for line in content.splitlines())
    policy = f"version: 1\nname: xen\nrules:\n  - file: {RULES}\n    ensure: {ensure}\n    content: |\n{body}"
    tree.policy(policy)
    tree.write(RULES, before)
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    assert tree.read(RULES) == after
    inode = tree.path(RULES).stat().st_ino
    second = udev_drift("check", "--root", tree.root, "--repair", "--format", "json")
    assert second.status == 0 and second.json()["actions"] == []
    assert tree.path(RULES).stat().st_ino == inode


@pytest.mark.parametrize("ensure", ["block", "lines"])
def test_a_vendor_line_that_continues_at_the_end_does_not_swallow_the_added_rules(tree: HostTree, udev_drift: Run, ensure: str) -> None:
    # udev joins the next physical line onto a line ending in a backslash: appending right
    # after it would merge our first rule into the vendor's. An empty line ends it first.
    policy = POLICY.replace("ensure: block", f"ensure: {ensure}")
    tree.policy(policy)
    tree.write("/dev/sdb", "")
    tree.write(RULES, VENDOR + 'KERNEL=="sdz", \\\n')
    result = udev_drift("check", "--root", tree.root, "--repair")
    assert result.status == 0, result.out
    assert tree.read(RULES).startswith(VENDOR + 'KERNEL=="sdz", \\\n\n')


def test_a_link_planted_at_the_managed_path_is_never_followed_to_write(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    secret = tree.write("/etc/shadow", "root:$6$secret:19000:0:99999:7:::\n")
    tree.link(RULES, "/etc/shadow")
    result = udev_drift("check", "--root", tree.root, "--repair", "--format", "json")
    assert result.status == 1
    [refused] = [a for a in result.json()["actions"] if a["action"] == "refuse"]
    assert refused["path"] == RULES and "is a symbolic link to /etc/shadow; not followed" in refused["detail"]
    assert secret.read_text() == "root:$6$secret:19000:0:99999:7:::\n"
    assert os.readlink(tree.path(RULES)) == "/etc/shadow"


def test_line_endings_udev_reads_as_one_keep_line_numbers_aligned(tree: HostTree, udev_drift: Run) -> None:
    # udev (and so the parser) reads "\n\r" as one line ending: the edit must count alike,
    # or the block would be put in the wrong place.
    tree.policy(POLICY)
    tree.write("/dev/sdb", "")
    vendor = VENDOR.replace("\n", "\n\r")
    tree.write(RULES, vendor + BLOCK.replace('KERNEL=="sdb", SYMLINK', 'KERNEL=="sdc", SYMLINK').replace("\n", "\n\r"))
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    assert tree.read(RULES) == (vendor + BLOCK.replace("\n", "\n\r"))


def test_after_the_clock_went_back_the_backup_just_made_is_kept(tmp_path: Path) -> None:
    # Ten backups written on a clock that was an hour ahead, then the clock is set right:
    # the new backup's name sorts first, but it is the newest and must survive the pruning.
    state = StateDir(str(tmp_path / "state"))
    ahead = time.time() + 3600
    for n in range(BACKUPS_KEPT):
        state.backup("/etc/udev/rules.d/50-udev.rules", f"old {n}\n".encode(), now=ahead + n)
    newest = state.backup("/etc/udev/rules.d/50-udev.rules", b"the file before this repair\n", now=time.time())
    assert Path(newest).read_bytes() == b"the file before this repair\n"
    kept = state.backups_of("/etc/udev/rules.d/50-udev.rules")
    assert len(kept) == BACKUPS_KEPT and newest in kept
    # The one that went is the oldest written, not the one whose name sorts first.
    assert b"old 0\n" not in {Path(path).read_bytes() for path in kept}


def test_backups_are_pruned_by_age_whatever_their_names_say(tmp_path: Path) -> None:
    state = StateDir(str(tmp_path / "state"))
    made = [state.backup("/etc/udev/rules.d/x.rules", f"{n}\n".encode(), now=1_000_000 - n * 60)
            for n in range(BACKUPS_KEPT)]  # each written later, each named earlier
    for age, path in enumerate(made):
        os.utime(path, (1_700_000_000 + age, 1_700_000_000 + age))
    newest = state.backup("/etc/udev/rules.d/x.rules", b"new\n", now=1_000_000 - 30)
    kept = state.backups_of("/etc/udev/rules.d/x.rules")
    assert kept == [*made[1:], newest]  # oldest first, by when they were written


@pytest.mark.parametrize("commands", [
    [["control", "--exit"]],  # would stop udevd
    [["trigger", "--action=add", "/sys/devices/../../etc"]],
    [["info", "--cleanup-db"]],
    "control --reload",
])
def test_owed_udevadm_calls_are_only_the_ones_a_repair_makes(tmp_path: Path, commands: object,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    state = StateDir(str(tmp_path))
    (tmp_path / udevadm_owed.FILE).write_text(json.dumps({"commands": commands}))
    assert udevadm_owed.owed(state) == []
    assert "set aside" in caplog.text


def test_owed_calls_merge_into_one_reload_each_trigger_once_and_one_settle() -> None:
    reload, settle = ["control", "--reload"], ["settle", "--timeout=30"]
    sdb, sdc = ["trigger", "--action=add", "--sysname-match=sdb"], ["trigger", "--action=add", "--sysname-match=sdc"]
    assert udevadm_owed.merge([reload, sdb, settle], [sdc, settle]) == [reload, sdb, sdc, settle]
    assert udevadm_owed.merge([], [sdb, settle]) == [sdb, settle]
