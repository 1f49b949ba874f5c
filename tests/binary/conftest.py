"""The single-file binary's tests: the `binary` marker, and the binary they test.

They are slow (a build takes a minute or more) and need root (chroot, mounts), so they run
only when asked for, in CI's own step after the main test command:

    UDEV_DRIFT_BINARY=dist/udev-drift python -m pytest -m binary tests/binary

Asked for means: UDEV_DRIFT_BINARY is set (that binary is tested), or `-m binary`, or a
path inside tests/binary on the command line (then scripts/build-binary builds
dist/udev-drift first). A plain `pytest` over tests/ skips them, and says why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD_TIMEOUT = 1200


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "binary: tests of the single-file binary (scripts/build-binary): slow, need root; "
                   "run with UDEV_DRIFT_BINARY=dist/udev-drift pytest -m binary tests/binary")


def asked_for(config: pytest.Config) -> bool:
    if os.environ.get("UDEV_DRIFT_BINARY"):
        return True
    markexpr = str(config.getoption("markexpr", "") or "")
    if "binary" in markexpr and "not binary" not in markexpr:
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


@pytest.fixture(scope="session")
def binary(request: pytest.FixtureRequest) -> Path:
    """The binary under test: $UDEV_DRIFT_BINARY, or dist/udev-drift built now."""
    if not asked_for(request.config):
        pytest.skip("slow (builds the single-file binary); runs in its own CI step: "
                    "UDEV_DRIFT_BINARY=dist/udev-drift pytest -m binary tests/binary")
    if os.geteuid() != 0:
        pytest.skip("needs root: runs the binary in a chroot in a private mount namespace")
    named = os.environ.get("UDEV_DRIFT_BINARY")
    if named:
        path = Path(named) if Path(named).is_absolute() else REPO / named
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"UDEV_DRIFT_BINARY={named}: no such executable file "
                        "(build it with scripts/build-binary)")
        return path
    done = subprocess.run(["bash", str(REPO / "scripts" / "build-binary")], cwd=REPO,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"scripts/build-binary failed (exit {done.returncode}):\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return REPO / "dist" / "udev-drift"
