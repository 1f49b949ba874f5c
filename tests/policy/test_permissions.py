"""As root, a policy someone else could have written is refused (sshd's StrictModes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import HostTree, Result

Run = Callable[..., Result]
POLICY = """\
version: 1
name: xen
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: lines
    content: |
      KERNEL=="sdb", SYMLINK+="xapi/block/%k"
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the check applies to runs as root")


def test_a_safe_policy_is_accepted(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(POLICY)
    assert udev_drift("check", "--root", tree.root).status == 1  # drift, but the policy was read


def test_a_group_writable_policy_is_refused_with_the_fix(tree: HostTree, udev_drift: Run) -> None:
    path = tree.policy(POLICY)
    os.chmod(path, 0o664)
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and result.out == ""
    assert result.err == (f"udev-drift: {path}: the policy file is writable by group (mode 0664): a policy is "
                          f"as powerful as root (fix: chmod go-w {path}; or --skip-policy-permission-check "
                          "for a test tree)\n")


def test_a_policy_owned_by_another_user_is_refused(tree: HostTree, udev_drift: Run) -> None:
    path = tree.policy(POLICY)
    os.chown(path, 1000, 1000)
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and "is owned by uid 1000, not root" in result.err


def test_a_world_writable_policy_directory_is_refused(tree: HostTree, udev_drift: Run) -> None:
    path = tree.policy(POLICY)
    os.chmod(path.parent, 0o777)
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and "its directory is writable by group and others (mode 0777)" in result.err


def test_a_link_to_a_policy_in_a_writable_directory_is_refused(tree: HostTree, udev_drift: Run, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    (shared / "xen.yaml").write_text(POLICY)
    tree.link("/etc/udev-drift/policies.d/xen.yaml", str(shared / "xen.yaml"))
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and f"{shared}, a directory on its way," in result.err


def test_the_option_lifts_the_check_for_test_trees(tree: HostTree, udev_drift: Run) -> None:
    path = tree.policy(POLICY)
    os.chmod(path, 0o666)
    assert udev_drift("check", "--root", tree.root, "--skip-policy-permission-check").status == 1


def test_validate_lints_without_the_check(tmp_path: Path, udev_drift: Run) -> None:
    # validate acts on nothing: a policy repository's CI may hold group-writable files.
    path = tmp_path / "p.yaml"
    path.write_text(POLICY)
    os.chmod(path, 0o666)
    assert udev_drift("validate", path).status == 0
