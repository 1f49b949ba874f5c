"""Running a shell script as root in a private mount namespace, for tests that need real
mounts (a read-only or full file system, a private /dev and /run for the real udevd).

Nothing the script mounts is seen by the host, and leaving the namespace drops every
mount. Tests skip, with the reason, where this is impossible (not root, no unshare).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def require_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts in a private mount namespace")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")


def run_private(script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `script` under bash in a private mount namespace; UDEV_DRIFT runs the tool."""
    require_namespaces()
    env = {**os.environ, "UDEV_DRIFT": f"{sys.executable} -m checker", "PYTHONPATH": REPO,
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(["timeout", "--kill-after=5", str(timeout), "unshare", "--mount",
                           "--propagation", "private", "bash", "-euo", "pipefail", "-c", script],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout + 30)


# The real udev reads only the rules under test: a directory bound over /usr/lib/udev/rules.d,
# the other rules directories empty, and /run and /dev its own (udevadm test 252 makes links
# and writes the database, so never outside a namespace).
UDEVADM_TEST = r"""
set -eu
mount -t tmpfs udev-drift-test /run
mkdir -p /run/udev/rules.d
mount --bind "$EMPTY" /etc/udev/rules.d
mount --bind "$RULES" /usr/lib/udev/rules.d
for dir in /usr/local/lib/udev/rules.d /lib/udev/rules.d; do
    if [ -d "$dir" ] && ! [ "$dir" -ef /usr/lib/udev/rules.d ]; then
        mount --bind "$EMPTY" "$dir"
    fi
done
mount -t tmpfs udev-drift-test /dev
exec udevadm test --action=add "$DEVICE"
"""


def udevadm_test(rules: str, device: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`udevadm test --action=add DEVICE` with the real udev reading only the rules files in
    the directory `rules`, in a private mount namespace; what it logs is in stdout+stderr."""
    with tempfile.TemporaryDirectory(prefix="udev-drift-empty-") as empty:
        env = dict(os.environ, RULES=rules, EMPTY=empty, DEVICE=device, LC_ALL="C")
        return subprocess.run(["timeout", "--kill-after=10", str(timeout), "unshare", "--mount",
                               "--propagation", "private", "sh", "-c", UDEVADM_TEST],
                              capture_output=True, text=True, errors="replace", env=env, timeout=timeout + 30)
