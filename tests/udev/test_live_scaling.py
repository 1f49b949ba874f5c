"""The live link check is linear: 10,000 block devices and 1,000 symlink entries in < 1 s.

The devices are a generated observer state (what libudev would report); the file side is
real: block device nodes (mknod, never opened) and links in a temporary tree. The time
covers what one run does on the link side: index the devices once, check every entry.
benchmarks/bench_live_links.py prints the whole table.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from checker import engine
from checker.host import Host
from checker.observe.devices import LiveDevices
from checker.observe.udev import BlockDevice, UdevState
from checker.observe.usage import HostUsage
from checker.policy.desired import DesiredPolicy, DesiredSymlink, DeviceRef

DEVICES, ENTRIES = 10_000, 1_000


def test_ten_thousand_devices_and_a_thousand_links_are_checked_within_a_second(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: makes block device nodes with mknod")
    (tmp_path / "dev/xapi/block").mkdir(parents=True)
    (tmp_path / "etc/udev/rules.d").mkdir(parents=True)  # the rule that makes the links
    (tmp_path / "etc/udev/rules.d/50-local.rules").write_text('KERNEL=="sd[0-9]*", SYMLINK+="xapi/block/l%n"\n')
    devices = []
    for i in range(DEVICES):
        number = os.makedev(240 + i // 1024, i % 1024)
        os.mknod(tmp_path / f"dev/sd{i}", 0o600 | stat.S_IFBLK, number)
        links = (f"/dev/xapi/block/l{i}",) if i < ENTRIES else ()
        devices.append(BlockDevice(f"sd{i}", f"/sys/devices/x/sd{i}", "disk", f"/dev/sd{i}", number, None,
                                   links, {"ID_SERIAL": f"S{i}", "ID_WWN": f"0x5{i:015x}"}, True))
    symlinks = []
    for j in range(ENTRIES):
        os.symlink(f"../../sd{j}", tmp_path / f"dev/xapi/block/l{j}")
        ref = DeviceRef("serial", f"S{j}") if j % 2 else DeviceRef("wwn", f"0x5{j:015x}")
        symlinks.append(DesiredSymlink("big", f"symlinks[{j}]", f"/dev/xapi/block/l{j}", ref, True,
                                       "big.yaml", 1, exclusive=j % 10 == 0))
    policies = [DesiredPolicy("big", "big.yaml", None, (), tuple(symlinks), True, True)]
    usage = HostUsage(proc=str(tmp_path / "proc"), sys=str(tmp_path / "sys"), dev=str(tmp_path / "dev"))

    began = time.perf_counter()
    host = Host(str(tmp_path))
    report = engine.check(policies, host, devices=LiveDevices(host, UdevState(devices), usage))
    elapsed = time.perf_counter() - began

    assert report.compliant, report.drifted[:3]
    assert len(report.policies[0].findings) == ENTRIES
    assert elapsed < 1.0, f"{elapsed:.3f} s for {DEVICES} devices and {ENTRIES} entries"
