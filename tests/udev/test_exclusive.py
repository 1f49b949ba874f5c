"""`exclusive: true`: a disk for a VM alone must not be mounted, swapped on or held by the
host (md, LVM, dm): the guest would see it busy.

The first tests use the real kernel and libudev. Inside the test's namespace a file
system that lives on a real block device (the root's, usually) is bind-mounted at
tmp/backup, and the partition sdd1 of a umockdev disk is given that device's number: the
kernel's own /proc/self/mountinfo then lists sdd1 as mounted there. (A tmpfs would not
do: its number has major 0, which libudev reads as "no device number".) sde is held by
dm-0 in umockdev's sysfs. The last tests read /proc and /sys trees written by the test
(every root is injectable).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

import pytest

from checker.observe.udev import BlockDevice, UdevState
from checker.observe.usage import HostUsage, Use
from tests.conftest import HostTree, Result
from tests.udev.harness import DEVICES, Db, run_live

MOUNTED_POLICY = """\
version: 1
name: nas-disk
symlinks:
  - link: /dev/xapi/block/nas
    device: {serial: WDC_WD40EFRX-68N32N0_WD-WCC7K7654321}
    exclusive: %s
"""


def mounted(tmp_path: Path, exclusive: str) -> dict:
    """sdd (serial ...7654321) with its partition sdd1 mounted at tmp/backup."""
    backup = tmp_path / "backup"
    backup.mkdir()
    setup = f"""\
        on_a_disk=$(awk '$3 !~ /^0:/ {{print $5; exit}}' /proc/self/mountinfo)
        [ -n "$on_a_disk" ] || {{ echo "no file system on a block device is mounted" > {tmp_path}/skip; exit 0; }}
        mount --bind "$on_a_disk" {backup}
        IFS=: read -r major minor < <(mountpoint -d {backup})
        grep -c " $major:$minor " /proc/self/mountinfo > {tmp_path}/mounts
        sed "s/@MAJOR@/$major/g; s/@MINOR@/$minor/g" {DEVICES}/mounted-disk.umockdev > {tmp_path}/mounted-disk.umockdev
        mknod /dev/sdd1 b "$major" "$minor"
        printf 'E:ID_SERIAL=WDC_WD40EFRX-68N32N0_WD-WCC7K7654321\\nE:ID_FS_TYPE=ext4\\nI:1\\n' > "/run/udev/data/b$major:$minor"
    """
    done = run_live(tmp_path, ["check", "{policies}", "--state-dir", "{state}", "--format", "json"],
                    devices=[str(tmp_path / "mounted-disk.umockdev")], setup=setup,
                    nodes_from=[DEVICES / "mounted-disk.umockdev"],
                    db={"sdd": Db(["xapi/block/nas"], {"ID_SERIAL": "WDC_WD40EFRX-68N32N0_WD-WCC7K7654321"})},
                    links={"/dev/xapi/block/nas": "../../sdd"}, policy=MOUNTED_POLICY % exclusive)
    assert done.status in (0, 1), done.err
    return done.findings()["/dev/xapi/block/nas"]


def test_a_mounted_partition_of_an_exclusive_disk_is_held_by_host(tmp_path: Path) -> None:
    found = mounted(tmp_path, "true")
    assert (found["status"], found["drift"]) == ("held-by-host", True), found
    assert found["message"].startswith("the host uses /dev/sdd, which is for a VM alone (exclusive): "
                                       "sdd1 is mounted at ")
    if int((tmp_path / "mounts").read_text()) <= 3:  # else the message names 3 "and N more"
        assert f"{tmp_path}/backup" in found["message"]
    assert "a VM given this disk sees it busy" in found["details"][0]


def test_the_same_mount_is_no_drift_without_exclusive(tmp_path: Path) -> None:
    assert mounted(tmp_path, "false")["status"] == "ok"


def test_a_disk_held_by_lvm_is_held_by_host(tmp_path: Path) -> None:
    policy = """\
        version: 1
        name: vm-disk
        symlinks:
          - link: /dev/xapi/block/vm
            device: {wwn: '0x5000cca26bd1e2f3'}
            exclusive: true
    """
    done = run_live(tmp_path, ["check", "{policies}", "--state-dir", "{state}", "--format", "json"],
                    db={"sde": Db(["xapi/block/vm"], {"ID_WWN": "0x5000cca26bd1e2f3"}),
                        "dm-0": Db(["mapper/vg0-data"], {"DM_NAME": "vg0-data",
                                                         "DM_UUID": "LVM-Xx1yZz2AbCdEfGh"})},
                    links={"/dev/xapi/block/vm": "../../sde"}, policy=policy)
    found = done.findings()["/dev/xapi/block/vm"]
    assert (done.status, found["status"]) == (1, "held-by-host"), found
    assert found["message"].endswith("(exclusive): sde is held by dm-0 (LVM, vg0-data)")


def test_a_swap_partition_is_found_by_the_number_of_its_node(tmp_path: Path) -> None:
    """Real libudev, /proc/swaps from a tree: the swap's name is stat()ed for its number."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "swaps").write_text("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                                "/dev/sdb1                               partition\t2097148\t\t0\t\t-2\n")
    policy = """\
        version: 1
        name: swap
        symlinks:
          - link: /dev/xapi/block/sdb
            target: /dev/sdb
            exclusive: true
    """
    script = f"""if True:
        import json
        from checker import engine
        from checker.observe.devices import LiveDevices
        from checker.host import Host
        from checker.observe.udev import observe_block_devices
        from checker.observe.usage import HostUsage
        host = Host("/")
        live = LiveDevices(host, observe_block_devices(), HostUsage(proc="{proc}", sys="/sys"))
        report = engine.check(engine.load_desired(["{tmp_path}/policies"]), host, devices=live)
        print(json.dumps(report.to_json()))
    """
    done = run_live(tmp_path, ["-c", script], python=True, policy=policy,
                    db={"sdb": Db(["xapi/block/sdb"])}, links={"/dev/xapi/block/sdb": "../../sdb"})
    found = done.findings()["/dev/xapi/block/sdb"]
    assert found["status"] == "held-by-host", (found, done.err)
    assert found["message"].endswith("(exclusive): sdb1 is used as swap (/dev/sdb1)")


# -- the readers, on trees -------------------------------------------------------------------

def disk(name: str, devnum: int, parent: str | None = None) -> BlockDevice:
    return BlockDevice(name, f"/sys/devices/x/{name}", "partition" if parent else "disk",
                       f"/dev/{name}", devnum, parent)


def test_mountinfo_is_read_by_device_number_with_escaped_mount_points(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self/mountinfo").write_text(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "90 22 8:17 / /srv/vm\\040backups rw,relatime shared:40 - xfs /dev/sdb1 rw\n"
        "91 22 8:18 /snap /mnt/two rw - btrfs /dev/nonexistent rw\n")
    usage = HostUsage(proc=str(tmp_path), sys=str(tmp_path / "no-sys"))
    state = UdevState([disk("sdb", os.makedev(8, 16)), disk("sdb1", os.makedev(8, 17), "sdb"),
                       disk("sdb2", os.makedev(8, 18), "sdb"), disk("sdc", os.makedev(8, 32))])
    assert usage.uses(state.by_name["sdb"], state) == [Use("sdb1", "mounted", "/srv/vm backups"),
                                                        Use("sdb2", "mounted", "/mnt/two")]
    assert usage.uses(state.by_name["sdc"], state) == []


def test_holders_of_the_disk_and_of_each_partition_are_read_from_sys(tmp_path: Path) -> None:
    for name, holders in (("sdb", ["md127"]), ("sdb1", ["dm-3"]), ("sdc", [])):
        (tmp_path / "class/block" / name / "holders").mkdir(parents=True)
        for holder in holders:
            (tmp_path / "class/block" / name / "holders" / holder).symlink_to("../../" + holder)
    dm = BlockDevice("dm-3", "/sys/devices/virtual/block/dm-3", "disk", "/dev/dm-3", os.makedev(253, 3),
                     properties={"DM_NAME": "luks-backup", "DM_UUID": "CRYPT-LUKS2-abc"})
    md = BlockDevice("md127", "/sys/devices/virtual/block/md127", "disk", "/dev/md127",
                     os.makedev(9, 127), properties={"MD_LEVEL": "raid1"})
    state = UdevState([disk("sdb", os.makedev(8, 16)), disk("sdb1", os.makedev(8, 17), "sdb"), dm, md])
    usage = HostUsage(proc=str(tmp_path / "no-proc"), sys=str(tmp_path))
    assert [use.describe() for use in usage.uses(state.by_name["sdb"], state)] == [
        "sdb is held by md127 (md RAID)", "sdb1 is held by dm-3 (dm-crypt, luks-backup)"]


def test_without_proc_nothing_is_known_to_be_used(tmp_path: Path) -> None:
    state = UdevState([disk("sdb", os.makedev(8, 16))])
    assert HostUsage(proc=str(tmp_path), sys=str(tmp_path)).uses(state.by_name["sdb"], state) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes a block device node with mknod")
def test_a_btrfs_mount_is_matched_by_its_source_device(tmp_path: Path) -> None:
    """btrfs shows an anonymous 0:N in mountinfo: the source /dev path gives the number."""
    (tmp_path / "dev/disk/by-label").mkdir(parents=True)
    os.mknod(tmp_path / "dev/sdb1", 0o600 | stat.S_IFBLK, os.makedev(8, 17))  # never opened
    (tmp_path / "dev/disk/by-label/data").symlink_to("../../sdb1")
    (tmp_path / "self").mkdir()
    (tmp_path / "self/mountinfo").write_text("91 22 0:48 / /data rw - btrfs /dev/disk/by-label/data rw\n")
    state = UdevState([disk("sdb", os.makedev(8, 16)), disk("sdb1", os.makedev(8, 17), "sdb")])
    usage = HostUsage(proc=str(tmp_path), sys=str(tmp_path), dev=str(tmp_path / "dev"))
    assert usage.uses(state.by_name["sdb"], state) == [Use("sdb1", "mounted", "/data")]


def test_exclusive_is_a_strict_boolean_carried_to_desired_state(tmp_path: Path) -> None:
    from checker.engine import load_desired
    from checker.errors import PolicyError

    (tmp_path / "p.yaml").write_text("version: 1\nname: p\nsymlinks:\n  - link: /dev/xapi/block/{{ item }}\n"
                                     "    for_each: [sdb]\n    target: /dev/{{ item }}\n    exclusive: true\n")
    assert load_desired([str(tmp_path / "p.yaml")])[0].symlinks[0].exclusive is True
    (tmp_path / "p.yaml").write_text("version: 1\nname: p\nsymlinks:\n  - link: /dev/xapi/block/sdb\n"
                                     "    target: /dev/sdb\n    exclusive: 'yes'\n")
    with pytest.raises(PolicyError, match=r"symlinks\[0\]\.exclusive"):
        load_desired([str(tmp_path / "p.yaml")])


def test_under_root_exclusive_is_not_checked_and_the_finding_says_so(tree: HostTree,
                                                                     udev_drift: Callable[..., Result]) -> None:
    tree.write("/dev/sdb", "")
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    tree.write("/etc/udev/rules.d/50-local.rules", 'KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n')
    tree.policy("version: 1\nname: p\nsymlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"
                "    exclusive: true\n")
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    [found] = result.json()["policies"][0]["findings"]
    assert (result.status, found["status"]) == (0, "ok")
    assert found["details"] == ["exclusive: not checked under --root (mounts, swaps and holders are the "
                                "running host's, not the tree's)"]
