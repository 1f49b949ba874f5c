"""install and uninstall under --root act inside the tree only, and trust no state another
user could have planted."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.install.conftest import make_target, snapshot

MANIFEST = "var/lib/udev-drift/install-manifest.json"
NOBODY = 65534


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Host files outside the tree: nothing may be written there or deleted."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "victim").write_text("a host file\n")
    return place


def manifest_listing(root: Path, files: dict[str, str]) -> Path:
    path = root / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps({"format": 1, "settings": {}, "files": files, "directories": [], "links": {}}))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def in_tree(root: Path, outside: Path) -> Path:
    """Where an absolute link to `outside` leads inside the tree, as a chroot sees it."""
    return root / str(outside).lstrip("/")


def test_a_hook_directory_linked_out_of_the_tree_gets_the_hook_inside_it(
        udev_drift, tmp_path: Path, outside: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["apt"])
    (root / "etc").mkdir(parents=True)
    (root / "etc/cron.d").symlink_to(outside)
    in_tree(root, outside).mkdir(parents=True)
    before = snapshot(outside)
    result = udev_drift("install", "--root", root, "--binary", fake_binary, "--no-textfile")
    assert snapshot(outside) == before, "nothing is written outside the tree"
    assert result.status == 0, result
    assert (in_tree(root, outside) / "udev-drift").is_file()
    # The same file on the host, as install would write it, is not uninstall's to remove.
    (outside / "udev-drift").write_bytes((in_tree(root, outside) / "udev-drift").read_bytes())
    assert udev_drift("uninstall", "--root", root).status == 0
    assert (outside / "udev-drift").exists()
    assert not (in_tree(root, outside) / "udev-drift").exists()


def test_a_state_directory_linked_out_of_the_tree_keeps_the_manifest_inside_it(
        udev_drift, tmp_path: Path, outside: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["apt"])
    (root / "var/lib").mkdir(parents=True)
    (root / "var/lib/udev-drift").symlink_to(outside)
    os.chmod(outside, 0o700)
    in_tree(root, outside).mkdir(parents=True, mode=0o700)
    before = snapshot(outside)
    result = udev_drift("install", "--root", root, "--binary", fake_binary, "--no-textfile")
    assert result.status == 0, result
    assert snapshot(outside) == before
    assert (in_tree(root, outside) / "install-manifest.json").is_file()


def test_a_directory_linked_to_nowhere_in_the_tree_stops_the_install(
        udev_drift, tmp_path: Path, outside: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["apt"])
    (root / "etc").mkdir(parents=True)
    (root / "etc/cron.d").symlink_to(outside)  # a directory on the host, not in the tree
    result = udev_drift("install", "--root", root, "--binary", fake_binary, "--no-textfile")
    assert result.status == 3, result
    assert result.err.count("\n") == 1 and "/etc/cron.d: is a link to" in result.err, result.err
    assert sorted(os.listdir(outside)) == ["victim"]


@pytest.mark.parametrize("listed", ["/../outside/victim", "/etc/../../outside/victim", "//etc/x",
                                    "etc/x", "/etc/./x", "/etc/x/"])
def test_a_manifest_path_that_is_not_normalised_is_refused_and_nothing_removed(
        udev_drift, tmp_path: Path, outside: Path, listed: str) -> None:
    root = make_target(tmp_path / "host", [])
    manifest_listing(root, {listed: sha(outside / "victim")})
    before = snapshot(tmp_path)
    result = udev_drift("uninstall", "--root", root)
    assert result.status == 3, result
    assert result.err.count("\n") == 1 and "install-manifest.json" in result.err, result.err
    assert snapshot(tmp_path) == before


def test_uninstall_through_a_directory_linked_out_of_the_tree_removes_nothing_outside(
        udev_drift, tmp_path: Path, outside: Path) -> None:
    root = make_target(tmp_path / "host", [])
    (root / "etc").mkdir()
    (root / "etc/cron.d").symlink_to(outside)
    manifest_listing(root, {"/etc/cron.d/victim": sha(outside / "victim")})
    result = udev_drift("uninstall", "--root", root)
    assert result.status == 0, result
    assert (outside / "victim").read_text() == "a host file\n"


# -- state another user could have planted ---------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="ownership is checked for runs as root")
@pytest.mark.parametrize("how", ["dir-world-writable", "dir-not-roots", "manifest-not-roots"])
def test_uninstall_trusts_no_manifest_another_user_could_plant(
        udev_drift, tmp_path: Path, outside: Path, how: str) -> None:
    root = make_target(tmp_path / "host", [])
    victim = root / "etc/important"
    victim.parent.mkdir(parents=True)
    victim.write_text("root's file\n")
    manifest = manifest_listing(root, {"/etc/important": sha(victim)})
    state = manifest.parent
    if how == "dir-world-writable":
        state.chmod(0o777)
    elif how == "dir-not-roots":
        os.chown(state, NOBODY, NOBODY)
    else:
        os.chown(manifest, NOBODY, NOBODY)
    result = udev_drift("uninstall", "--root", root)
    assert result.status == 3, result
    assert result.err.count("\n") == 1 and ("uid 65534" in result.err or "writable" in result.err), result.err
    assert victim.read_text() == "root's file\n"
    assert manifest.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership is checked for runs as root")
def test_install_makes_a_state_directory_another_user_could_write_roots_again(
        udev_drift, tmp_path: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["apt"])
    state = root / "var/lib/udev-drift"
    state.mkdir(parents=True)
    os.chown(state, NOBODY, NOBODY)
    state.chmod(0o777)
    dry = udev_drift("install", "--root", root, "--binary", fake_binary, "--no-textfile", "--dry-run")
    assert dry.status == 0, dry
    assert "dry run: would make /var/lib/udev-drift root's, mode 0700" in dry.out
    assert state.stat().st_uid == NOBODY
    result = udev_drift("install", "--root", root, "--binary", fake_binary, "--no-textfile")
    assert result.status == 0, result
    st = state.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o700)
    assert "/var/lib/udev-drift" in result.out and "owned by uid 65534" in result.out


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership is checked for runs as root")
def test_install_does_not_act_on_a_planted_manifest(udev_drift, tmp_path: Path, fake_binary: Path) -> None:
    root = make_target(tmp_path / "host", ["apt"])
    victim = root / "etc/important"
    victim.parent.mkdir(parents=True)
    victim.write_text("root's file\n")
    manifest = manifest_listing(root, {"/etc/important": sha(victim)})
    manifest.parent.chmod(0o777)
    os.chown(manifest, NOBODY, NOBODY)
    result = udev_drift("install", "--root", root, "--binary", fake_binary, "--no-textfile")
    assert result.status == 3, result
    assert result.err.count("\n") == 1 and "uid 65534" in result.err, result.err
    assert victim.read_text() == "root's file\n"
