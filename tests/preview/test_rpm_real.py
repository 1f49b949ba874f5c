"""Packages built by the real rpmbuild, read by the preview, then installed by the real rpm
(`rpm --root`) into the tree: the reader agrees with rpmbuild on every file, and the
preview's %config / %config(noreplace) decisions -- taken from the rpm database -- are
what rpm then does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from checker.preview.read import read_package
from tests.conftest import XEN_BLOCK, HostTree
from tests.preview.conftest import BLOCK_FILE, agrees

pytestmark = pytest.mark.skipif(shutil.which("rpmbuild") is None or shutil.which("rpm") is None,
                                reason="rpm and rpmbuild are not installed (apt-get install rpm)")

VENDOR = "/usr/lib/udev/rules.d/99-vendor.rules"


def rpmbuild(tmp_path: Path, name: str, version: str, files: dict[str, str], config: dict[str, str],
             payload: str = "w19.zstdio") -> Path:
    """files: host path -> text, or "->TARGET" for a link; config: path -> "%config" or
    "%config(noreplace)"."""
    top = tmp_path / f"rpmbuild-{name}-{version}"
    (top / "SPECS").mkdir(parents=True)
    install, listed = [], []
    for path, text in files.items():
        install.append(f"mkdir -p %{{buildroot}}{Path(path).parent}")
        if text.startswith("->"):
            install.append(f"ln -s {text[2:]} %{{buildroot}}{path}")
        else:
            install.append(f"cat > %{{buildroot}}{path} <<'UDEV_DRIFT_EOF'\n{text.replace('%', '%%')}UDEV_DRIFT_EOF")
        listed.append(f"{config.get(path, '')} {path}".strip())
    spec = top / "SPECS" / f"{name}.spec"
    spec.write_text(f"Name: {name}\nVersion: {version}\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n"
                    "%description\nt\n%install\n" + "\n".join(install) + "\n%files\n" + "\n".join(listed) + "\n")
    subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "--define", f"_binary_payload {payload}",
                    "--define", "__os_install_post %{nil}", "-bb", str(spec)], check=True, capture_output=True)
    return next((top / "RPMS" / "noarch").glob("*.rpm"))


def rpm_install(tree: HostTree, rpm: Path, upgrade: bool = False) -> None:
    subprocess.run(["rpm", "--root", str(tree.root), "-U" if upgrade else "-i", "--nodeps", "--noscripts",
                    "--replacefiles", str(rpm)], check=True, capture_output=True)


@pytest.mark.parametrize("payload", ["w19.zstdio", "w6.xzdio", "w9.gzdio"])
def test_the_reader_sees_what_rpmbuild_packed(tmp_path: Path, payload: str) -> None:
    rpm = rpmbuild(tmp_path, "vendor-disks", "2.0",
                   {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n', "/etc/udev/rules.d/70-site.rules": "# site\n",
                    "/etc/udev/rules.d/60-mask.rules": "->/dev/null", "/usr/share/doc/vendor/README": "x\n"},
                   {"/etc/udev/rules.d/70-site.rules": "%config(noreplace)"}, payload)
    package = read_package(str(rpm))
    assert (package.name, package.version, package.format) == ("vendor-disks", "2.0-1", "rpm")
    found = {f.path: (f.kind, f.data, f.link, f.config) for f in package.files}
    assert found == {
        VENDOR: ("file", b'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n', "", None),
        "/etc/udev/rules.d/70-site.rules": ("file", b"# site\n", "", "noreplace"),
        "/etc/udev/rules.d/60-mask.rules": ("link", b"", "/dev/null", None),
    }


@pytest.fixture
def rpm_xen(xen: HostTree) -> HostTree:
    subprocess.run(["rpm", "--root", str(xen.root), "--initdb"], check=True, capture_output=True)
    xen.path(BLOCK_FILE).unlink()
    return xen


def _installed_v1(tree: HostTree, tmp_path: Path, kind: str, changed_here: bool) -> Path:
    v1 = rpmbuild(tmp_path, "xen-udev", "1.0", {BLOCK_FILE: "# vendor 1.0\n"}, {BLOCK_FILE: kind})
    rpm_install(tree, v1)
    if changed_here:
        tree.write(BLOCK_FILE, "# vendor 1.0\n" + XEN_BLOCK, dedent=False)
    return rpmbuild(tmp_path, "xen-udev", "2.0", {BLOCK_FILE: "# vendor 2.0\n"}, {BLOCK_FILE: kind})


def test_noreplace_changed_here_is_kept_and_the_new_one_is_rpmnew(rpm_xen, preview, udev_drift, tmp_path: Path) -> None:
    v2 = _installed_v1(rpm_xen, tmp_path, "%config(noreplace)", changed_here=True)
    result = preview(rpm_xen, v2)
    document = result.json()
    assert result.status == 0 and document["changes"] == []
    assert any("was changed here (the rpm database says): rpm keeps it and writes the new one as "
               f"{BLOCK_FILE}.rpmnew" in n for n in document["notes"])
    rpm_install(rpm_xen, v2, upgrade=True)
    assert rpm_xen.path(BLOCK_FILE + ".rpmnew").read_text() == "# vendor 2.0\n"
    agrees(udev_drift, rpm_xen, document)


def test_config_changed_here_is_replaced_and_saved_as_rpmsave(rpm_xen, preview, udev_drift, tmp_path: Path) -> None:
    v2 = _installed_v1(rpm_xen, tmp_path, "%config", changed_here=True)
    result = preview(rpm_xen, v2)
    document = result.json()
    assert result.status == 0
    assert {c["outcome"] for c in document["changes"]} == {"restored"}
    assert any(f"saves the current file as {BLOCK_FILE}.rpmsave" in n for n in document["notes"])
    rpm_install(rpm_xen, v2, upgrade=True)
    assert rpm_xen.path(BLOCK_FILE + ".rpmsave").is_file()
    agrees(udev_drift, rpm_xen, document)


def test_noreplace_as_installed_is_replaced(rpm_xen, preview, udev_drift, tmp_path: Path) -> None:
    v2 = _installed_v1(rpm_xen, tmp_path, "%config(noreplace)", changed_here=False)
    document = preview(rpm_xen, v2).json()
    assert any("is as the installed package shipped it: replaced" in n for n in document["notes"])
    rpm_install(rpm_xen, v2, upgrade=True)
    assert rpm_xen.read(BLOCK_FILE) == "# vendor 2.0\n"
    agrees(udev_drift, rpm_xen, document)


def test_a_vendor_rule_in_an_rpm_is_predicted_and_confirmed(rpm_xen, preview, udev_drift, tmp_path: Path) -> None:
    rpm_xen.write(BLOCK_FILE, XEN_BLOCK, dedent=False)
    rpm = rpmbuild(tmp_path, "vendor-disks", "2.0", {VENDOR: '# v\nKERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}, {})
    result = preview(rpm_xen, rpm)
    assert result.status == 1
    link = next(c for c in result.json()["changes"] if c["kind"] == "symlink")
    assert link["source"]["member"] == VENDOR and link["source"]["line"] == 2
    rpm_install(rpm_xen, rpm)
    agrees(udev_drift, rpm_xen, result.json())


def test_the_preview_writes_nothing_into_the_rpm_database(rpm_xen, preview, tmp_path: Path) -> None:
    v2 = _installed_v1(rpm_xen, tmp_path, "%config(noreplace)", changed_here=True)
    # `rpm -q` (any reader of an SQLite database in WAL mode) rewrites the shared-memory
    # index beside it, rpmdb.sqlite-shm; the database and every other file stay as they were.
    def files() -> dict:
        return {k: v for k, v in rpm_xen.snapshot().items() if not k.endswith("-shm")}
    before = files()
    preview(rpm_xen, v2)
    assert files() == before


def rpm_run(tree: HostTree, *args: str) -> None:
    subprocess.run(["rpm", "--root", str(tree.root), "--nodeps", "--noscripts", *args], check=True,
                   capture_output=True)


def test_an_rpm_erase_is_predicted_and_confirmed(rpm_xen, preview, udev_drift, tmp_path: Path) -> None:
    # The managed rules file belongs to a package; `rpm -e` takes it away, and the repair
    # after the transaction puts the policy's block back.
    rpm_install(rpm_xen, rpmbuild(tmp_path, "xen-udev", "1.0", {BLOCK_FILE: XEN_BLOCK}, {}))
    result = preview(rpm_xen, options=["--remove", "xen-udev"])
    document = result.json()
    assert result.status == 0, result.err
    assert ("rule", "restored") in {(c["kind"], c["outcome"]) for c in document["changes"]}
    assert {c["outcome"] for c in document["changes"]} == {"restored"}
    assert any(f"xen-udev (removed) (rpm -e): is removed, and with it {BLOCK_FILE}: rpm removes it" in n
               for n in document["notes"])
    rpm_run(rpm_xen, "-e", "xen-udev")
    assert not rpm_xen.path(BLOCK_FILE).exists()
    agrees(udev_drift, rpm_xen, document)


def test_an_rpm_upgrade_that_no_longer_ships_a_rules_file_removes_it(rpm_xen, preview, udev_drift,
                                                                      tmp_path: Path) -> None:
    # A %config file changed here goes too: rpm keeps it as .rpmsave, which udev does not read.
    rpm_install(rpm_xen, rpmbuild(tmp_path, "xen-udev", "1.0", {BLOCK_FILE: "# vendor 1.0\n"},
                                  {BLOCK_FILE: "%config"}))
    rpm_xen.write(BLOCK_FILE, "# vendor 1.0\n" + XEN_BLOCK, dedent=False)
    v2 = rpmbuild(tmp_path, "xen-udev", "2.0", {"/usr/share/doc/xen-udev/README": "moved\n"}, {})
    result = preview(rpm_xen, v2)
    document = result.json()
    assert result.status == 0, result.err
    assert ("rule", "restored") in {(c["kind"], c["outcome"]) for c in document["changes"]}
    assert {c["outcome"] for c in document["changes"]} == {"restored"}
    assert any(f"no longer ships {BLOCK_FILE}: rpm removes it (a copy changed here is kept as "
               f"{BLOCK_FILE}.rpmsave" in n for n in document["notes"])
    rpm_install(rpm_xen, v2, upgrade=True)
    assert not rpm_xen.path(BLOCK_FILE).exists() and rpm_xen.path(BLOCK_FILE + ".rpmsave").is_file()
    agrees(udev_drift, rpm_xen, document)


def test_removing_a_package_no_database_knows_is_one_clear_line(rpm_xen, preview) -> None:
    result = preview(rpm_xen, options=["--remove", "no-such-package"])
    assert result.status == 2
    assert result.err.strip().splitlines() == [
        f"udev-drift: --remove no-such-package: no installed package of that name (neither dpkg's status "
        f"nor the rpm database under {rpm_xen.root} lists it)"]
