"""The dnf plugin that `udev-drift install` writes, loaded by the real dnf 4 (Debian's
`dnf` package) for a transaction into an --installroot: its pre_transaction hook previews
the local .rpm before rpm runs the transaction, warns, or with preview.block stops dnf
before anything is installed.

dnf finds the plugin through --setopt=pluginpath (install puts it in the dnf Python's own
dnf-plugins directory on a real host); the package is built by the real rpmbuild."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker.install.hooks import PLUGIN_CONF, dnf_preview_plugin
from checker.install.target import Settings
from tests.conftest import XEN_BLOCK, HostTree
from tests.preview.conftest import BLOCK_FILE
from tests.preview.test_rpm_real import rpmbuild

DNF = shutil.which("dnf") or "/usr/bin/dnf"
pytestmark = pytest.mark.skipif(not os.access(DNF, os.X_OK) or shutil.which("rpmbuild") is None,
                                reason="dnf and rpmbuild are not installed (apt-get install dnf rpm)")
BINARY = Path(sys.executable).parent / "udev-drift"
VENDOR = "/usr/lib/udev/rules.d/99-vendor.rules"


def dnf_install(tree: HostTree, tmp_path: Path, rpm: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    return dnf(tree, tmp_path, "install", str(rpm), **env)


def dnf(tree: HostTree, tmp_path: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    plugins, conf = tmp_path / "dnf-plugins", tmp_path / "dnf-pluginconf"
    plugins.mkdir(exist_ok=True)
    conf.mkdir(exist_ok=True)
    (plugins / "udev_drift_preview.py").write_text(dnf_preview_plugin(Settings(str(BINARY), None)))
    (conf / "udev_drift_preview.conf").write_text(PLUGIN_CONF.format(manager="dnf", plugin="a dnf plugin"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UDEV_DRIFT")}
    return subprocess.run(
        [DNF, "-y", f"--installroot={tree.root}", f"--setopt=pluginpath={plugins}",
         f"--setopt=pluginconfpath={conf}", f"--setopt=reposdir={tmp_path / 'no-repos'}", "--releasever=1",
         "--nogpgcheck", "--setopt=tsflags=noscripts", *command],
        env={**environment, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        stdin=subprocess.DEVNULL)


@pytest.fixture
def lossy(tmp_path: Path) -> Path:
    return rpmbuild(tmp_path, "vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}, {})


@pytest.fixture
def rpm_xen(xen: HostTree) -> HostTree:
    subprocess.run(["rpm", "--root", str(xen.root), "--initdb"], check=True, capture_output=True)
    return xen


def test_dnf_runs_the_preview_before_the_transaction_and_goes_on(rpm_xen, lossy, tmp_path: Path) -> None:
    done = dnf_install(rpm_xen, tmp_path, lossy)
    assert done.returncode == 0, done.stdout
    out = done.stdout
    assert "LOST: xen: /dev/xapi/block/sdb: a link no longer made" in out
    assert out.index("LOST:") < out.index("Running transaction\n")
    assert rpm_xen.path(VENDOR).is_file()


def test_a_blocking_preview_stops_dnf_before_anything_is_installed(rpm_xen, lossy, tmp_path: Path) -> None:
    rpm_xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    done = dnf_install(rpm_xen, tmp_path, lossy)
    assert done.returncode != 0
    assert "Error: udev-drift preview: the update would take away what a udev policy wants" in done.stdout
    assert "Running transaction\n" not in done.stdout  # dnf stopped before rpm ran
    assert not rpm_xen.path(VENDOR).exists()


def test_dnf_goes_ahead_with_the_environment_variable(rpm_xen, lossy, tmp_path: Path) -> None:
    rpm_xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    done = dnf_install(rpm_xen, tmp_path, lossy, UDEV_DRIFT_PREVIEW="allow")
    assert done.returncode == 0, done.stdout
    assert rpm_xen.path(VENDOR).is_file()


def test_dnf_previews_what_removing_a_package_takes_away(rpm_xen, tmp_path: Path) -> None:
    # The managed rules file belongs to an installed package: `dnf remove` takes it away,
    # and the preview says so before rpm runs (the repair after it puts the block back).
    rpm_xen.path(BLOCK_FILE).unlink()
    owner = rpmbuild(tmp_path, "xen-udev", "1.0", {BLOCK_FILE: XEN_BLOCK}, {})
    subprocess.run(["rpm", "--root", str(rpm_xen.root), "-i", "--nodeps", "--noscripts", str(owner)],
                   check=True, capture_output=True)
    done = dnf(rpm_xen, tmp_path, "remove", "xen-udev")
    assert done.returncode == 0, done.stdout
    out = done.stdout
    assert f"xen-udev (removed) (rpm -e): is removed, and with it {BLOCK_FILE}: rpm removes it" in out
    assert out.index("rpm removes it") < out.index("Running transaction\n")
    assert not rpm_xen.path(BLOCK_FILE).exists()


def test_an_upgrade_is_not_previewed_as_a_removal(rpm_xen, tmp_path: Path) -> None:
    # dnf lists an upgrade's old version in remove_set: the plugin leaves out every name
    # the transaction installs again, so nothing is previewed as removed.
    rpm_xen.path(BLOCK_FILE).unlink()
    v1 = rpmbuild(tmp_path, "xen-udev", "1.0", {BLOCK_FILE: XEN_BLOCK}, {})
    subprocess.run(["rpm", "--root", str(rpm_xen.root), "-i", "--nodeps", "--noscripts", str(v1)],
                   check=True, capture_output=True)
    done = dnf_install(rpm_xen, tmp_path, rpmbuild(tmp_path, "xen-udev", "2.0", {BLOCK_FILE: XEN_BLOCK}, {}))
    assert done.returncode == 0, done.stdout
    assert "udev-drift preview: 1 package(s): nothing a policy wants is lost" in done.stdout
    assert "(removed)" not in done.stdout
