"""`udev-drift preview` says, before an update is installed, what it would take away from
the policies, with the cause's line in the new package; then the same packages are
installed for real (dpkg --root) and `check` agrees with every word."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.conftest import XEN_BLOCK, XEN_EVERY_EVENT_RULES
from tests.preview.builders import Link, Spec, build_deb, build_rpm
from tests.preview.conftest import BLOCK_FILE, agrees, dpkg_install, needs_dpkg

pytestmark = needs_dpkg
VENDOR = "/usr/lib/udev/rules.d/99-vendor.rules"


def test_a_later_vendor_symlink_assignment_takes_the_link_away(xen, preview, udev_drift, tmp_path: Path) -> None:
    deb = build_deb(Spec("vendor-disks", "2.0", {VENDOR: '# vendor\nKERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}),
                    tmp_path / "vendor-disks_2.0_all.deb")
    result = preview(xen, deb)
    assert result.status == 1, result.err
    document = result.json()
    assert not document["safe"]
    lost = [c for c in document["changes"] if c["outcome"] == "lost"]
    assert {(c["kind"], c["what"]) for c in lost} == {("rule", "a managed rule's link undone"),
                                                      ("symlink", "a link no longer made")}
    link = next(c for c in lost if c["kind"] == "symlink")
    assert link["what"] == "a link no longer made" and link["status_after"] == "not-made"
    assert link["source"] == {"package": "vendor-disks 2.0", "package_file": deb.name,
                              "member": "./usr/lib/udev/rules.d/99-vendor.rules", "path": VENDOR, "line": 2}
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)


def test_the_text_output_names_the_package_file_and_line(xen, udev_drift, tmp_path: Path) -> None:
    deb = build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}),
                    tmp_path / "vendor-disks_2.0_all.deb")
    result = udev_drift("preview", "--root", xen.root, "--skip-policy-permission-check", deb)
    assert result.status == 1
    assert "LOST: xen: /dev/xapi/block/sdb: a link no longer made" in result.out
    assert "cause: vendor-disks 2.0 (vendor-disks_2.0_all.deb: ./usr/lib/udev/rules.d/99-vendor.rules:1)" \
        in result.out
    assert "would take away 2 item(s)" in result.out


def test_a_later_run_assignment_is_judged_as_check_judges_it(xen, preview, udev_drift, tmp_path: Path) -> None:
    # RUN= drops the programs the managed rule added; whatever check decides of it, the
    # preview decides the same (it runs check), before the package is installed.
    deb = build_deb(Spec("vendor-run", "1", {VENDOR: 'KERNEL=="sdb", RUN="/usr/bin/vendor-probe %k"\n'}),
                    tmp_path / "vendor-run.deb")
    document = preview(xen, deb).json()
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)


def test_a_later_run_assignment_is_a_program_no_longer_run(xen, preview, udev_drift, tmp_path: Path) -> None:
    deb = build_deb(Spec("vendor-run", "1", {VENDOR: 'KERNEL=="sdb", RUN="/usr/bin/vendor-probe %k"\n'}),
                    tmp_path / "vendor-run.deb")
    result = preview(xen, deb)
    assert result.status == 1
    document = result.json()
    rule = next(c for c in document["changes"] if c["what"] == "a program no longer run")
    assert rule["outcome"] == "lost" and rule["cause"]["why"] == "reset"
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)


def test_a_goto_over_the_managed_block_in_the_new_file(xen, preview, udev_drift, tmp_path: Path) -> None:
    text = 'KERNEL=="sd*", GOTO="vendor_end"\n' + XEN_BLOCK + 'LABEL="vendor_end"\n'
    deb = build_deb(Spec("xen-udev", "8.3", {BLOCK_FILE: text}), tmp_path / "xen-udev.deb")
    result = preview(xen, deb)
    assert result.status == 1
    document = result.json()
    rule = next(c for c in document["changes"] if c["kind"] == "rule")
    assert rule["outcome"] == "lost" and rule["status_after"] == "ineffective"
    assert rule["cause"]["why"] == "goto" and rule["what"] == "a program no longer run"
    assert rule["source"]["member"] == "./etc/udev/rules.d/50-udev.rules" and rule["source"]["line"] == 1
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)


MANAGED_VENDOR = "/usr/lib/udev/rules.d/50-xen.rules"
VENDOR_POLICY = ("version: 1\nname: xen-vendor\nrules:\n  - file: " + MANAGED_VENDOR + "\n    ensure: block\n"
                 "    content: |\n" + "".join(f"      {line}\n" for line in XEN_EVERY_EVENT_RULES.format(disk="sdb").splitlines()))


def _vendor_host(tree) -> None:
    tree.path(BLOCK_FILE).unlink()
    tree.path("/etc/udev-drift/policies.d/policy.yaml").unlink()
    tree.policy(VENDOR_POLICY)
    tree.write(MANAGED_VENDOR, XEN_BLOCK.replace(" xen\n", " xen-vendor\n"), dedent=False)


def test_a_same_named_file_in_a_directory_read_first_shadows_it(xen, preview, udev_drift, tmp_path: Path) -> None:
    _vendor_host(xen)
    deb = build_deb(Spec("site-rules", "1", {"/etc/udev/rules.d/50-xen.rules": "# site\n"}), tmp_path / "s.deb")
    result = preview(xen, deb)
    assert result.status == 1
    rule = next(c for c in result.json()["changes"] if c["kind"] == "rule")
    assert rule["outcome"] == "lost" and rule["status_after"] == "shadowed"
    assert rule["source"]["path"] == "/etc/udev/rules.d/50-xen.rules"
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, result.json())


def test_a_link_to_dev_null_masks_it(xen, preview, udev_drift, tmp_path: Path) -> None:
    _vendor_host(xen)
    deb = build_deb(Spec("mask", "1", {"/etc/udev/rules.d/50-xen.rules": Link("/dev/null")}), tmp_path / "m.deb")
    result = preview(xen, deb)
    assert result.status == 1
    rule = next(c for c in result.json()["changes"] if c["kind"] == "rule")
    assert rule["outcome"] == "lost" and rule["status_after"] == "masked"
    assert rule["source"]["member"] == "./etc/udev/rules.d/50-xen.rules"
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, result.json())


def test_a_package_that_overwrites_the_managed_file_is_restored_by_the_repair(xen, preview, udev_drift,
                                                                              tmp_path: Path) -> None:
    deb = build_deb(Spec("xen-udev", "8.3", {BLOCK_FILE: '# vendor rules\nKERNEL=="sr*", GROUP="cdrom"\n'}),
                    tmp_path / "xen-udev.deb")
    result = preview(xen, deb)
    assert result.status == 0, result.out  # overwritten, and put back: nothing is lost
    rule = next(c for c in result.json()["changes"] if c["kind"] == "rule")
    assert rule["outcome"] == "restored" and rule["what"] == "a managed rule overwritten"
    assert rule["status_after"] == "missing"
    assert "the repair after the update puts it back" in rule["message"]
    assert rule["source"]["package"] == "xen-udev 8.3"
    link = next(c for c in result.json()["changes"] if c["kind"] == "symlink")
    assert link["outcome"] == "restored" and link["source"] == rule["source"]
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, result.json())


def _conffile_host(xen, tmp_path: Path) -> Path:
    """xen-udev 1.0 installed by dpkg with the managed file as its conffile, then the block
    added by the admin (a local change); 2.0 changes the conffile."""
    old = build_deb(Spec("xen-udev", "1.0", {BLOCK_FILE: "# vendor 1.0\n"}, conffiles=[BLOCK_FILE]), tmp_path / "v1.deb")
    dpkg_install(xen, old)
    xen.write(BLOCK_FILE, "# vendor 1.0\n" + XEN_BLOCK, dedent=False)
    return build_deb(Spec("xen-udev", "2.0", {BLOCK_FILE: "# vendor 2.0\n"}, conffiles=[BLOCK_FILE]), tmp_path / "v2.deb")


def test_a_locally_changed_conffile_is_kept_by_default(xen, preview, udev_drift, tmp_path: Path) -> None:
    new = _conffile_host(xen, tmp_path)
    result = preview(xen, new)
    assert result.status == 0
    document = result.json()
    assert document["changes"] == []
    assert any("dpkg asks, and its default keeps this host's file" in note for note in document["notes"])
    dpkg_install(xen, new, conffiles="old")
    assert "udev-drift xen" in xen.read(BLOCK_FILE)
    agrees(udev_drift, xen, document)


def test_a_locally_changed_conffile_replaced_when_the_admin_says_so(xen, preview, udev_drift, tmp_path: Path) -> None:
    new = _conffile_host(xen, tmp_path)
    result = preview(xen, new, options=["--conffiles", "new"])
    document = result.json()
    assert result.status == 0
    # the block, and the link it makes, until the repair puts the block back
    assert {(c["kind"], c["outcome"]) for c in document["changes"]} == {("rule", "restored"), ("symlink", "restored")}
    dpkg_install(xen, new, conffiles="new")
    assert xen.read(BLOCK_FILE) == "# vendor 2.0\n"
    agrees(udev_drift, xen, document)


def test_an_unchanged_conffile_is_replaced(xen, preview, tmp_path: Path) -> None:
    old = build_deb(Spec("vendor", "1.0", {VENDOR: "# 1.0\n"}, conffiles=[VENDOR]), tmp_path / "v1.deb")
    dpkg_install(xen, old)
    status = xen.read("/var/lib/dpkg/status")
    assert hashlib.md5(b"# 1.0\n").hexdigest() in status
    new = build_deb(Spec("vendor", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/other"\n'}, conffiles=[VENDOR]),
                    tmp_path / "v2.deb")
    document = preview(xen, new).json()
    assert any("is as the installed version shipped it: replaced" in n for n in document["notes"])
    assert not document["safe"]


def test_a_file_the_new_version_no_longer_ships_is_removed(xen, preview, udev_drift, tmp_path: Path) -> None:
    old = build_deb(Spec("disk-links", "1.0", {"/usr/lib/udev/rules.d/10-goto.rules":
                                               'KERNEL=="sdb", GOTO="skip"\nLABEL="skip"\n'}), tmp_path / "1.deb")
    dpkg_install(xen, old)
    new = build_deb(Spec("disk-links", "2.0", {}), tmp_path / "2.deb")
    document = preview(xen, new).json()
    assert any("no longer ships /usr/lib/udev/rules.d/10-goto.rules" in n for n in document["notes"])
    dpkg_install(xen, new)
    agrees(udev_drift, xen, document)


def test_a_package_without_rules_files_changes_nothing(xen, preview, tmp_path: Path) -> None:
    deb = build_deb(Spec("tools", "1", {"/usr/share/doc/tools/README": "hello\n"}), tmp_path / "t.deb")
    result = preview(xen, deb)
    assert result.status == 0 and result.json()["changes"] == [] and result.json()["safe"]


def test_nothing_on_the_host_changes(xen, preview, tmp_path: Path) -> None:
    deb = build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/x"\n'}), tmp_path / "v.deb")
    before = xen.snapshot()
    preview(xen, deb)
    assert xen.snapshot() == before


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_every_deb_compression_is_read(xen, preview, tmp_path: Path, compression: str) -> None:
    deb = build_deb(Spec("vendor-disks", "2.0", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/x"\n'}),
                    tmp_path / "v.deb", compression=compression)
    assert preview(xen, deb).status == 1


# --- rpm --------------------------------------------------------------------------------
@pytest.mark.parametrize("compressor", ["xz", "gzip", "zstd"])
def test_an_rpm_with_a_later_vendor_symlink_assignment(xen, preview, tmp_path: Path, compressor: str) -> None:
    rpm = build_rpm(Spec("vendor-disks", "2.0-1", {VENDOR: 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n'}),
                    tmp_path / "vendor-disks-2.0-1.noarch.rpm", compressor)
    result = preview(xen, rpm)
    assert result.status == 1, result.err
    link = next(c for c in result.json()["changes"] if c["kind"] == "symlink")
    assert link["source"]["package"] == "vendor-disks 2.0-1" and link["source"]["line"] == 1


def test_rpm_config_noreplace_keeps_the_changed_file_and_writes_rpmnew(xen, preview, tmp_path: Path) -> None:
    rpm = build_rpm(Spec("xen-udev", "8.3-1", {BLOCK_FILE: "# vendor\n"}, noreplace=[BLOCK_FILE]), tmp_path / "x.rpm")
    document = preview(xen, rpm).json()
    assert document["changes"] == [] and document["safe"]
    assert any(f"writes the new one as {BLOCK_FILE}.rpmnew" in n for n in document["notes"])


def test_rpm_config_replaces_the_file_and_saves_rpmsave(xen, preview, tmp_path: Path) -> None:
    rpm = build_rpm(Spec("xen-udev", "8.3-1", {BLOCK_FILE: "# vendor\n"}, conffiles=[BLOCK_FILE]), tmp_path / "x.rpm")
    result = preview(xen, rpm)
    document = result.json()
    assert result.status == 0
    assert {c["outcome"] for c in document["changes"]} == {"restored"}
    assert any(f"{BLOCK_FILE}.rpmsave" in n for n in document["notes"])


def test_an_rpm_mask(xen, preview, tmp_path: Path) -> None:
    rpm = build_rpm(Spec("mask", "1-1", {BLOCK_FILE: Link("/dev/null")}), tmp_path / "m.rpm")
    result = preview(xen, rpm)
    assert result.status == 1
    rule = next(c for c in result.json()["changes"] if c["kind"] == "rule")
    assert rule["status_after"] == "masked" and rule["source"]["member"] == BLOCK_FILE


def test_on_a_merged_usr_host_a_package_path_under_lib_is_the_same_file(tree, preview, udev_drift, tmp_path: Path) -> None:
    from tests.conftest import XEN_BLOCK_POLICY
    tree.path("/usr/lib/udev/rules.d").mkdir(parents=True)
    tree.link("/lib", "usr/lib")
    tree.write("/dev/sdb", "", dedent=False)
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    tree.write(BLOCK_FILE, XEN_BLOCK, dedent=False)
    tree.policy(XEN_BLOCK_POLICY + "symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n")
    tree.write("/usr/lib/udev/rules.d/99-vendor.rules", "# old vendor file\n")
    deb = build_deb(Spec("v", "2", {"/lib/udev/rules.d/99-vendor.rules": 'KERNEL=="sdb", SYMLINK="disk/x"\n'}),
                    tmp_path / "v.deb")
    document = preview(tree, deb).json()
    assert document["rules_files_changed"] == ["/lib/udev/rules.d/99-vendor.rules"]
    link = next(c for c in document["changes"] if c["kind"] == "symlink")
    assert link["outcome"] == "lost" and link["source"]["member"] == "./lib/udev/rules.d/99-vendor.rules"


def test_a_later_rule_whose_effect_cannot_be_known_offline_is_uncertain(xen, preview, tmp_path: Path) -> None:
    deb = build_deb(Spec("v", "2", {VENDOR: 'KERNEL=="sdb", PROGRAM=="/usr/bin/vendor-id %k", SYMLINK="disk/x"\n'}),
                    tmp_path / "v.deb")
    result = preview(xen, deb)
    document = result.json()
    assert result.status == 0, document
    assert {c["outcome"] for c in document["changes"]} == {"uncertain"}


def _masked_vendor_rule(xen, tmp_path: Path) -> None:
    """A vendor rule that would take the link away, masked by a package of the site."""
    xen.write(VENDOR, 'KERNEL=="sdb", SYMLINK="disk/vendor-%k"\n')
    mask = build_deb(Spec("site-mask", "1", {"/etc/udev/rules.d/99-vendor.rules": Link("/dev/null")}),
                     tmp_path / "site-mask.deb")
    dpkg_install(xen, mask)


def test_removing_a_package_that_masks_a_vendor_rule(xen, preview, udev_drift, tmp_path: Path) -> None:
    _masked_vendor_rule(xen, tmp_path)
    result = preview(xen, options=["--remove", "site-mask"])
    assert result.status == 1
    document = result.json()
    assert any("site-mask (removed)" in n and "/etc/udev/rules.d/99-vendor.rules" in n for n in document["notes"])
    assert {c["outcome"] for c in document["changes"]} == {"lost"}
    subprocess.run(["dpkg", f"--root={xen.root}", "--force-not-root", "--log=/dev/null", "--remove", "site-mask"],
                   check=True, capture_output=True)
    agrees(udev_drift, xen, document)


def test_a_goto_to_the_end_of_an_overwritten_file_does_not_skip_the_block_the_repair_appends(
        xen, preview, udev_drift, tmp_path: Path) -> None:
    # the repair puts the block back at the end of the package's file, after its LABEL:
    # the GOTO does not skip it, so nothing is lost (and check agrees once it is installed)
    text = 'KERNEL=="sd*", GOTO="vendor_end"\n# vendor rules\nLABEL="vendor_end"\n'
    deb = build_deb(Spec("xen-udev", "8.3", {BLOCK_FILE: text}), tmp_path / "xen-udev.deb")
    result = preview(xen, deb)
    document = result.json()
    assert result.status == 0 and {c["outcome"] for c in document["changes"]} == {"restored"}
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)


EARLIER = "/usr/lib/udev/rules.d/10-vendor.rules"


@pytest.mark.parametrize(("path", "text", "kind", "why", "event"), [
    # the link is given at add, and a vendor rule clears it at every change event
    (VENDOR, 'ACTION=="change", KERNEL=="sdb", SYMLINK=""\n', "symlink", "reset", "change"),
    # an earlier file makes the links final: the managed SYMLINK+= is ignored
    (EARLIER, 'KERNEL=="sdb", SYMLINK:="disk/vendor-%k"\n', "symlink", "final", "add"),
    # a later file makes the programs final at add: xapi's program never runs
    (VENDOR, 'ACTION=="add", KERNEL=="sdb", RUN:="/usr/bin/vendor-probe %k"\n', "rule", "final", "add"),
])
def test_each_way_an_update_takes_an_effect_away_is_predicted_with_its_event(
        xen, preview, udev_drift, tmp_path: Path, path: str, text: str, kind: str, why: str, event: str) -> None:
    deb = build_deb(Spec("vendor", "2", {path: text}), tmp_path / "vendor.deb")
    result = preview(xen, deb)
    assert result.status == 1, result.err
    document = result.json()
    lost = [c for c in document["changes"] if c["outcome"] == "lost" and c["kind"] == kind]
    assert lost, document["changes"]
    cause = lost[0]["cause"]
    assert cause["event"] == event and cause["why"] == why, cause
    assert lost[0]["source"]["member"].endswith(cause["file"].rsplit("/", 1)[1]), lost[0]
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)


def test_an_update_whose_package_brings_another_disks_higher_link_priority_claim(
        xen, preview, udev_drift, tmp_path: Path) -> None:
    xen.write("/dev/sdc", "", dedent=False)  # another disk, present
    claim = 'KERNEL=="sdc", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"'
    deb = build_deb(Spec("vendor-multipath", "3.1", {VENDOR: f"# vendor\n{claim}\n"}), tmp_path / "vendor.deb")
    result = preview(xen, deb)
    assert result.status == 1, result.err
    document = result.json()
    lost = [c for c in document["changes"] if c["outcome"] == "lost"]
    assert [(c["kind"], c["what"], c["status_after"]) for c in lost] == [
        ("symlink", "a link given to another device", "claimed")], document["changes"]
    assert lost[0]["cause"] == {"file": VENDOR, "line": 2, "rule": claim, "why": "claimed", "event": "add"}
    assert lost[0]["source"]["member"] == "./usr/lib/udev/rules.d/99-vendor.rules" and lost[0]["source"]["line"] == 2
    assert "udev gives it to sdc" in lost[0]["message"]
    dpkg_install(xen, deb)
    agrees(udev_drift, xen, document)
