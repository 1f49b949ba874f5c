"""--root is a boundary for every write: links in a hostile tree that point out of it are
followed as in a chroot (inside the tree), never to the host outside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from checker.safe_files import confined
from tests.conftest import REPO, XEN_BLOCK_POLICY, HostTree, Result

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
POLICY = XEN_BLOCK_POLICY + "symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory of the host outside the tree, that nothing may write into."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "keep").write_text("the host's own file\n")
    return place


@pytest.fixture
def hostile(tmp_path: Path) -> HostTree:
    root = tmp_path / "host"
    shutil.copytree(REPO / "examples/xenserver-host", root, symlinks=True)
    policy = root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
    policy.unlink()
    (root / "etc/udev-drift/policies.d/xen.yaml").write_text(POLICY)
    return HostTree(root)


def listing(place: Path) -> list[str]:
    return sorted(str(p.relative_to(place)) for p in place.rglob("*"))


def test_a_link_directory_pointing_out_of_the_tree_gets_the_link_inside_it(
        hostile: HostTree, outside: Path, udev_drift: Run) -> None:
    shutil.rmtree(hostile.path("/dev/xapi"), ignore_errors=True)
    hostile.link("/dev/xapi", str(outside))
    result = udev_drift("check", "--root", hostile.root, "--repair")
    # The relative target (../../sdb) leads elsewhere from the linked directory: still drift.
    assert result.status in (0, 1) and not result.err, result
    assert listing(outside) == ["keep"], "nothing is written outside the tree"
    # As a chroot would: the absolute target is taken inside the tree.
    made = hostile.path(str(outside)) / "block/sdb"
    assert os.readlink(made) == "../../sdb"


def test_a_state_directory_pointing_out_of_the_tree_keeps_the_state_inside_it(
        hostile: HostTree, outside: Path, udev_drift: Run) -> None:
    shutil.rmtree(hostile.path("/var/lib/udev-drift"), ignore_errors=True)
    hostile.link("/var/lib/udev-drift", str(outside))
    result = udev_drift("check", "--root", hostile.root, "--repair", "--format", "json")
    assert result.status == 0, result
    assert listing(outside) == ["keep"], "no lock, backup or fingerprint outside the tree"
    [write, _] = result.json()["actions"]
    backup = write["detail"].removeprefix("backup ")
    assert Path(backup).is_relative_to(hostile.root), backup
    assert (hostile.path(str(outside)) / "fingerprints.json").is_file()


def test_a_backup_directory_planted_as_a_link_is_refused(hostile: HostTree, outside: Path,
                                                          udev_drift: Run) -> None:
    hostile.path("/var/lib/udev-drift").mkdir(parents=True, exist_ok=True, mode=0o700)
    hostile.link("/var/lib/udev-drift/backups", str(outside))
    before = hostile.read(RULES)
    result = udev_drift("check", "--root", hostile.root, "--repair")
    assert result.status == 3, result
    assert result.err.count("\n") == 1 and "backups" in result.err, result.err
    assert listing(outside) == ["keep"]
    assert hostile.read(RULES) == before, "no repair without its backup"


def test_a_rules_directory_swapped_for_a_link_is_written_inside_the_tree(
        hostile: HostTree, outside: Path, udev_drift: Run) -> None:
    rules = hostile.path("/etc/udev/rules.d")
    shutil.move(rules, hostile.path(str(outside)))
    hostile.path(str(outside)).parent.mkdir(parents=True, exist_ok=True)
    rules.symlink_to(outside)  # absolute: outside the tree to the kernel, inside to a chroot
    shutil.copytree(hostile.path(str(outside)), outside, dirs_exist_ok=True)
    before = listing(outside), (outside / "50-udev.rules").read_bytes()
    result = udev_drift("check", "--root", hostile.root, "--repair")
    assert result.status == 0, result
    assert (listing(outside), (outside / "50-udev.rules").read_bytes()) == before
    assert "BEGIN udev-drift xen" in (hostile.path(str(outside)) / "50-udev.rules").read_text()


# -- the walk itself ------------------------------------------------------------------------

def test_the_walk_follows_links_as_a_chroot_and_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a/b").mkdir(parents=True)
    (root / "abs").symlink_to("/a")             # absolute: from the root
    (root / "a/up").symlink_to("../../../../..")  # climbs: stops at the root
    (root / "a/loop").symlink_to("loop")
    (root / "a/file").write_text("")
    for path, expected in [("/abs/b", root / "a/b"), ("/a/up/a/b", root / "a/b"),
                           ("/../../a/./b/..", root / "a"), ("/", root)]:
        fd = confined.open_directory(str(root), path)
        try:
            assert os.path.samestat(os.fstat(fd), os.stat(expected)), path
        finally:
            os.close(fd)
    for path, error in [("/a/loop", "ELOOP"), ("/a/file/x", "ENOTDIR"), ("/a/none", "ENOENT")]:
        with pytest.raises(OSError) as raised:
            confined.open_directory(str(root), path)
        assert os.strerror(getattr(__import__("errno"), error)) in str(raised.value), path
    with pytest.raises(OSError, match="symbolic link"):
        confined.open_directory(str(root), "/abs/b", follow=False)


def test_the_walk_makes_missing_directories_inside_the_root_only(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").symlink_to(outside)
    fd = confined.open_directory(str(root), "/out/new/deeper", make=0o755)
    os.close(fd)
    assert listing(outside) == ["keep"]
    assert (root / str(outside).lstrip("/") / "new/deeper").is_dir()


def test_a_backup_never_leaves_the_state_directory_whatever_the_path(tmp_path: Path) -> None:
    from checker.state import StateDir

    (tmp_path / "root").mkdir()
    state = StateDir(str(tmp_path / "root/var/lib/udev-drift"), str(tmp_path / "root"))
    kept = state.backup("/etc/udev/../../../../../../outside/x.rules", b"old\n")
    assert Path(kept).resolve().is_relative_to(tmp_path / "root/var/lib/udev-drift/backups"), kept
    assert not (tmp_path / "outside").exists() and not (tmp_path / "root/outside").exists()


@pytest.mark.parametrize("wrapper", [True, False], ids=["glibc-renameat2", "raw-system-call"])
def test_renameat2_exchanges_and_refuses_to_replace(tmp_path: Path, wrapper: bool) -> None:
    # Without glibc's wrapper (glibc < 2.28, as on XenServer 8) the system call is made by number.
    renameat2 = confined._renameat2_function(wrapper)
    if renameat2 is None:
        pytest.skip("no renameat2 on this machine")
    (tmp_path / "a").write_text("A")
    (tmp_path / "b").write_text("B")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert renameat2(fd, b"a", fd, b"b", confined.RENAME_EXCHANGE) == 0
        assert ((tmp_path / "a").read_text(), (tmp_path / "b").read_text()) == ("B", "A")
        assert renameat2(fd, b"a", fd, b"b", confined.RENAME_NOREPLACE) == -1
        assert ((tmp_path / "a").read_text(), (tmp_path / "b").read_text()) == ("B", "A")
        with pytest.raises(FileExistsError):
            confined.rename2(fd, "a", "b", confined.RENAME_NOREPLACE)
    finally:
        os.close(fd)
