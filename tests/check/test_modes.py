"""`ensure: lines`, `ensure: file`, `ensure: absent`, and udev's search path."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.conftest import HostTree, Result

Run = Callable[..., Result]
LOCAL = "/etc/udev/rules.d/61-local-disks.rules"
RULE_A = 'KERNEL=="sdb", SYMLINK+="nas/disk0"\n'
RULE_B = 'ENV{ID_SERIAL}=="WDC_WD40EFRX_WD-WCC7K1234567", SYMLINK+="nas/by-serial"\n'


def policy(ensure: str, file: str = LOCAL, content: str = RULE_A + RULE_B) -> str:
    body = "".join(f"      {line}\n" for line in content.splitlines())
    return f"version: 1\nname: local\nrules:\n  - file: {file}\n    ensure: {ensure}\n    content: |\n{body}"


def findings(tree: HostTree, udev_drift: Run, text: str) -> tuple[int, list[dict]]:
    tree.policy(text)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    return result.status, result.json()["policies"][0]["findings"]


class TestLines:
    def test_rules_present_anywhere_in_any_form_are_kept(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, '# site rules\nSYMLINK+="nas/by-serial" ENV{ID_SERIAL}=="WDC_WD40EFRX_WD-WCC7K1234567"\n'
                          'KERNEL=="x", GROUP="y"\n' + RULE_A)
        status, [item] = findings(tree, udev_drift, policy("lines"))
        assert status == 0 and item["status"] == "ok"

    def test_a_missing_rule_is_named_and_only_it_is_added(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, RULE_B)
        status, [item] = findings(tree, udev_drift, policy("lines"))
        assert status == 1 and item["status"] == "missing"
        assert item["message"] == "1 of 2 rules missing"
        assert item["details"] == ['missing: KERNEL=="sdb", SYMLINK+="nas/disk0"']
        assert [line for line in item["diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] \
            == ['+KERNEL=="sdb", SYMLINK+="nas/disk0"']

    def test_a_rule_udev_drops_does_not_count_as_present(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, RULE_A.rstrip("\n") + "  # the NAS disk\n" + RULE_B)
        status, [item] = findings(tree, udev_drift, policy("lines"))
        assert status == 1
        [detail] = item["details"]
        assert "line 1 holds this rule, but udev drops it" in detail


class TestAbsent:
    def test_an_unwanted_rule_that_came_back_is_unexpected_and_only_it_is_removed(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, "# vendor\n" + RULE_B + 'KERNEL=="sdb" ,SYMLINK+="nas/disk0"\n' + 'KERNEL=="z", GROUP="g"\n')
        status, [item] = findings(tree, udev_drift, policy("absent", content=RULE_A))
        assert status == 1
        assert (item["status"], item["message"]) == ("unexpected", "1 unwanted rule present at line 3")
        removed = [line for line in item["diff"].splitlines() if line.startswith("-") and not line.startswith("---")]
        assert removed == ['-KERNEL=="sdb" ,SYMLINK+="nas/disk0"']

    def test_a_rule_spread_over_continuation_lines_is_removed_whole(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, 'KERNEL=="sdb", \\\n   SYMLINK+="nas/disk0"\nKERNEL=="z", GROUP="g"\n')
        status, [item] = findings(tree, udev_drift, policy("absent", content=RULE_A))
        assert item["status"] == "unexpected" and item["diff"].count("\n-") == 2

    def test_absent_rules_and_a_missing_file_are_compliant(self, tree: HostTree, udev_drift: Run) -> None:
        status, [item] = findings(tree, udev_drift, policy("absent", content=RULE_A))
        assert status == 0 and item["status"] == "ok"


class TestOwnedFile:
    def test_the_same_rules_in_another_form_are_kept(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, "# managed elsewhere\n\n" + RULE_A.replace(", ", " ") + RULE_B)
        status, [item] = findings(tree, udev_drift, policy("file"))
        assert status == 0, item

    def test_an_extra_rule_is_drift_and_the_fix_is_the_policys_content(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(LOCAL, RULE_A + RULE_B + 'KERNEL=="sdz", GROUP="disk"\n')
        status, [item] = findings(tree, udev_drift, policy("file"))
        assert status == 1 and item["status"] == "changed"
        assert '-KERNEL=="sdz", GROUP="disk"' in item["diff"]

    def test_a_missing_file_is_missing(self, tree: HostTree, udev_drift: Run) -> None:
        status, [item] = findings(tree, udev_drift, policy("file"))
        assert (status, item["status"]) == (1, "missing")


class TestSearchPath:
    VENDOR_FILE = "/usr/lib/udev/rules.d/61-local-disks.rules"

    def test_a_same_named_file_in_etc_shadows_the_managed_one(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(self.VENDOR_FILE, RULE_A + RULE_B)
        tree.write(LOCAL, 'KERNEL=="other", GROUP="disk"\n')
        status, [item] = findings(tree, udev_drift, policy("file", file=self.VENDOR_FILE))
        assert status == 1 and item["status"] == "shadowed"
        assert f"udev reads {LOCAL} instead" in item["message"]

    def test_a_link_to_dev_null_masks_the_name(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(self.VENDOR_FILE, RULE_A + RULE_B)
        tree.link(LOCAL, "/dev/null")
        status, [item] = findings(tree, udev_drift, policy("file", file=self.VENDOR_FILE))
        assert status == 1 and item["status"] == "masked"
        assert f"{LOCAL} links to /dev/null" in item["message"]

    def test_the_managed_file_itself_masked_is_drift(self, tree: HostTree, udev_drift: Run) -> None:
        tree.link(LOCAL, "/dev/null")
        status, [item] = findings(tree, udev_drift, policy("lines"))
        assert status == 1 and item["status"] == "masked"

    def test_lib_and_usr_lib_are_one_directory_on_merged_usr_hosts(self, tree: HostTree, udev_drift: Run) -> None:
        tree.write(self.VENDOR_FILE, RULE_A + RULE_B)
        tree.link("/lib", "usr/lib")
        status, [item] = findings(tree, udev_drift, policy("file", file="/lib/udev/rules.d/61-local-disks.rules"))
        assert status == 0, item

    def test_a_file_outside_udevs_rules_directories_is_refused(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(policy("file", file="/srv/rules/61-local-disks.rules"))
        result = udev_drift("check", "--root", tree.root)
        assert result.status == 2
        assert "at 'rules[0].file': file must be in one of udev's rules directories" in result.err

    @pytest.mark.parametrize("ensure", ["lines", "file"])
    def test_a_directory_where_the_file_should_be_is_drift(self, tree: HostTree, udev_drift: Run, ensure: str) -> None:
        tree.path(LOCAL).mkdir(parents=True)
        status, [item] = findings(tree, udev_drift, policy(ensure))
        assert (status, item["status"]) == (1, "not-a-file")
