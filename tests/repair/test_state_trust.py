"""Run as root, state another user could have written is not trusted: a repair refuses it
in one line (exit 3) and changes nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, XEN_BLOCK_POLICY, HostTree, Result

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
STATE = "/var/lib/udev-drift"
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership is checked for runs as root")


@pytest.fixture
def host(tmp_path: Path) -> HostTree:
    root = tmp_path / "host"
    shutil.copytree(REPO / "examples/xenserver-host", root, symlinks=True)
    (root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml").unlink()
    (root / "etc/udev-drift/policies.d/xen.yaml").write_text(XEN_BLOCK_POLICY)
    shutil.rmtree(root / STATE.lstrip("/"), ignore_errors=True)
    (root / STATE.lstrip("/")).mkdir(parents=True, mode=0o700)
    return HostTree(root)


def plant(host: HostTree, how: str) -> None:
    state = host.path(STATE)
    if how == "directory-writable-by-others":
        state.chmod(0o777)
    elif how == "directory-writable-by-group":
        state.chmod(0o770)
    elif how == "directory-not-roots":
        os.chown(state, NOBODY, NOBODY)
    elif how == "fingerprints-not-roots":
        (state / "fingerprints.json").write_text("{}\n")
        os.chown(state / "fingerprints.json", NOBODY, NOBODY)
    elif how == "lock-writable-by-others":
        (state / "lock").write_text("")
        (state / "lock").chmod(0o666)
    elif how == "backup-directory-not-roots":
        (state / "backups/etc").mkdir(parents=True, mode=0o700)
        os.chown(state / "backups/etc", NOBODY, NOBODY)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["directory-writable-by-others", "directory-writable-by-group",
                                 "directory-not-roots", "fingerprints-not-roots",
                                 "lock-writable-by-others", "backup-directory-not-roots"])
def test_a_repair_refuses_state_another_user_could_write(host: HostTree, udev_drift: Run, how: str) -> None:
    plant(host, how)
    before = host.snapshot()
    result = udev_drift("check", "--root", host.root, "--repair")
    assert result.status == 3, result
    assert result.err.count("\n") == 1, result.err
    assert ("uid 65534" in result.err or "writable by group or others" in result.err), result.err
    assert "so it is not used" in result.err
    after = host.snapshot()
    # Only the policy cache (the policies' own business) and the lock may have been written.
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert {k for k in changed if not k.endswith(("policy-cache.json", "/lock"))} == set(), changed
    assert host.read(RULES) == before["etc/udev/rules.d/50-udev.rules"][1].decode()


def test_a_root_state_directory_is_used_as_before(host: HostTree, udev_drift: Run) -> None:
    result = udev_drift("check", "--root", host.root, "--repair")
    assert result.status == 0, result
    assert "BEGIN udev-drift xen" in host.read(RULES)


def test_a_plain_check_reads_no_untrusted_state_and_says_so(host: HostTree, udev_drift: Run) -> None:
    (host.path(STATE) / "fingerprints.json").write_text('{"/etc/udev/rules.d/50-udev.rules": {}}\n')
    os.chown(host.path(STATE) / "fingerprints.json", NOBODY, NOBODY)
    result = udev_drift("check", "--root", host.root)
    assert result.status == 1, result  # the drift, reported as ever
    assert "fingerprints.json: is owned by uid 65534" in result.err and "not used" in result.err, result.err


def test_counters_another_user_could_write_are_one_line(host: HostTree, udev_drift: Run, tmp_path: Path) -> None:
    (host.path(STATE) / "metrics.json").write_text("{}\n")
    os.chown(host.path(STATE) / "metrics.json", NOBODY, NOBODY)
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    result = udev_drift("check", "--root", host.root, "--repair", "--textfile-dir", textfile)
    assert result.status == 3, result
    assert result.err.count("\n") == 1 and "metrics.json: is owned by uid 65534" in result.err, result.err
    assert os.stat(host.path(STATE) / "metrics.json").st_uid == NOBODY, "left for a person to look at"
