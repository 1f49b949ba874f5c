"""The libudev observer: plain values out of pyudev, one enumeration, and errors as one line."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker.host import Host
from checker.observe.devices import DeviceFinder, LiveDevices, devices_for
from checker.observe.udev import BlockDevice, UdevState
from checker.policy.desired import DesiredPolicy, DesiredSymlink, DeviceRef
from tests.namespace import REPO, run_private
from tests.udev.harness import Db, run_live

DUMP = """if True:
    import json, os
    from checker.observe.udev import observe_block_devices
    state = observe_block_devices()
    print(json.dumps({d.sys_name: [d.devtype, d.node, os.major(d.devnum), os.minor(d.devnum), d.parent,
                                   list(d.links), d.properties.get("ID_SERIAL"), d.initialized]
                      for d in state.devices}))
"""


def test_devices_properties_and_links_come_from_libudev_and_its_database(tmp_path: Path) -> None:
    done = run_live(tmp_path, ["-c", DUMP], python=True,
                    db={"sdb": Db(["xapi/block/sdb", "disk/by-id/wwn-0x50014ee2b5c4f1a2"],
                                  {"ID_SERIAL": "WDC_WD40EFRX-68N32N0_WD-WCC7K1234567"})})
    assert done.status == 0, done.err
    devices = json.loads(done.out)
    assert devices["sdb"] == ["disk", "/dev/sdb", 8, 16, None,
                              ["/dev/disk/by-id/wwn-0x50014ee2b5c4f1a2", "/dev/xapi/block/sdb"],
                              "WDC_WD40EFRX-68N32N0_WD-WCC7K1234567", True]
    # A partition knows its disk; a device udev never processed has no links and says so.
    assert devices["sdb1"] == ["partition", "/dev/sdb1", 8, 17, "sdb", [], None, False]
    assert set(devices) == {"sda", "sda1", "sdb", "sdb1", "sdc", "sde", "sdf", "sdg", "dm-0"}


def check_line(result: subprocess.CompletedProcess[str]) -> tuple[int, list[str]]:
    return result.returncode, result.stderr.strip().splitlines()


POLICY = "version: 1\nname: p\nsymlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"


def write_policy(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(POLICY)
    return tmp_path / "p.yaml"


def test_without_sysfs_a_check_fails_with_one_line_and_exit_3(tmp_path: Path) -> None:
    """As in a container without /sys: an empty tmpfs stands over /sys in the namespace."""
    policy = write_policy(tmp_path)
    done = run_private(f"mount -t tmpfs tmpfs /sys\n$UDEV_DRIFT check {policy} --state-dir {tmp_path} "
                       f"|| echo \"exit $?\"")
    assert done.stdout.strip().splitlines()[-1] == "exit 3", (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [
        "udev-drift: /sys/class/block is missing: sysfs is not mounted, so libudev cannot list the "
        "block devices (mount sysfs on /sys, or check a tree with --root DIR)"]


def test_without_libudev_a_check_fails_with_one_line_and_exit_3(tmp_path: Path) -> None:
    """libudev.so.1 replaced by an empty file, inside the namespace only."""
    name = ctypes.util.find_library("udev")
    found = [os.path.join(d, name) for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                             "/usr/lib64", "/lib64", "/usr/lib", "/lib")
             if name and os.path.exists(os.path.join(d, name))]
    if not found:
        pytest.skip("libudev is not where this test knows to hide it")
    library = os.path.realpath(found[0])
    policy = write_policy(tmp_path)
    done = run_private(f"mount --bind /dev/null {library}\n$UDEV_DRIFT check {policy} --state-dir {tmp_path} "
                       f"|| echo \"exit $?\"")
    assert done.stdout.strip().splitlines()[-1] == "exit 3", (done.stdout, done.stderr)
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("udev-drift: cannot use libudev: ") and "Traceback" not in done.stderr


def test_without_pyudev_a_check_fails_with_one_line_and_exit_3(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    code = ("import sys; sys.modules['pyudev'] = None\nfrom checker.cli import main\n"
            f"sys.exit(main(['check', '{policy}', '--state-dir', '{tmp_path}']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert check_line(done) == (3, [
        "udev-drift: cannot use libudev: the Python module pyudev is missing (import of pyudev halted; "
        "None in sys.modules); install it (pip install pyudev), or check a tree with --root DIR"])


# -- which devices, and the indexes -------------------------------------------------------------

def policy(*symlinks: DesiredSymlink) -> DesiredPolicy:
    return DesiredPolicy("p", "p.yaml", None, (), tuple(symlinks), True, True)


def test_libudev_is_asked_only_on_the_running_host_and_only_for_symlinks(tmp_path: Path) -> None:
    link = DesiredSymlink("p", "symlinks[0]", "/dev/x", DeviceRef("node", "/dev/sdb"), False, "p.yaml", 1)
    assert isinstance(devices_for([policy(link)], Host(str(tmp_path))), DeviceFinder)
    assert isinstance(devices_for([policy()], Host("/")), DeviceFinder)
    code = ("import sys\nfrom checker.observe.devices import devices_for\nfrom checker.host import Host\n"
            "from checker.policy.desired import DesiredPolicy\n"
            "devices_for([DesiredPolicy('p', 'p.yaml', None, (), (), True, True)], Host('/'))\n"
            "print('pyudev' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO).stdout.strip() == "False"


def device(name: str, number: int, **props: str) -> BlockDevice:
    partition = name[-1].isdigit() and name.startswith("sd")
    return BlockDevice(name, f"/sys/devices/x/{name}", "partition" if partition else "disk",
                       f"/dev/{name}", number, name.rstrip("0123456789") if partition else None,
                       properties=props)


def test_identities_name_disks_not_the_partitions_that_inherit_them() -> None:
    state = UdevState([device("sdb", 16, ID_SERIAL="S", ID_WWN="W"), device("sdb1", 17, ID_SERIAL="S", ID_WWN="W")])
    assert [d.sys_name for d in state.find("serial", "S")] == ["sdb"]
    assert [d.sys_name for d in state.find("wwn", "W")] == ["sdb"]
    assert [d.sys_name for d in state.find("kernel", "sdb1")] == ["sdb1"]
    assert state.partitions == {"sdb": [state.by_name["sdb1"]]}


def test_the_map_of_a_multipath_lun_is_the_device_its_serial_names() -> None:
    paths = [device(n, i, ID_SERIAL="3600a0980", DM_MULTIPATH_DEVICE_PATH="1") for i, n in ((16, "sdb"), (32, "sdc"))]
    assert len(UdevState(paths).find("serial", "3600a0980")) == 2  # no map: ambiguous
    mapped = UdevState([*paths, device("dm-2", 64770, ID_SERIAL="3600a0980", DM_UUID="mpath-3600a0980")])
    assert [d.sys_name for d in mapped.find("serial", "3600a0980")] == ["dm-2"]


def test_a_node_target_is_found_by_its_device_number_whatever_its_name(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: makes a block device node with mknod")
    (tmp_path / "dev/disk/by-id").mkdir(parents=True)
    os.mknod(tmp_path / "dev/backup-disk", 0o600 | 0o060000, os.makedev(8, 16))  # never opened
    (tmp_path / "dev/disk/by-id/ata-X").symlink_to("../../backup-disk")
    live = LiveDevices(Host(str(tmp_path)), UdevState([device("sdb", os.makedev(8, 16))]))
    assert [d.sys_name for d in live.find(DeviceRef("node", "/dev/disk/by-id/ata-X"))] == ["sdb"]
    assert live.find(DeviceRef("node", "/dev/nothing")) == []
