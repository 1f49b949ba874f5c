"""How a check grows with the number of disks the policies name, each by its own rules.

A host of N disks vd0..vdN-1: one policy whose rules entry holds the seed's three rules
per disk (one `for_each` block entry) and whose symlink entry requires each disk's link,
beside a vendor file of 2N rules (`KERNEL=="vdI", SUBSYSTEM=="block",
SYMLINK+="vendor/diskI"` and one more per disk). Repaired once under --root (from
nothing), then checked: a miss (the verdict cache removed) and a hit (unchanged). Each
row: wall time and peak memory (max RSS of the child), and the ratio of 4N to N.

    python3 benchmarks/growth.py [--sizes 500,2000,8000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STATE = "var/lib/udev-drift"
RUN = "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\""


def build(root: Path, n: int) -> Path:
    disks = [f"vd{i}" for i in range(n)]
    for disk in disks:
        (root / "dev" / disk).parent.mkdir(parents=True, exist_ok=True)
        (root / "dev" / disk).write_text("")
    vendor = root / "usr/lib/udev/rules.d/60-vendor.rules"
    vendor.parent.mkdir(parents=True)
    lines = []
    for i, disk in enumerate(disks):
        lines.append(f'KERNEL=="{disk}", SUBSYSTEM=="block", SYMLINK+="vendor/disk{i}"\n')
        lines.append(f'KERNEL=="{disk}", SUBSYSTEM=="block", ENV{{VENDOR_SEEN}}="1"\n')
    vendor.write_text("".join(lines))
    (root / "etc/udev/rules.d").mkdir(parents=True)
    items = ", ".join(disks)
    policy = root.parent / f"disks-{n}.yaml"
    policy.write_text(
        "version: 1\nname: disks\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n    ensure: block\n"
        f"    for_each: [{items}]\n    content: |\n"
        '      ACTION!="remove", KERNEL=="{{ item }}", SYMLINK+="xapi/block/%k"\n'
        f'      ACTION=="add", KERNEL=="{{{{ item }}}}", {RUN}\n'
        f'      ACTION=="remove", KERNEL=="{{{{ item }}}}", {RUN}\n'
        f"symlinks:\n  - link: /dev/xapi/block/{{{{ item }}}}\n    for_each: [{items}]\n"
        "    target: /dev/{{ item }}\n    required: true\n")
    return policy


def timed(argv: Sequence[str]) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit status) of one child run."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONDEVMODE")}
        os.execve(argv[0], list(argv), env)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def measure(n: int, work: Path, runs: int = 3) -> dict[str, Any]:
    case = work / f"n{n}"
    root = case / "host"
    root.mkdir(parents=True)
    policy = build(root, n)
    base = [sys.executable, "-m", "checker", "check", "--root", str(root), "--skip-policy-permission-check"]
    repair = timed([*base, "--repair", str(policy)])
    if repair[2] != 0:
        raise SystemExit(f"N={n}: repair exited {repair[2]}")
    cache = root / STATE / "verdict-cache.json"
    misses, hits = [], []
    for _ in range(runs):
        cache.unlink(missing_ok=True)
        misses.append(timed([*base, str(policy)]))
        hits.append(timed([*base, str(policy)]))
    for outcome in misses + hits:
        if outcome[2] != 0:
            raise SystemExit(f"N={n}: check exited {outcome[2]} (not compliant after the repair?)")
    shutil.rmtree(case)
    return {"n": n, "repair_s": repair[0], "repair_mib": repair[1],
            "miss_s": min(m[0] for m in misses), "miss_mib": max(m[1] for m in misses),
            "hit_s": min(h[0] for h in hits), "hit_mib": max(h[1] for h in hits)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="500,2000,8000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    os.chdir(REPO)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for n in sizes:
            rows.append(measure(n, Path(work), args.runs))
            row = rows[-1]
            print(f"N={n:>6}: repair {row['repair_s']:.2f} s {row['repair_mib']:.0f} MiB | "
                  f"miss {row['miss_s']:.2f} s {row['miss_mib']:.0f} MiB | "
                  f"hit {row['hit_s']:.3f} s {row['hit_mib']:.0f} MiB", flush=True)
    by_n = {row["n"]: row for row in rows}
    for n in sizes:
        if 4 * n in by_n:
            big, small = by_n[4 * n], by_n[n]
            print(f"4N/N ({n} -> {4 * n}): miss time {big['miss_s'] / small['miss_s']:.2f}x, "
                  f"hit time {big['hit_s'] / small['hit_s']:.2f}x, "
                  f"miss memory {big['miss_mib'] / small['miss_mib']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
