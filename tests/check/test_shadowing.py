"""A same-named file in a directory udev reads first shadows a managed file, unless it is a
link to that very file: then udev reads the managed file's bytes under the other name."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import HostTree

RULE = 'KERNEL=="lo", ENV{UDEV_DRIFT_PROBE}="read"'
POLICY = f"""\
version: 1
name: vendor-file
rules:
  - file: /usr/lib/udev/rules.d/50-managed.rules
    ensure: file
    content: |
      {RULE}
"""


def test_a_link_in_etc_to_the_managed_file_is_no_shadow(tree: HostTree, udev_drift) -> None:
    tree.write("/usr/lib/udev/rules.d/50-managed.rules", RULE + "\n")
    tree.link("/etc/udev/rules.d/50-managed.rules", "/usr/lib/udev/rules.d/50-managed.rules")
    policy = tree.policy(POLICY)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", policy)
    assert result.status == 0, result.out
    assert "shadowed" not in result.out


def test_a_link_in_etc_to_another_file_still_shadows(tree: HostTree, udev_drift) -> None:
    tree.write("/usr/lib/udev/rules.d/50-managed.rules", RULE + "\n")
    tree.write("/etc/udev/other.rules", RULE + "\n")
    tree.link("/etc/udev/rules.d/50-managed.rules", "/etc/udev/other.rules")
    policy = tree.policy(POLICY)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", policy)
    assert result.status == 1
    assert "udev reads /etc/udev/rules.d/50-managed.rules instead" in result.out


NAMESPACE = r"""
set -eu
mount -t tmpfs t /run
mkdir -p /run/udev/rules.d
mount --bind "$ETC" /etc/udev/rules.d
mount --bind "$USR" /usr/lib/udev/rules.d
mount -t tmpfs t /dev
exec udevadm test --action=add /sys/class/net/lo
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or not Path("/sys/class/net/lo").exists(),
                    reason="needs root, unshare and /sys/class/net/lo for the real udevd")
def test_udev_reads_the_managed_file_once_through_the_link() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        etc, usr = Path(tmp, "etc"), Path(tmp, "usr")
        etc.mkdir()
        usr.mkdir()
        (usr / "50-managed.rules").write_text(RULE + "\n")
        (etc / "50-managed.rules").symlink_to("/usr/lib/udev/rules.d/50-managed.rules")
        done = subprocess.run(["timeout", "60", "unshare", "--mount", "--propagation", "private", "sh", "-c",
                               NAMESPACE], capture_output=True, text=True,
                              env={**os.environ, "ETC": str(etc), "USR": str(usr), "LC_ALL": "C"}, timeout=90)
    output = done.stdout + done.stderr
    read = [line.split(": ", 1)[1] for line in output.splitlines() if "Reading rules file: " in line]
    assert read == ["/etc/udev/rules.d/50-managed.rules"]  # the name in /etc, the bytes of /usr/lib
    assert "UDEV_DRIFT_PROBE=read" in output
