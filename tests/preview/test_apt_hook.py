"""The apt hook, run by the real apt-get on a throwaway root: apt reads the hook that
`udev-drift install` writes (DPkg::Pre-Install-Pkgs, protocol version 3), gives it the
.deb files before dpkg unpacks them, and the preview warns -- or, with preview.block,
stops apt before dpkg has touched the tree.

The root: apt's configuration, state and cache under DIR (APT_CONFIG sets Dir, so apt reads
DIR/etc/apt/apt.conf.d, where the hook is), dpkg told --root=DIR. Only the preview hook
is put there: the post-update hook would repair the machine running the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checker.install.hooks import APT_PREVIEW_HOOK, apt_preview_hook
from checker.install.target import Settings
from tests.conftest import HostTree
from tests.preview.builders import Link, Spec, build_deb
from tests.preview.conftest import BLOCK_FILE, needs_dpkg

pytestmark = [needs_dpkg, pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get is not installed")]

BINARY = Path(sys.executable).parent / "udev-drift"
VENDOR = "/usr/lib/udev/rules.d/99-vendor.rules"


def apt_root(tree: HostTree) -> dict[str, str]:
    """apt's directories in the tree, the hook, and the environment apt-get runs with."""
    for directory in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
                      "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt"):
        (tree.root / directory).mkdir(parents=True, exist_ok=True)
    (tree.root / "etc/apt/sources.list").write_text("")
    settings = Settings(str(BINARY), None)
    tree.write(APT_PREVIEW_HOOK, apt_preview_hook(settings), dedent=False)
    config = tree.root.parent / "apt.conf"
    config.write_text(
        f'Dir "{tree.root}/";\n'
        f'Dir::State::status "{tree.root}/var/lib/dpkg/status";\n'
        f'DPkg::Options {{ "--root={tree.root}"; "--log=/dev/null"; "--force-script-chrootless"; }};\n'
        'Debug::NoLocking "true";\n'
        'APT::Sandbox::User "root";\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("UDEV_DRIFT")}
    env.update(APT_CONFIG=str(config), DEBIAN_FRONTEND="noninteractive", PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    return env


def apt_get(tree: HostTree, env: dict[str, str], deb: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    # one stream, so that the order of apt's, the hook's and dpkg's lines is kept
    return subprocess.run(["apt-get", "install", "-y", str(deb)], env={**env, **extra},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def losing_deb(tmp_path: Path) -> Path:
    return build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}),
                     tmp_path / "vendor-disks_2.0_all.deb")


def test_apt_reads_the_hook_as_version_3(xen) -> None:
    env = apt_root(xen)
    done = subprocess.run(["apt-config", "dump"], env=env, capture_output=True, text=True, timeout=60)
    assert f'DPkg::Tools::Options::{BINARY}::Version "3";' in done.stdout
    assert f"{BINARY} preview --apt-hook" in done.stdout


def test_apt_runs_the_preview_before_dpkg_and_the_update_goes_on_with_a_warning(xen, losing_deb) -> None:
    env = apt_root(xen)
    done = apt_get(xen, env, losing_deb)
    assert done.returncode == 0, done.stdout
    output = done.stdout
    assert "LOST: xen: /dev/xapi/block/sdb: a link no longer made" in output
    assert "WARNING: the update goes on, and takes away what a policy wants" in output
    # the warning came before dpkg unpacked the package
    assert output.index("LOST:") < output.index("Unpacking vendor-disks")
    assert xen.path(VENDOR).is_file()


def test_a_blocking_preview_stops_apt_before_dpkg_touches_anything(xen, losing_deb) -> None:
    env = apt_root(xen)
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    before = xen.snapshot()
    done = apt_get(xen, env, losing_deb)
    assert done.returncode != 0
    output = done.stdout
    assert "refusing the update" in output and "UDEV_DRIFT_PREVIEW=allow" in output
    assert "Unpacking" not in output
    after = xen.snapshot()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # apt's own bookkeeping only (its cache and logs); dpkg's database and the files are untouched
    assert all(k.startswith(("var/cache/apt", "var/lib/apt", "var/log/apt")) for k in changed), changed
    assert not xen.path(VENDOR).exists()
    assert xen.read(BLOCK_FILE) == before["etc/udev/rules.d/50-udev.rules"][1].decode()


def test_the_admin_goes_ahead_with_the_environment_variable(xen, losing_deb) -> None:
    env = apt_root(xen)
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    done = apt_get(xen, env, losing_deb, UDEV_DRIFT_PREVIEW="allow")
    assert done.returncode == 0, done.stdout
    assert "(forced)" in done.stdout
    assert xen.path(VENDOR).is_file()


def test_a_harmless_update_goes_on_quietly(xen, tmp_path: Path) -> None:
    env = apt_root(xen)
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    deb = build_deb(Spec("tools", "1", {"/usr/share/doc/tools/README": "x\n"}), tmp_path / "tools_1_all.deb")
    done = apt_get(xen, env, deb)
    assert done.returncode == 0, done.stdout
    assert "WARNING" not in done.stdout


def test_a_removed_udev_drift_does_not_stop_apt(xen, losing_deb, tmp_path: Path) -> None:
    env = apt_root(xen)
    gone = Settings(str(tmp_path / "gone" / "udev-drift"), None)
    xen.write(APT_PREVIEW_HOOK, apt_preview_hook(gone), dedent=False)
    done = apt_get(xen, env, losing_deb)
    assert done.returncode == 0, done.stdout
    assert xen.path(VENDOR).is_file()


def test_apt_get_remove_is_previewed_too(xen, tmp_path: Path) -> None:
    env = apt_root(xen)
    xen.write(VENDOR, 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n')
    mask = build_deb(Spec("site-mask", "1", {"/etc/udev/rules.d/99-vendor.rules": Link("/dev/null")}),
                     tmp_path / "site-mask_1_all.deb")
    assert apt_get(xen, env, mask).returncode == 0
    xen.write("/etc/udev-drift/preview.yaml", "preview:\n  block: true\n")
    done = subprocess.run(["apt-get", "remove", "-y", "site-mask"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode != 0 and "refusing the update" in done.stdout, done.stdout
    assert "site-mask (removed)" in done.stdout
    assert xen.path("/etc/udev/rules.d/99-vendor.rules").is_symlink()  # still masked


def test_a_deb_in_a_directory_with_a_space_is_previewed(xen, tmp_path: Path) -> None:
    # apt writes the path whole; its last word alone ("debs/vendor-disks_2.0_all.deb") is a
    # file relative to apt's working directory: the preview failed, or read another file
    folder = tmp_path / "my debs"
    folder.mkdir()
    deb = build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}),
                    folder / "vendor-disks_2.0_all.deb")
    env = apt_root(xen)
    done = apt_get(xen, env, deb)
    assert done.returncode == 0, done.stdout
    assert "LOST: xen: /dev/xapi/block/sdb: a link no longer made" in done.stdout, done.stdout
