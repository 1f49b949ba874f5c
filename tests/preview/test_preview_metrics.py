"""The last preview as metrics: DIR/udev_drift_preview.prom beside the check's file, every
series written (0 when all is well), the package label bounded, valid for promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from checker.preview.metrics import MAX_PACKAGES, OTHER, families
from tests.exporters.test_metrics import Metrics
from tests.preview.builders import Spec, build_deb
from tests.preview.conftest import needs_dpkg

PREVIEW_CONTRACT = {
    "udev_drift_preview_items_lost": ("gauge", {"package"}),
    "udev_drift_preview_safe": ("gauge", set()),
    "udev_drift_preview_success": ("gauge", set()),
    "udev_drift_preview_last_run_timestamp_seconds": ("gauge", set()),
}
VENDOR = "/usr/lib/udev/rules.d/99-vendor.rules"


def promtool_accepts(path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    done = subprocess.run([promtool, "check", "metrics"], input=path.read_bytes(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_dpkg
def test_a_preview_that_loses_writes_the_package_and_the_count(xen, udev_drift, tmp_path: Path) -> None:
    lossy = build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/x"\n'}), tmp_path / "v.deb")
    harmless = build_deb(Spec("tools", "1", {"/usr/share/doc/t": "x"}), tmp_path / "t.deb")
    directory = tmp_path / "textfile"
    directory.mkdir()
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", "--textfile-dir",
                        directory, lossy, harmless)
    assert result.status == 1
    path = directory / "udev_drift_preview.prom"
    metrics = Metrics(path.read_text())
    assert set(metrics.samples) == set(PREVIEW_CONTRACT)
    for name, (kind, labels) in PREVIEW_CONTRACT.items():
        assert metrics.types[name] == kind
        for series in metrics.series(name):
            assert set(series) == labels
    assert metrics.value("udev_drift_preview_items_lost", package="vendor-disks") == 2
    assert metrics.value("udev_drift_preview_items_lost", package="tools") == 0
    assert metrics.value("udev_drift_preview_safe") == 0 and metrics.value("udev_drift_preview_success") == 1
    assert not (directory / "udev_drift.prom").exists()  # the check's own file is left alone
    promtool_accepts(path)


def test_a_failed_preview_says_so(udev_drift, xen, tmp_path: Path) -> None:
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"junk")
    directory = tmp_path / "textfile"
    directory.mkdir()
    assert udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", "--textfile-dir",
                      directory, junk).status == 2
    metrics = Metrics((directory / "udev_drift_preview.prom").read_text())
    assert metrics.value("udev_drift_preview_success") == 0 and metrics.value("udev_drift_preview_safe") == 0
    promtool_accepts(directory / "udev_drift_preview.prom")


def test_the_package_label_is_bounded(tmp_path: Path) -> None:
    losses = {f"pkg{i:03}": (1 if i % 2 else 0) for i in range(100)}
    [lost, *_] = families(losses, now=0)
    names = [values[0] for values, _ in lost.samples]
    assert len(names) == MAX_PACKAGES + 1 and names[-1] == OTHER
    assert sum(value for _, value in lost.samples) == 50
    # those that take something away are named first
    assert all(value == 1 for _, value in lost.samples[:MAX_PACKAGES])


@needs_dpkg
def test_a_textfile_directory_that_is_not_there_is_a_warning_not_the_result(xen, udev_drift, tmp_path: Path) -> None:
    lossy = build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/x"\n'}), tmp_path / "v.deb")
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", "--textfile-dir",
                        tmp_path / "missing", lossy)
    assert result.status == 1 and "LOST" in result.out
    assert "warning" in result.err and "missing" in result.err
