"""How the live symlink check grows with the number of block devices.

    sudo python3 benchmarks/bench_live_links.py [--runs 11] [--entries 1000] [--sizes 100,1000,10000]

For 100 / 1,000 / 10,000 block devices, times one run's work on the link side: indexing
what libudev reported (`UdevState`, built once per run) and checking every symlink entry
against it (`engine.check` with the observer injected), 1,000 entries against the same
host with none (the baseline). Devices are a generated observer state, not libudev: what
is measured is the tool's own cost, which must grow linearly (the enumeration itself is
libudev's). The file side is real: block device nodes (mknod, never opened) and the
links, in a temporary tree that is removed at the end. Needs root for mknod.

Columns: median seconds (of --runs, interleaved), ms per entry above the baseline (flat
when the check is linear in entries and does not look at every device per entry), and
the ratio of the 1,000-entry run to the baseline. Stdlib and the package only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import stat
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from checker import engine  # noqa: E402
from checker.host import Host  # noqa: E402
from checker.observe.devices import LiveDevices  # noqa: E402
from checker.observe.udev import BlockDevice, UdevState  # noqa: E402
from checker.observe.usage import HostUsage  # noqa: E402
from checker.policy.desired import DesiredPolicy, DesiredSymlink, DeviceRef  # noqa: E402

GOAL_SECONDS = 1.0  # 10,000 devices and 1,000 entries, on the link side
BY = ("serial", "wwn", "path", "node")  # entries cycle through the ways to name a device


def number(i: int) -> int:
    return os.makedev(240 + i // 1024, i % 1024)  # "local/experimental" majors


def link(size: int, j: int) -> str:
    return f"/dev/xapi/{size}/l{j}"  # a directory of links per host size


def make_tree(root: Path, sizes: list[int], entries: int) -> None:
    (root / "dev").mkdir(parents=True)
    for i in range(max(sizes)):
        os.mknod(root / f"dev/disk{i}", 0o600 | stat.S_IFBLK, number(i))
    for size in sizes:
        (root / f"dev/xapi/{size}").mkdir(parents=True)
        for j in range(entries):  # entry j names device j mod size: with 100 devices, 10 links each
            os.symlink(f"../../disk{j % size}", root / link(size, j).lstrip("/"))


def observed(devices: int, entries: int) -> list[BlockDevice]:
    """What libudev would report: each device with its identities and database links."""
    links: dict[int, list[str]] = {}
    for j in range(entries):
        links.setdefault(j % devices, []).append(link(devices, j))
    return [BlockDevice(f"disk{i}", f"/sys/devices/virtual/block/disk{i}", "disk", f"/dev/disk{i}",
                        number(i), None, tuple(links.get(i, ())),
                        {"ID_SERIAL": f"SERIAL{i}", "ID_WWN": f"0x5{i:015x}", "ID_PATH": f"pci-0-ata-{i}"},
                        True)
            for i in range(devices)]


def policy(devices: int, entries: int) -> DesiredPolicy:
    refs = {"serial": "SERIAL{}", "wwn": "0x5{:015x}", "path": "pci-0-ata-{}", "node": "/dev/disk{}"}
    symlinks = tuple(DesiredSymlink("bench", f"symlinks[{j}]", link(devices, j),
                                    DeviceRef(BY[j % 4], refs[BY[j % 4]].format(j % devices)), True,
                                    "bench.yaml", 1)
                     for j in range(entries))
    return DesiredPolicy("bench", "bench.yaml", None, (), symlinks, True, True)


def one_run(root: Path, devices: list[BlockDevice], policies: list[DesiredPolicy], usage: HostUsage) -> float:
    gc.collect()
    began = time.perf_counter()
    host = Host(str(root))  # a fresh run: nothing cached
    report = engine.check(policies, host, devices=LiveDevices(host, UdevState(devices), usage))
    elapsed = time.perf_counter() - began
    if not report.compliant:  # a fast wrong answer is no result
        bad = report.drifted[0]
        raise SystemExit(f"bench_live_links: expected every link ok, got {bad.status}: "
                         f"{bad.path} {bad.message}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--json", metavar="FILE", help="also write every sample here")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if os.geteuid() != 0:
        print("bench_live_links: needs root to make block device nodes (mknod) in a temporary tree",
              file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="udev-drift-bench-links-"))
    try:
        root = scratch / "host"
        make_tree(root, sizes, args.entries)
        usage = HostUsage(proc=str(scratch / "proc"), sys=str(scratch / "sys"), dev=str(root / "dev"))
        rows = {(size, entries): (observed(size, entries), [policy(size, entries)] if entries else [])
                for size in sizes for entries in (0, args.entries)}
        samples: dict[tuple[int, int], list[float]] = {key: [] for key in rows}
        keys = list(rows)
        for run in range(args.runs):  # interleaved, rotated: a burst of load hits every row alike
            for key in keys[run % len(keys):] + keys[:run % len(keys)]:
                samples[key].append(one_run(root, *rows[key], usage))
    finally:
        shutil.rmtree(scratch)
    print(f"live symlink check: {args.entries} entries vs none, median of {args.runs} runs "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    print(f"{'devices':>8} {'baseline s':>11} {'entries s':>10} {'ms/entry':>9} {'ratio':>7}")
    medians = {key: statistics.median(values) for key, values in samples.items()}
    for size in sizes:
        base, full = medians[(size, 0)], medians[(size, args.entries)]
        per_entry = (full - base) / args.entries * 1000 if args.entries else 0.0
        print(f"{size:>8,} {base:>11.4f} {full:>10.4f} {per_entry:>9.4f} {full / base:>7.1f}")
    largest = medians[(max(sizes), args.entries)]
    print(f"largest: {largest:.3f} s for {max(sizes):,} devices and {args.entries:,} entries "
          f"(goal <= {GOAL_SECONDS:g} s: {'met' if largest <= GOAL_SECONDS else 'MISSED'})")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {f"{size}x{entries}": values for (size, entries), values in samples.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
