"""`preview --hook`, as the yum and dnf plugins run it (apt's --apt-hook: test_apt_hook.py):
it warns and lets the update go on, refuses it only as /etc/udev-drift/preview.yaml says,
and the admin overrides a refusal with --force or UDEV_DRIFT_PREVIEW=allow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.preview.builders import Spec, build_rpm

VENDOR = "/usr/lib/udev/rules.d/99-vendor.rules"


@pytest.fixture
def lossy(tmp_path: Path) -> Path:
    return build_rpm(Spec("vendor-disks", "2.0-1", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/x"\n'}), tmp_path / "v.rpm")


def hook(udev_drift, xen, *args):
    return udev_drift("preview", "--hook", "--root", xen.root, "--skip-policy-permission-check", *args)


def test_without_a_configuration_it_warns_and_goes_on(udev_drift, xen, lossy) -> None:
    result = hook(udev_drift, xen, lossy)
    assert result.status == 0
    assert "LOST" in result.err and "WARNING: the update goes on" in result.err


def test_with_block_it_refuses(udev_drift, xen, lossy) -> None:
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    result = hook(udev_drift, xen, lossy)
    assert result.status == 1 and "refusing the update" in result.err


def test_force_goes_ahead(udev_drift, xen, lossy) -> None:
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    result = hook(udev_drift, xen, "--force", lossy)
    assert result.status == 0 and "(forced)" in result.err


@pytest.mark.parametrize("value,previewed", [("allow", True), ("skip", False)])
def test_the_environment_variable(udev_drift, xen, lossy, monkeypatch, value: str, previewed: bool) -> None:
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    monkeypatch.setenv("UDEV_DRIFT_PREVIEW", value)
    result = hook(udev_drift, xen, lossy)
    assert result.status == 0
    assert ("LOST" in result.err) is previewed


@pytest.mark.parametrize("text", ["preview: [1]\n", "preview:\n  block: maybe\n", "preview:\n  blok: true\n",
                                  "{{{\n"])
def test_a_bad_configuration_is_a_warning_and_the_update_goes_on(udev_drift, xen, lossy, text: str) -> None:
    xen.write("/etc/udev-drift/preview.yaml", text, dedent=False)
    result = hook(udev_drift, xen, lossy)
    assert result.status == 0
    assert "cannot read the preview settings" in result.err and "preview.yaml" in result.err


def test_force_without_hook_is_a_usage_error(udev_drift, xen, lossy) -> None:
    result = udev_drift("preview", "--force", "--root", xen.root, lossy)
    assert result.status == 2 and "--force goes with --hook" in result.err


def test_a_fifo_where_the_configuration_should_be_is_a_warning_never_a_wait(udev_drift, xen, lossy) -> None:
    os.mkfifo(xen.path("/etc/udev-drift/preview.yaml"))
    result = hook(udev_drift, xen, lossy)
    assert result.status == 0
    assert "cannot read the preview settings" in result.err and "a FIFO" in result.err
