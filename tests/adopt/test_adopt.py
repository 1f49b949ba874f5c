"""`udev-drift adopt`: the policy that protects what a host's rules files hold now."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from checker.adopt.links import adopt_links
from checker.engine import load_desired
from checker.host import Host
from checker.observe.udev import BlockDevice, UdevState
from checker.rules.parser import parse_rules
from checker.safe_files.atomic import ExistsError, write_atomic
from tests.adopt.test_adopt_corpus import adopted_rules, marker_only
from tests.conftest import REPO, XEN_RULES, HostTree, Result
from tests.namespace import run_private

Run = Callable[..., Result]
EXAMPLE = REPO / "examples" / "xenserver-host"
SHIPPED = REPO / "policies" / "xenserver-local-sata.yaml"
RULES = "/etc/udev/rules.d/50-udev.rules"
POLICY = "/etc/udev-drift/policies.d/adopted.yaml"
VENDOR = ('# vendor rules\nSUBSYSTEM=="block", GROUP="disk"\n\n'
          'KERNEL=="null|zero", MODE="0666"\nKERNEL=="fd[0-9]*", GROUP="floppy"\n'
          'KERNEL=="hvc[0-9]*", GROUP="tty", MODE="0620"\nKERNEL=="mem|kmem|port", GROUP="kmem", MODE="0640"\n')


def canonical(text: str) -> list[str]:
    return [rule.canonical for rule in parse_rules(text).rules]


def checked(tree: HostTree, udev_drift: Run, *args: str) -> Result:
    return udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", *args)


def vendor_host(tree: HostTree, edited: str, vendor: str = VENDOR) -> None:
    tree.write("/usr/lib/udev/rules.d/50-udev.rules", vendor, dedent=False)
    tree.write(RULES, edited, dedent=False)


class TestTheExampleHost:
    def test_after_a_repair_without_markers_adopt_finds_exactly_the_shipped_policys_rules(
            self, tmp_path: Path, udev_drift: Run) -> None:
        root = tmp_path / "host"
        shutil.copytree(EXAMPLE, root, symlinks=True)
        policies = root / "etc/udev-drift/policies.d"
        (policies / "xenserver-local-sata.yaml").unlink()
        shutil.copy(SHIPPED, policies / "xenserver-local-sata.yaml")
        vendor = tmp_path / "50-udev.rules.orig"
        shutil.copy(root / "etc/udev/rules.d/50-udev.rules", vendor)  # the file the update brought
        tree = HostTree(root)
        assert checked(tree, udev_drift, "--repair").status == 0
        # The admin's state before udev-drift: the same rules, no markers, no policy.
        stripped = "".join(line for line in tree.read(RULES).splitlines(keepends=True) if "udev-drift" not in line)
        tree.write(RULES, stripped, dedent=False)
        (policies / "xenserver-local-sata.yaml").unlink()

        adopted = udev_drift("adopt", "--root", root, "--vendor", vendor, RULES)
        assert adopted.status == 0, adopted.err
        shipped = yaml.safe_load(SHIPPED.read_text())
        policy = yaml.safe_load(adopted.out)
        [entry] = policy["rules"]
        assert (entry["ensure"], entry["for_each"], entry["content"]) == (
            "block", ["sdb", "sdc"], shipped["rules"][0]["content"])
        assert f"compared with {vendor} (named with --vendor)" in adopted.out
        # sdb is present (its link too); sdc is not plugged in, so its link is not adopted.
        assert policy["symlinks"] == [{"link": "/dev/xapi/block/sdb", "target": "/dev/sdb", "required": False}]
        assert "sdc is not present now" in adopted.err
        assert udev_drift("adopt", "--root", root, "--vendor", vendor, RULES).out == adopted.out

        tree.write(POLICY, adopted.out, dedent=False)
        dry = checked(tree, udev_drift, "--repair", "--dry-run")
        diff = [line for line in dry.out.splitlines() if line.strip().startswith(("+", "-"))]
        assert [line.strip() for line in diff] == [
            f"--- {RULES}", f"+++ {RULES} (desired)", "+# BEGIN udev-drift adopted", "+# END udev-drift adopted"]
        assert checked(tree, udev_drift, "--repair").status == 0
        marked = tree.read(RULES)
        assert marker_only(stripped, marked) == ["# BEGIN udev-drift adopted\n", "# END udev-drift adopted\n"]
        assert checked(tree, udev_drift).status == 0
        # Round trip: the template's expansion gives back the admin's lines byte for byte.
        lines = marked.splitlines(keepends=True)
        begin, end = lines.index("# BEGIN udev-drift adopted\n"), lines.index("# END udev-drift adopted\n")
        tree.write(RULES, "".join(lines[:begin + 1] + lines[end:]), dedent=False)
        assert checked(tree, udev_drift, "--repair").status == 0
        assert tree.read(RULES) == marked


class TestPristineCopies:
    def test_a_package_leftover_beside_the_file_is_the_pristine_copy_and_is_named(
            self, tree: HostTree, udev_drift: Run) -> None:
        admin = 'KERNEL=="sdq", SYMLINK+="backup"\n'
        tree.write(RULES, VENDOR + admin, dedent=False)
        tree.write(RULES + ".rpmnew", VENDOR, dedent=False)
        tree.write("/usr/lib/udev/rules.d/50-udev.rules", "# another version\n" + VENDOR, dedent=False)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert f"{RULES}.rpmnew (the package's version, left beside it)" in result.out
        assert adopted_rules(result.out, {"block"}) == canonical('KERNEL=="sdq", SYMLINK+="backup"\n')

    def test_a_copy_that_keeps_little_of_the_vendor_file_replaces_it_and_is_owned_whole(
            self, tree: HostTree, udev_drift: Run) -> None:
        own = '# our own 50-udev.rules\nSUBSYSTEM=="block", GROUP="storage"\nKERNEL=="sdq", SYMLINK+="backup"\n'
        vendor_host(tree, own)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        [entry] = yaml.safe_load(result.out)["rules"]
        assert (entry["ensure"], entry["content"]) == ("file", own)
        tree.write(POLICY, result.out, dedent=False)
        assert checked(tree, udev_drift).status == 0  # nothing to repair: the file is as it is

    def test_vendor_rules_reformatted_by_the_admin_are_not_additions(self, tree: HostTree, udev_drift: Run) -> None:
        edited = ('# vendor rules\nSUBSYSTEM == "block" ,GROUP="disk"\n\n'
                  'KERNEL=="null|zero",\\\n   MODE=e"0666"\nGROUP="floppy", KERNEL=="fd[0-9]*"\n'
                  + VENDOR.split("floppy\"\n")[1])
        vendor_host(tree, edited)
        result = udev_drift("adopt", "--root", tree.root)
        assert (result.status, result.out) == (1, "")
        assert "nothing added to /usr/lib/udev/rules.d/50-udev.rules" in result.err
        assert "nothing to adopt in 1 rules file" in result.err


class TestOnThisHost:
    """Runs on the machine itself, with its real dpkg database and apt's cache of .debs:
    read-only, or with the changes made inside a private mount namespace."""

    NAME = "/usr/lib/udev/rules.d/60-persistent-storage.rules"

    @pytest.fixture(autouse=True)
    def _udev_deb(self) -> None:
        done = subprocess.run(["dpkg", "-S", "/lib/udev/rules.d/60-persistent-storage.rules"],
                              capture_output=True, text=True, check=False) if shutil.which("dpkg") else None
        if done is None or done.returncode != 0:
            pytest.skip("needs dpkg and the udev package")
        if not list(Path("/var/cache/apt/archives").glob("udev_*.deb")):
            pytest.skip("needs apt's cached .deb of udev")

    def test_a_package_file_as_installed_has_nothing_to_adopt(self, udev_drift: Run) -> None:
        # dpkg knows the file as /lib/udev/...: a merged-/usr host reaches it as /usr/lib/udev/...
        result = udev_drift("adopt", self.NAME)
        assert (result.status, result.out) == (1, "")
        assert f"{self.NAME}: nothing added to the package udev's file, from /var/cache/apt/archives/udev_" in result.err

    def test_rules_added_to_a_package_file_are_found_against_the_package(self, tmp_path: Path) -> None:
        edited = tmp_path / "edited.rules"
        edited.write_text(Path(self.NAME).read_text() + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        done = run_private(f"mount --bind {edited} {self.NAME}\n$UDEV_DRIFT adopt {self.NAME}")
        assert done.returncode == 0, done.stderr
        [entry] = yaml.safe_load(done.stdout)["rules"]
        assert (entry["ensure"], entry["content"]) == ("block", 'KERNEL=="sdq", SYMLINK+="backup"\n')
        assert "(compared with the package udev's file, from /var/cache/apt/archives/udev_" in done.stdout

    def test_without_the_packages_copy_the_file_is_named_with_how_to_get_one(self) -> None:
        done = run_private(f"mount -t tmpfs tmpfs /var/cache/apt/archives\n$UDEV_DRIFT adopt {self.NAME} || echo status=$?")
        assert done.stdout == "status=1\n", done.stderr
        assert (f"{self.NAME}: owned by the package udev, whose copy of it is not on this host (name one "
                "with --vendor FILE: apt-get download PACKAGE, then dpkg-deb --fsys-tarfile") in done.stderr


class TestEntries:
    def test_an_own_file_with_a_rule_pair_per_disk_is_one_template_after_its_header(
            self, tree: HostTree, udev_drift: Run) -> None:
        header = "# local disks for the VMs\n\n"
        text = header + XEN_RULES.format(disk="sdb") + XEN_RULES.format(disk="sdc") + XEN_RULES.format(disk="sdd")
        tree.write("/etc/udev/rules.d/61-local.rules", text, dedent=False)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        head, rules = yaml.safe_load(result.out)["rules"]
        assert head == {"file": "/etc/udev/rules.d/61-local.rules", "ensure": "file", "content": header}
        assert rules["for_each"] == ["sdb", "sdc", "sdd"]
        assert rules["content"] == XEN_RULES.format(disk="{{ item }}")
        [policy] = load_desired([str(tree.write(POLICY, result.out, dedent=False))])
        assert "".join(entry.content for entry in policy.rules) == text
        assert checked(tree, udev_drift).status == 0

    def test_rules_repeated_per_serial_fold_and_items_yaml_would_misread_are_quoted(
            self, tree: HostTree, udev_drift: Run) -> None:
        admin = "".join(f'SUBSYSTEM=="block", ENV{{ID_WWN}}=="{wwn}", OWNER="qemu", MODE="0660"\n'
                        for wwn in ("0x50014ee2b5c4f1a2", "0x50014ee2b5c4f1a3", "1234", "yes"))
        vendor_host(tree, VENDOR + admin)
        result = udev_drift("adopt", "--root", tree.root)
        assert '    for_each: ["0x50014ee2b5c4f1a2", "0x50014ee2b5c4f1a3", "1234", "yes"]\n' in result.out
        [policy] = load_desired([str(tree.write(POLICY, result.out, dedent=False))])
        assert "".join(entry.content for entry in policy.rules) == admin

    def test_repeated_rules_that_differ_elsewhere_are_not_folded(self, tree: HostTree, udev_drift: Run) -> None:
        admin = ('KERNEL=="sdb", SYMLINK+="vm/one"\n'
                 'KERNEL=="sdc", SYMLINK+="vm/two"\n')
        vendor_host(tree, VENDOR + admin)
        result = udev_drift("adopt", "--root", tree.root)
        [entry] = yaml.safe_load(result.out)["rules"]
        assert "for_each" not in entry and entry["content"] == admin

    def test_comments_and_empty_lines_between_added_rules_stay_in_the_block_as_they_are(
            self, tree: HostTree, udev_drift: Run) -> None:
        admin = '# our disks\nKERNEL=="sdq", SYMLINK+="backup"\n\n# the archive\nKERNEL=="sdr",\\\n  SYMLINK+="archive"\n'
        vendor_host(tree, VENDOR + admin)
        result = udev_drift("adopt", "--root", tree.root)
        [entry] = yaml.safe_load(result.out)["rules"]
        assert entry["content"] == admin[len("# our disks\n"):]  # the comment above stays above
        tree.write(POLICY, result.out, dedent=False)
        assert checked(tree, udev_drift, "--repair").status == 0
        assert marker_only(VENDOR + admin, tree.read(RULES)) == ["# BEGIN udev-drift adopted\n",
                                                                 "# END udev-drift adopted\n"]

    def test_rules_added_in_two_places_become_lines_entries_and_it_says_why(
            self, tree: HostTree, udev_drift: Run) -> None:
        lines = VENDOR.splitlines(keepends=True)
        edited = "".join(lines[:2] + ['KERNEL=="sdq", SYMLINK+="backup"\n'] + lines[2:]
                         + ['KERNEL=="sdr", SYMLINK+="archive"\n'])
        vendor_host(tree, edited)
        result = udev_drift("adopt", "--root", tree.root)
        assert [e["ensure"] for e in yaml.safe_load(result.out)["rules"]] == ["lines", "lines"]
        assert "the added rules stand in 2 places" in result.err
        tree.write(POLICY, result.out, dedent=False)
        assert checked(tree, udev_drift).status == 0

    def test_deleted_and_changed_vendor_rules_are_reported_and_kept_on_request(
            self, tree: HostTree, udev_drift: Run) -> None:
        edited = VENDOR.replace('GROUP="disk"', 'GROUP="storage"').replace('KERNEL=="fd[0-9]*", GROUP="floppy"\n', "")
        vendor_host(tree, edited)
        plain = udev_drift("adopt", "--root", tree.root)
        assert plain.status == 1
        assert 'changes the vendor rule \'SUBSYSTEM=="block", GROUP="disk"\'' in plain.err
        assert 'a vendor rule is gone (line 5 of the pristine copy): KERNEL=="fd[0-9]*", GROUP="floppy"' in plain.err
        kept = udev_drift("adopt", "--root", tree.root, "--include-removals")
        assert kept.status == 0, kept.err
        assert adopted_rules(kept.out, {"absent"}) == canonical(
            'SUBSYSTEM=="block", GROUP="disk"\nKERNEL=="fd[0-9]*", GROUP="floppy"\n')
        assert adopted_rules(kept.out, {"lines"}) == canonical('SUBSYSTEM=="block", GROUP="storage"\n')
        tree.write(POLICY, kept.out, dedent=False)
        assert checked(tree, udev_drift).status == 0

    def test_rules_inside_a_managed_block_are_protected_already(self, tree: HostTree, udev_drift: Run) -> None:
        block = '# BEGIN udev-drift xen\nKERNEL=="sdb", SYMLINK+="x"\n# END udev-drift xen\n'
        vendor_host(tree, VENDOR + block)
        assert udev_drift("adopt", "--root", tree.root).status == 1

    def test_a_crlf_file_keeps_its_endings_and_the_repair_only_marks(self, tree: HostTree, udev_drift: Run) -> None:
        vendor = VENDOR.replace("\n", "\r\n")
        edited = vendor + 'KERNEL=="sdq", SYMLINK+="backup"\r\n\tKERNEL=="sdr", SYMLINK+="archive"  \r\n'
        vendor_host(tree, edited, vendor)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        tree.write(POLICY, result.out, dedent=False)
        assert checked(tree, udev_drift, "--repair").status == 0
        assert tree.read(RULES) == (vendor + "# BEGIN udev-drift adopted\r\n" + edited[len(vendor):]
                                    + "# END udev-drift adopted\r\n")


class TestWhatPoliciesProtectAlready:
    def test_a_file_a_policy_owns_and_rules_a_policy_keeps_are_not_adopted_again(
            self, tree: HostTree, udev_drift: Run) -> None:
        tree.write("/etc/udev/rules.d/61-local.rules", 'KERNEL=="sdq", SYMLINK+="backup"\n', dedent=False)
        vendor_host(tree, VENDOR + 'KERNEL=="sdr", SYMLINK+="a"\nKERNEL=="sds", SYMLINK+="b"\n')
        tree.policy("""\
            version: 1
            name: site
            rules:
              - file: /etc/udev/rules.d/61-local.rules
                ensure: file
                content: |
                  KERNEL=="sdq", SYMLINK+="backup"
              - file: /etc/udev/rules.d/50-udev.rules
                ensure: lines
                content: |
                  KERNEL=="sdr", SYMLINK+="a"
            """, name="site.yaml")
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert adopted_rules(result.out, {"block", "lines", "file"}) == canonical('KERNEL=="sds", SYMLINK+="b"\n')
        assert "/etc/udev/rules.d/61-local.rules: the policy site owns it whole already" in result.err
        assert "/etc/udev/rules.d/50-udev.rules:8: the policy site protects this rule already" in result.err
        tree.write(POLICY, result.out, dedent=False)
        assert checked(tree, udev_drift, "--repair").status == 0  # the two policies agree

    def test_write_refuses_a_name_another_policy_has(self, tree: HostTree, udev_drift: Run) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        tree.policy("version: 1\nname: adopted\nsymlinks:\n  - link: /dev/x\n    target: /dev/sdx\n",
                    name="mine.yaml")
        tree.write("/dev/sdq", "")
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 2 and "is named adopted already: choose another --name" in result.err
        assert not tree.path(POLICY).exists()
        assert udev_drift("adopt", "--root", tree.root, "--write", "--name", "local").status == 0
        policy = yaml.safe_load(tree.read("/etc/udev-drift/policies.d/local.yaml"))
        assert policy["symlinks"] == [{"link": "/dev/backup", "target": "/dev/sdq", "required": False}]

    def test_a_link_a_policy_checks_already_is_not_adopted_again(self, tree: HostTree, udev_drift: Run) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        tree.write("/dev/sdq", "")
        tree.policy("version: 1\nname: mine\nsymlinks:\n  - link: /dev/backup\n    target: /dev/sdq\n",
                    name="mine.yaml")
        result = udev_drift("adopt", "--root", tree.root)
        assert "symlinks" not in yaml.safe_load(result.out)
        assert "/dev/backup: the policy mine checks this link already" in result.err

    def test_policies_that_cannot_be_loaded_are_named_and_adopt_goes_on(self, tree: HostTree,
                                                                      udev_drift: Run) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        tree.policy("version: 2\n", name="broken.yaml")
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0
        assert "cannot be loaded" in result.err and "broken.yaml" in result.err


class TestLinks:
    def test_a_link_on_a_disk_libudev_knows_is_adopted_by_its_serial(self) -> None:
        disk = BlockDevice("sdb", "/sys/devices/x/block/sdb", "disk", "/dev/sdb", 1, links=(),
                           properties={"ID_SERIAL": "WDC_WD40EFRX_WD-1", "ID_WWN": "0x5000"})
        bare = BlockDevice("sdc", "/sys/devices/x/block/sdc", "disk", "/dev/sdc", 2)
        notes: list[str] = []
        links = adopt_links([("/dev/vm/b", "sdb"), ("/dev/vm/c", "sdc"), ("/dev/vm/d", "sdd")],
                            Host("/nonexistent-root"), UdevState([disk, bare]), notes)
        assert [(link.link, link.device, link.target) for link in links] == [
            ("/dev/vm/b", ("serial", "WDC_WD40EFRX_WD-1"), None), ("/dev/vm/c", None, "/dev/sdc")]
        assert notes == ["/dev/vm/d: sdd is not present now, so the link is not adopted"]

    def test_a_link_that_depends_on_the_event_is_named_not_guessed(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write("/dev/sdb", "")
        tree.write("/etc/udev/rules.d/61-local.rules",
                   'KERNEL=="sdb", SYMLINK+="by-env/$env{ID_FS_LABEL} local/%k"\n', dedent=False)
        result = udev_drift("adopt", "--root", tree.root)
        assert yaml.safe_load(result.out)["symlinks"] == [
            {"link": "/dev/local/sdb", "target": "/dev/sdb", "required": False}]
        assert ("links of 1 adopted rules name no single disk by KERNEL== or depend on the event, "
                "and are not adopted (line 1)") in result.err


class TestStable:
    def test_the_policy_is_the_same_byte_for_byte_whatever_the_hash_seed(self, tree: HostTree) -> None:
        vendor_host(tree, VENDOR + XEN_RULES.format(disk="sdc") + XEN_RULES.format(disk="sdb"))
        tree.write("/etc/udev/rules.d/61-local.rules", "".join(
            f'KERNEL=="{disk}", SYMLINK+="vm/{disk} backup/%k"\n' for disk in ("sdd", "sde", "sdf")), dedent=False)
        tree.write("/run/udev/rules.d/70-net.rules", 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:aa:bb:cc", NAME="lan0"\n',
                   dedent=False)
        for disk in ("sdb", "sdc", "sdd", "sde", "sdf"):
            tree.write(f"/dev/{disk}", "")
        outputs = set()
        for seed in ("1", "2", "3"):
            done = subprocess.run([sys.executable, "-m", "checker", "adopt", "--root", str(tree.root)],
                                  capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed},
                                  cwd=REPO, timeout=60, check=False)
            assert done.returncode == 0, done.stderr
            outputs.add(done.stdout + done.stderr)
        assert len(outputs) == 1
        policy = yaml.safe_load(outputs.pop().split("udev-drift adopt:")[0])
        assert [(e["file"], e["ensure"]) for e in policy["rules"]] == [
            ("/etc/udev/rules.d/50-udev.rules", "block"), ("/etc/udev/rules.d/61-local.rules", "file"),
            ("/run/udev/rules.d/70-net.rules", "file")]
        assert [(e["link"], e.get("for_each")) for e in policy["symlinks"]] == [
            ("/dev/backup/{{ item }}", ["sdd", "sde", "sdf"]), ("/dev/vm/{{ item }}", ["sdd", "sde", "sdf"]),
            ("/dev/xapi/block/{{ item }}", ["sdb", "sdc"])]


class TestWrite:
    def test_write_puts_the_printed_policy_in_place_root_owned_0644_and_changes_nothing_else(
            self, tree: HostTree, udev_drift: Run) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        printed = udev_drift("adopt", "--root", tree.root).out
        before = tree.snapshot()
        assert udev_drift("adopt", "--root", tree.root, "--write", "--name", "site").status == 0
        written = tree.path("/etc/udev-drift/policies.d/site.yaml")
        assert written.read_text() == printed.replace("name: adopted", "name: site").replace(
            "udev-drift adopted", "udev-drift site")
        st = written.stat()
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o644, 0, 0)
        after = tree.snapshot()
        new = set(after) - set(before)
        assert new == {"etc/udev-drift", "etc/udev-drift/policies.d", "etc/udev-drift/policies.d/site.yaml"}
        assert {k: after[k] for k in before} == before

    def test_write_never_replaces_a_policy(self, tree: HostTree, udev_drift: Run) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        mine = tree.policy("# mine\n", name="adopted.yaml")
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 2 and result.err.count("\n") == 1
        assert "exists already: adopt never replaces a policy" in result.err
        assert mine.read_text() == "# mine\n"

    def test_a_policy_that_appears_while_it_is_written_is_not_replaced(self, tmp_path: Path) -> None:
        target = tmp_path / "adopted.yaml"
        target.write_text("# someone else's\n")
        with pytest.raises(ExistsError):
            write_atomic(str(target), b"new", 0o644, replace=False)
        assert target.read_text() == "# someone else's\n"
        assert os.listdir(tmp_path) == ["adopted.yaml"]  # no temporary file left


class TestUsage:
    @pytest.mark.parametrize(("args", "message"), [
        (("--name", "Bad Name"), "--name 'Bad Name': expected lower-case"),
        (("/etc/fstab",), "/etc/fstab: expected a *.rules file in one of udev's rules directories"),
        (("/etc/udev/rules.d/99-none.rules",), "/etc/udev/rules.d/99-none.rules: no such file"),
        (("--vendor", "/nonexistent.rules"), "--vendor /nonexistent.rules: no such file"),
        (("--vendor", "/dev/null"), "--vendor /dev/null: not a regular file"),
    ])
    def test_each_bad_input_is_one_line_and_status_2(self, tree: HostTree, udev_drift: Run,
                                                       args: tuple[str, ...], message: str) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        before = tree.snapshot()
        result = udev_drift("adopt", "--root", tree.root, *args)
        assert (result.status, result.out) == (2, "")
        assert result.err.count("\n") == 1 and message in result.err, result.err
        assert tree.snapshot() == before
