"""Symlink entries on a live host, with real libudev on devices faked by umockdev.

One run checks a policy whose every entry is one situation (a link that is right, gone,
pointing elsewhere, made by hand, claimed by two devices ...), so each test below reads
one finding of that run. The udev database is what udev 252 writes (S: links relative
to /dev, E: properties); the links are real links in the namespace's private /dev.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.udev.harness import Db, Run, run_live

WDC = "WDC_WD40EFRX-68N32N0_WD-WCC7K1234567"
WDC_SHORT = "WD-WCC7K1234567"
WDC_WWN = "0x50014ee2b5c4f1a2"
SEAGATE = "ST4000VN008-2DR166_ZDH1ABCD"
SEAGATE_WWN = "0x5000c500a1b2c3d4"
LUN = "3600a098038303053453f463045727a41"


def ata(serial: str, short: str, wwn: str, port: int) -> dict[str, str]:
    return {"ID_BUS": "ata", "ID_SERIAL": serial, "ID_SERIAL_SHORT": short, "ID_WWN": wwn,
            "ID_WWN_WITH_EXTENSION": wwn, "ID_PATH": f"pci-0000:00:1f.2-ata-{port}",
            "ID_MODEL": serial.rsplit("_", 1)[0]}


DB = {
    "sda": Db(["disk/by-id/ata-Samsung_SSD_860_EVO_S3Z1NB0K123456A"],
              ata("Samsung_SSD_860_EVO_S3Z1NB0K123456A", "S3Z1NB0K123456A", "0x5002538e40a1b2c3", 1)),
    "sdb": Db([f"disk/by-id/ata-{WDC}", f"disk/by-id/wwn-{WDC_WWN}", "disk/by-path/pci-0000:00:1f.2-ata-2",
               "xapi/block/by-serial", "xapi/block/by-short-serial", "xapi/block/by-path",
               "xapi/block/by-node", "xapi/block/removed", "xapi/block/shared"],
              ata(WDC, WDC_SHORT, WDC_WWN, 2)),
    "sdb1": Db([f"disk/by-id/ata-{WDC}-part1", "xapi/block/partition"],
               {**ata(WDC, WDC_SHORT, WDC_WWN, 2), "ID_PART_ENTRY_NUMBER": "1"}),
    "sdc": Db([f"disk/by-id/ata-{SEAGATE}", "xapi/block/by-wwn", "xapi/block/moved", "xapi/block/shared",
               "xapi/block/typo"],
              ata(SEAGATE, "ZDH1ABCD", SEAGATE_WWN, 3)),
    "sdf": Db([], {"ID_SERIAL": LUN, "ID_WWN": "0x600a098038303053", "ID_PATH": "pci-0000:00:1f.2-ata-6"}),
    "sdg": Db([], {"ID_SERIAL": LUN, "ID_WWN": "0x600a098038303053", "ID_PATH": "pci-0000:00:1f.2-ata-7"}),
}

POLICY = f"""\
version: 1
name: live
symlinks:
  - link: /dev/xapi/block/by-serial
    device: {{serial: {WDC}}}
  - link: /dev/xapi/block/by-short-serial
    device: {{serial: {WDC_SHORT}}}
  - link: /dev/xapi/block/by-wwn
    device: {{wwn: '{SEAGATE_WWN}'}}
  - link: /dev/xapi/block/by-path
    device: {{path: 'pci-0000:00:1f.2-ata-2'}}
  - link: /dev/xapi/block/by-node
    target: /dev/sdb
  - link: /dev/xapi/block/partition
    device: {{kernel: sdb1}}
  - link: /dev/xapi/block/removed
    device: {{serial: {WDC}}}
  - link: /dev/xapi/block/no-rule
    target: /dev/sdc
  - link: /dev/xapi/block/moved
    device: {{wwn: '{WDC_WWN}'}}
  - link: /dev/xapi/block/by-hand
    device: {{serial: {SEAGATE}}}
  - link: /dev/xapi/block/shared
    target: /dev/sdb
  - link: /dev/xapi/block/dangling
    device: {{serial: {WDC}}}
  - link: /dev/xapi/block/a-file
    device: {{serial: {WDC}}}
  - link: /dev/xapi/block/unplugged
    device: {{serial: WDC_WD80EFAX-68KNBN0_VAGZ0000}}
  - link: /dev/xapi/block/unplugged-required
    device: {{serial: WDC_WD80EFAX-68KNBN0_VAGZ0001}}
    required: true
  - link: /dev/xapi/block/typo
    device: {{serial: ST4000VN008-2DR166_ZDH1ABCE}}
  - link: /dev/xapi/block/two-paths
    device: {{serial: {LUN}}}
"""

LINKS = {
    "/dev/xapi/block/by-serial": "../../sdb",
    "/dev/xapi/block/by-short-serial": "../../sdb",
    "/dev/xapi/block/by-wwn": "../../sdc",
    "/dev/xapi/block/by-path": "../../sdb",
    "/dev/xapi/block/by-node": "/dev/sdb",  # absolute: the same node as ../../sdb
    "/dev/xapi/block/partition": "../../sdb1",
    "/dev/xapi/block/moved": "../../sdc",
    "/dev/xapi/block/by-hand": "../../sdc",
    "/dev/xapi/block/shared": "../../sdb",
    "/dev/xapi/block/dangling": "../../sdx",
    "/dev/xapi/block/typo": "../../sdc",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_live(tmp_path_factory.mktemp("live"), ["check", "{policies}", "--state-dir", "{state}", "--format", "json"],
                    db=DB, links=LINKS, files=["/dev/xapi/block/a-file"], policy=POLICY)


@pytest.fixture(scope="module")
def findings(run: Run) -> dict[str, dict[str, Any]]:
    return run.findings()


def item(findings: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return findings[f"/dev/xapi/block/{name}"]


def test_drift_makes_the_check_exit_1_with_one_finding_per_entry(run: Run) -> None:
    assert run.status == 1, run.err
    assert len(run.findings()) == POLICY.count("- link:")


@pytest.mark.parametrize("name, device", [("by-serial", "serial"), ("by-short-serial", "serial"),
                                          ("by-path", "path"), ("by-node", "/dev/sdb")])
def test_a_link_udev_made_for_the_disk_is_ok(findings: dict, name: str, device: str) -> None:
    found = item(findings, name)
    assert (found["status"], found["drift"]) == ("ok", False), found
    assert found["message"].endswith("is present as /dev/sdb), known to udev")
    assert device in found["message"]


def test_a_disk_named_by_wwn_is_found_by_its_wwn(findings: dict) -> None:
    found = item(findings, "by-wwn")
    assert found["status"] == "ok", found
    assert found["message"] == f"-> ../../sdc (device wwn {SEAGATE_WWN} is present as /dev/sdc), known to udev"


def test_a_partition_named_by_kernel_name_is_ok(findings: dict) -> None:
    assert item(findings, "partition")["status"] == "ok"


def test_a_link_udev_lists_but_someone_removed_is_missing(findings: dict) -> None:
    found = item(findings, "removed")
    assert (found["status"], found["drift"]) == ("missing", True)
    assert found["message"] == f"missing (device serial {WDC} is present as /dev/sdb)"
    assert found["details"] == ["udev's database lists it for /dev/sdb: it was removed by hand; "
                                "a trigger of the device makes it again"]


def test_a_link_no_rule_makes_is_missing_and_says_so(findings: dict) -> None:
    found = item(findings, "no-rule")
    assert found["status"] == "missing"
    assert found["details"] == ["udev's database lists it for no device: no rule makes it for /dev/sdc",
                                "udev would not make it at the next event either: no rules file has a "
                                "rule that gives sdc this link"]
    assert found["effect"] == "no"


def test_a_link_to_another_disk_is_wrong_target_and_names_that_disk(findings: dict) -> None:
    found = item(findings, "moved")
    assert (found["status"], found["message"]) == ("wrong-target", "points to /dev/sdc instead of /dev/sdb")
    assert found["details"][0] == f"it points to /dev/sdc (serial {SEAGATE}, wwn {SEAGATE_WWN})"
    assert "a rule gives it to that device" in found["details"][1]


def test_a_link_made_by_hand_is_unknown_to_udev(findings: dict) -> None:
    found = item(findings, "by-hand")
    assert (found["status"], found["drift"]) == ("unknown-to-udev", True)
    assert found["message"].startswith("made by hand: it will vanish at the next boot (-> ../../sdc")


def test_a_link_two_devices_claim_is_claimed(findings: dict) -> None:
    found = item(findings, "shared")
    assert (found["status"], found["drift"]) == ("claimed", True)
    assert found["message"].startswith(f"also claimed by /dev/sdc (serial {SEAGATE}")


def test_a_dangling_link_and_a_file_are_drift(findings: dict) -> None:
    assert item(findings, "dangling")["status"] == "dangling"
    assert item(findings, "a-file")["status"] == "not-a-link"


def test_an_unplugged_disk_is_absent_and_drift_only_when_required(findings: dict) -> None:
    assert (item(findings, "unplugged")["status"], item(findings, "unplugged")["drift"]) == ("absent", False)
    assert (item(findings, "unplugged-required")["status"],
            item(findings, "unplugged-required")["drift"]) == ("absent", True)


def test_an_absent_device_names_the_disk_udev_gives_the_link_to(findings: dict) -> None:
    found = item(findings, "typo")
    assert (found["status"], found["drift"]) == ("absent", False)
    assert found["details"] == ["the link exists and points to ../../sdc",
                                f"udev's database lists the link for /dev/sdc (serial {SEAGATE}, wwn {SEAGATE_WWN})"]


def test_a_serial_two_disks_share_is_ambiguous(findings: dict) -> None:
    found = item(findings, "two-paths")
    assert (found["status"], found["drift"]) == ("ambiguous", True)
    assert found["message"] == (f"serial {LUN} names 2 devices: /dev/sdf (path pci-0000:00:1f.2-ata-6), "
                                "/dev/sdg (path pci-0000:00:1f.2-ata-7); name the one meant by its "
                                "path, or use the multipath map")


def test_a_compliant_live_host_exits_0_and_says_known_to_udev(tmp_path: Path) -> None:
    policy = f"""\
        version: 1
        name: xenserver-local-sata
        symlinks:
          - link: /dev/xapi/block/sdb
            device: {{serial: {WDC}}}
            required: true
    """
    done = run_live(tmp_path, ["check", "{policies}", "--state-dir", "{state}", "--color", "never"], policy=policy,
                    db={"sdb": Db(["xapi/block/sdb"], ata(WDC, WDC_SHORT, WDC_WWN, 2))},
                    links={"/dev/xapi/block/sdb": "../../sdb"})
    assert done.status == 0, done.err
    assert (f"✓ link  /dev/xapi/block/sdb  -> ../../sdb (device serial {WDC} is present as "
            "/dev/sdb), known to udev") in done.out


def test_a_root_check_reads_the_tree_and_never_loads_pyudev(tmp_path: Path) -> None:
    """Under --root the tree's files decide, even with libudev at hand (inside umockdev)."""
    tree = tmp_path / "tree"
    (tree / "dev/xapi/block").mkdir(parents=True)
    (tree / "dev/sdb").write_text("")
    (tree / "dev/xapi/block/sdb").symlink_to("../../sdb")
    (tree / "etc/udev/rules.d").mkdir(parents=True)
    (tree / "etc/udev/rules.d/50-local.rules").write_text('KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n')
    script = (f"import sys, json; from checker.cli import main; status = main(['check', '--root', "
              f"'{tree}', '{tmp_path}/policies', '--state-dir', '{tmp_path}/state', '--format', 'json']); print(json.dumps(['pyudev' in "
              "sys.modules, status]), file=sys.stderr)")
    policy = "version: 1\nname: tree\nsymlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"
    done = run_live(tmp_path, ["-c", script], policy=policy, python=True)
    assert json.loads(done.err.strip().splitlines()[-1]) == [False, 0], done.err
