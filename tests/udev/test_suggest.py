"""`udev-drift suggest`: where a policy relies on a kernel name, the stable key to use.

The first tests run the command under umockdev with real libudev; the others call the
pure part with a generated host.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checker.check.suggest import suggestions, unstable_names
from checker.engine import load_desired
from checker.observe.udev import BlockDevice, UdevState
from checker.rules.parsed import parse_rules
from tests.udev.harness import Db, Run, run_live

WDC = "WDC_WD40EFRX-68N32N0_WD-WCC7K1234567"
WWN = "0x50014ee2b5c4f1a2"
XEN = """\
version: 1
name: xenserver-local-sata
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    for_each: [sdb, sdz]
    content: |
      ACTION=="add", KERNEL=="{{ item }}", SYMLINK+="xapi/block/%k", RUN+="/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'"
      ACTION=="remove", KERNEL=="{{ item }}", RUN+="/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'"
  - file: /etc/udev/rules.d/61-backup.rules
    ensure: file
    content: |
      KERNEL=="sdb1", SYMLINK+="backup/part1"
      KERNEL=="sd*", ENV{ID_SERIAL}=="x", SYMLINK+="by-glob"
symlinks:
  - link: /dev/xapi/block/{{ item }}
    for_each: [sdb]
    target: /dev/{{ item }}
  - link: /dev/xapi/block/nas
    device: {wwn: '0x50014ee2b5c4f1a2'}
"""
DB = {"sdb": Db(["xapi/block/sdb"], {"ID_SERIAL": WDC, "ID_SERIAL_SHORT": "WD-WCC7K1234567",
                                     "ID_WWN": WWN, "ID_PATH": "pci-0000:00:1f.2-ata-2"}),
      "sdb1": Db([], {"ID_SERIAL": WDC, "ID_WWN": WWN, "ID_PART_ENTRY_NUMBER": "1"})}


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_live(tmp_path_factory.mktemp("suggest"), ["suggest", "{policies}"], db=DB, policy=XEN)


def test_suggest_exits_1_and_counts_each_reliance_on_a_kernel_name(text: Run) -> None:
    assert text.status == 1, text.err
    assert text.out.rstrip().endswith(
        "4 warnings · kernel names can change between boots; serials and WWNs do not")


def test_a_kernel_match_gets_the_disk_serial_and_wwn_with_devtype(text: Run) -> None:
    assert (
        '  ! rules[0][sdb] /etc/udev/rules.d/50-udev.rules: KERNEL=="sdb" names a disk by its kernel '
        "name, which can change at boot (content lines 1, 2)\n"
        f"      on this host sdb is /dev/sdb (serial {WDC}, wwn {WWN})\n"
        f'      match it with: ENV{{DEVTYPE}}=="disk", ENV{{ID_SERIAL}}=="{WDC}"\n'
        f'      or: ENV{{DEVTYPE}}=="disk", ENV{{ID_WWN}}=="{WWN}"\n'
        '      or: ENV{DEVTYPE}=="disk", ENV{ID_PATH}=="pci-0000:00:1f.2-ata-2"\n'
        f'      the rule becomes: ACTION=="add", ENV{{DEVTYPE}}=="disk", ENV{{ID_SERIAL}}=="{WDC}", '
        "SYMLINK+=\"xapi/block/%k\", RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change "
        "%k 2>&1 >/dev/null&'\"\n"
        "      note: udev reads 50-udev.rules before 60-persistent-storage.rules, which sets ID_SERIAL, "
        "ID_WWN and ID_PATH: on an add event they are not set yet. Put the rule in a file that sorts "
        "after it, such as /etc/udev/rules.d/61-xenserver-local-sata.rules\n") in text.out, text.out


def test_a_disk_not_on_this_host_says_how_to_read_its_serial_where_it_is(text: Run) -> None:
    assert ("KERNEL==\"sdz\" names a disk by its kernel name, which can change at boot (content lines 1, 2)\n"
            "      note: sdz is not on this host now: run suggest where it is, or read its serial "
            "there with `udevadm info --query=property --name=/dev/sdz`\n") in text.out


def test_a_partition_is_matched_by_its_disk_serial_and_its_number(text: Run) -> None:
    assert (f'match it with: ENV{{DEVTYPE}}=="partition", ENV{{ID_SERIAL}}=="{WDC}", '
            'ENV{ID_PART_ENTRY_NUMBER}=="1"') in text.out
    assert "61-backup.rules before" not in text.out  # read after 60-persistent-storage.rules


def test_a_symlink_entry_by_node_gets_the_device_serial_form(text: Run) -> None:
    assert ("  ! symlinks[0][sdb] /dev/xapi/block/sdb: target: /dev/sdb names the disk by its kernel name, "
            "which can change at boot\n"
            f"      on this host sdb is /dev/sdb (serial {WDC}, wwn {WWN})\n"
            f"      use: device: {{serial: {WDC}}}\n") in text.out


def test_globs_and_stable_identities_are_not_warned_about(text: Run) -> None:
    assert "sd*" not in text.out and "/dev/xapi/block/nas" not in text.out


def test_json_lists_each_suggestion_with_the_device_and_its_forms(tmp_path: Path) -> None:
    done = run_live(tmp_path, ["suggest", "{policies}", "--format", "json"], db=DB, policy=XEN)
    assert done.status == 1, done.err
    first = done.json()["suggestions"][0]
    assert first["entry"] == "rules[0][sdb]" and first["present"] is True
    assert first["device"] == {"node": "/dev/sdb", "serial": WDC, "wwn": WWN, "path": "pci-0000:00:1f.2-ata-2"}
    assert first["keys"][0] == f'ENV{{DEVTYPE}}=="disk", ENV{{ID_SERIAL}}=="{WDC}"'
    link = [s for s in done.json()["suggestions"] if s["kind"] == "symlink"][0]
    assert link["device_form"] == {"serial": WDC}


def test_a_policy_on_stable_keys_only_exits_0(tmp_path: Path) -> None:
    policy = "version: 1\nname: ok\nsymlinks:\n  - link: /dev/xapi/block/nas\n    device: {serial: X}\n"
    done = run_live(tmp_path, ["suggest", "{policies}"], policy=policy)
    assert (done.status, done.out.splitlines()[-1]) == (0, "no rule or link relies on a kernel name")


# -- the pure part ----------------------------------------------------------------------------

def host() -> UdevState:
    sdb = BlockDevice("sdb", "/sys/devices/x/block/sdb", "disk", "/dev/sdb", os.makedev(8, 16),
                      properties={"ID_SERIAL": WDC, "ID_WWN": WWN}, initialized=True)
    sdc = BlockDevice("sdc", "/sys/devices/x/block/sdc", "disk", "/dev/sdc", os.makedev(8, 32),
                      properties={"ID_WWN_WITH_EXTENSION": "0x5000c500a1b2c3d4"}, initialized=True)
    return UdevState([sdb, sdc])


def test_unstable_names_are_literal_kernel_names_of_disks_and_partitions() -> None:
    assert unstable_names("sdb|sdc") == ["sdb", "sdc"]
    assert unstable_names("nvme0n1p2") == ["nvme0n1p2"]
    assert unstable_names("sd*|md127|dm-3|loop0|ttyS0") == ["md127", "dm-3"]


def test_what_suggest_proposes_loads_back_as_a_valid_policy(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(XEN.replace("sdz", "sdc"))
    found = suggestions(load_desired([str(tmp_path / "p.yaml")]), host())
    sdc = [s for s in found if s.kernel == "sdc"][0]
    assert sdc.keys == ['ENV{DEVTYPE}=="disk", ENV{ID_WWN_WITH_EXTENSION}=="0x5000c500a1b2c3d4"']
    for suggestion in found:
        if suggestion.rewritten:
            [rule] = parse_rules(suggestion.rewritten + "\n").rules
            assert rule.problem is None and not any(t.key == "KERNEL" for t in rule.tokens)
    # The symlink form, written into a policy, validates.
    [link] = [s for s in found if s.kind == "symlink"]
    assert link.policy_form == {"serial": WDC}
    (tmp_path / "q.yaml").write_text(f"version: 1\nname: q\nsymlinks:\n  - link: /dev/xapi/block/nas\n"
                                     f"    device: {{serial: {WDC}}}\n")
    assert load_desired([str(tmp_path / "q.yaml")])[0].symlinks[0].device.value == WDC


def test_rules_that_must_be_absent_are_not_warned_about(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("version: 1\nname: p\nrules:\n  - file: /etc/udev/rules.d/50-x.rules\n"
                                     "    ensure: absent\n    content: 'KERNEL==\"sdb\", RUN+=\"x\"'\n")
    assert suggestions(load_desired([str(tmp_path / "p.yaml")]), host()) == []


def test_without_libudev_the_warning_stands_with_how_to_find_the_serial(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(XEN)
    found = suggestions(load_desired([str(tmp_path / "p.yaml")]), None)
    assert len(found) == 4 and found[0].keys == []
    assert found[0].notes == ["libudev is not available here: on the host, run `udevadm info "
                              "--query=property --name=/dev/sdb` for its ID_SERIAL and ID_WWN"]
