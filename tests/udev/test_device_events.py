"""Listening to udev's block device events, for `serve` to check at once.

The real test runs libudev's monitor (through pyudev) in a private network namespace and
sends it what systemd-udevd sends after handling a device: a "libudev" message on the
udev netlink group. Netlink groups belong to a network namespace, so nothing outside
the test sees the message, and no daemon of the host acts on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.observe.udev import DeviceEvent
from checker.serve.device_events import EventSource, watch_block_devices, watch_devices_for_serve

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SENDER = r'''
import json, os, socket, struct, sys, threading

def murmur2(data, seed=0):
    """udev's string_hash32: MurmurHash2, for the in-kernel subsystem filter."""
    m, h, i, left = 0x5bd1e995, (seed ^ len(data)) & 0xffffffff, 0, len(data)
    while left >= 4:
        k = struct.unpack_from("<I", data, i)[0]
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        h = ((h * m) & 0xffffffff) ^ ((k * m) & 0xffffffff)
        i, left = i + 4, left - 4
    if left == 3:
        h ^= data[i + 2] << 16
    if left >= 2:
        h ^= data[i + 1] << 8
    if left >= 1:
        h = ((h ^ data[i]) * m) & 0xffffffff
    h = ((h ^ (h >> 13)) * m) & 0xffffffff
    return h ^ (h >> 15)

def send(props):
    """struct monitor_netlink_header (systemd 252), then the properties, NUL-separated."""
    body = b"".join(f"{k}={v}".encode() + b"\0" for k, v in props.items())
    devtype = props.get("DEVTYPE", "").encode()
    header = (b"libudev\0" + struct.pack(">I", 0xfeedcafe) + struct.pack("=III", 40, 40, len(body))
              + struct.pack(">II", murmur2(props["SUBSYSTEM"].encode()), murmur2(devtype) if devtype else 0)
              + struct.pack("=II", 0, 0))
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15) as sock:  # NETLINK_KOBJECT_UEVENT
        sock.bind((0, 0))
        sock.sendto(header + body, (0, 2))  # MONITOR_GROUP_UDEV

from checker.observe.udev import block_events
from checker.serve.device_events import EventSource, watch_block_devices, watch_devices_for_serve

read_fd, write_fd = os.pipe()
events = block_events(read_fd)
calls = threading.Semaphore(0)
stop = watch_block_devices(calls.release)
send({"ACTION": "add", "DEVPATH": "/devices/virtual/net/dummy0", "SUBSYSTEM": "net", "SEQNUM": "1"})
send({"ACTION": "add", "DEVPATH": "/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sdb",
      "SUBSYSTEM": "block", "DEVTYPE": "disk", "DEVNAME": "/dev/sdb", "MAJOR": "8", "MINOR": "16",
      "SEQNUM": "2", "USEC_INITIALIZED": "1"})
send({"ACTION": "change", "DEVPATH": "/devices/virtual/block/sdb", "SUBSYSTEM": "block",
      "DEVTYPE": "disk", "MAJOR": "8", "MINOR": "16", "SEQNUM": "3", "SYNTH_UUID": "0"})
send({"ACTION": "remove", "DEVPATH": "/devices/virtual/block/dm-0", "SUBSYSTEM": "block",
      "DEVTYPE": "disk", "MAJOR": "253", "MINOR": "0", "SEQNUM": "4"})
seen = [next(events), next(events), next(events)]
called = [calls.acquire(timeout=5), calls.acquire(timeout=5), calls.acquire(timeout=0.5)]
stop()
os.write(write_fd, b"x")
print(json.dumps({"events": [[e.action, e.sys_name, os.major(e.devnum), os.minor(e.devnum), e.synthetic]
                             for e in seen],
                  "called": called, "stopped": list(events) == []}))
'''


def test_real_block_device_events_reach_the_watcher_and_others_do_not() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a private network namespace (unshare --net)")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    import json

    done = subprocess.run(["timeout", "60", "unshare", "--net", sys.executable, "-c", SENDER],
                          capture_output=True, text=True, cwd=REPO, timeout=90,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # The net event is filtered out (in the kernel, by the subsystem hash); the block events
    # arrive with what udev said of each; the synthetic one (udevadm trigger) calls nobody.
    assert result["events"] == [["add", "sdb", 8, 16, False], ["change", "sdb", 8, 16, True],
                                ["remove", "dm-0", 253, 0, False]]
    assert result["called"] == [True, True, False]
    assert result["stopped"] is True


def fake_source(queue: list[DeviceEvent]) -> EventSource:
    def source(stop_fd: int) -> Iterator[DeviceEvent]:
        def events() -> Iterator[DeviceEvent]:
            yield from queue
            os.read(stop_fd, 1)  # as the real one: block until stopped
        return events()
    return source


def test_each_event_calls_back_and_stop_ends_the_thread_at_once() -> None:
    calls: list[float] = []
    queue = [DeviceEvent("add", "sdb", os.makedev(8, 16)), DeviceEvent("change", "sdb", os.makedev(8, 16))]
    stop = watch_block_devices(lambda: calls.append(time.monotonic()),
                               source=fake_source(queue))
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    stop()
    stop()  # twice is harmless
    assert len(calls) == 2
    assert time.monotonic() - began < 1
    assert not any(t.name == "udev-drift-device-events" and t.is_alive() for t in threading.enumerate())


def test_a_failing_callback_does_not_end_the_watch() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first check request failed")

    queue = [DeviceEvent("add", "sdb", 1), DeviceEvent("add", "sdc", 2)]
    stop = watch_block_devices(flaky, source=fake_source(queue))
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop()
    assert len(calls) == 2


def test_a_source_that_cannot_open_raises_in_the_caller() -> None:
    from checker.observe.udev import UdevError

    def broken(stop_fd: int) -> Iterator[DeviceEvent]:
        raise UdevError("cannot listen to udev's events: no netlink here")

    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(UdevError, match="no netlink here"):
        watch_block_devices(lambda: None, source=broken)
    assert len(os.listdir("/proc/self/fd")) == before  # the stop pipe is closed again


def test_an_event_makes_serve_check_at_once_not_at_the_next_interval() -> None:
    """With serve's own Checks: the hook the lead wires is `watch_block_devices(checks.request_check)`."""
    from checker.serve.loop import Checks

    runs: list[float] = []

    def run() -> tuple[bytes, str]:
        runs.append(time.monotonic())
        return b"", "ok"

    checks = Checks(run, interval=3600.0)
    checks.start()
    try:
        deadline = time.monotonic() + 5
        while not runs and time.monotonic() < deadline:
            time.sleep(0.01)
        stop = watch_block_devices(checks.request_check,
                                   source=fake_source([DeviceEvent("add", "sdb", os.makedev(8, 16))]))
        while len(runs) < 2 and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        stop()
    finally:
        checks.stop()
    assert len(runs) == 2  # the first at start, the second for the event: not an hour later


def test_serve_listens_only_on_the_running_host_and_goes_on_without_events(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from checker.host import Host
    from checker.observe.udev import UdevError

    def broken(stop_fd: int) -> Iterator[DeviceEvent]:
        raise UdevError("cannot listen to udev's events: [Errno 93] Protocol not supported")

    calls: list[int] = []
    watch_devices_for_serve(Host(str(tmp_path)), lambda: calls.append(1), source=broken)()  # a tree: no watch
    assert caplog.records == []
    stop = watch_devices_for_serve(Host("/"), lambda: calls.append(1), source=broken)
    stop()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot listen to udev's events: [Errno 93] Protocol not supported; checks run every --interval only"]
