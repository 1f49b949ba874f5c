#!/usr/bin/env python3
"""How long `udev-drift preview` takes on a typical update: 10 packages, one of which
installs rules files.

    python3 benchmarks/bench_preview.py               # 11 runs of each row
    python3 benchmarks/bench_preview.py --runs 21 --tool /usr/local/bin/udev-drift

The host is the seed host kept as its policy wants: the XenServer block for sdb in
/etc/udev/rules.d/50-udev.rules, /dev/sdb and its /dev/xapi/block/sdb link. The
packages are built here with dpkg-deb (xz, as Debian builds them) and as .rpm files
(xz payload, as XenServer's are; written by the tests' builder): nine of about 1 MiB of
text each in 200 files (documentation, libraries, scripts: nothing udev reads), and one
with three rules files, one of which gives the policy's disk another link with
SYMLINK= (so the preview has a loss to find, and evaluates the rule set three times).

Times whole processes, as the apt hook runs it (interpreter start-up and imports
included); the median and interquartile range of each row, and the CPU time (user +
system) of the median run, which a loaded machine does not inflate. Two states of the
host: installed (a check ran before and left its validated-policy cache in the state
directory, which preview reads and never writes: every run on a host udev-drift looks
after) and first run (no state directory: the policies go through YAML and pydantic).
Goal: under one second.
Needs dpkg-deb for the .deb row; standard library and the repository's tests otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.conftest import XEN_BLOCK, XEN_BLOCK_POLICY  # noqa: E402
from tests.preview.builders import Spec, build_deb, build_rpm  # noqa: E402

GOAL_SECONDS = 1.0
WORDS = ["udev", "rule", "device", "disk", "link", "kernel", "block", "partition", "serial", "vendor",
         "model", "path", "symlink"]


def filler(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    files = {}
    for index in range(200):
        lines = (" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(80))
        files[f"/usr/share/pkg{seed}/file{index:03}.txt"] = "\n".join(lines) + "\n"
    return files


def packages(directory: Path, fmt: str) -> list[Path]:
    build = build_deb if fmt == "deb" else build_rpm
    made = []
    for seed in range(9):
        spec = Spec(f"pkg{seed}", "1.0-1", filler(seed))
        made.append(build(spec, directory / f"pkg{seed}.{fmt}"))
    where = "/usr/lib/udev/rules.d"
    rules = {
        f"{where}/60-vendor-storage.rules": 'SUBSYSTEM=="block", ENV{ID_VENDOR}=="acme", TAG+="acme"\n',
        f"{where}/99-vendor-links.rules": 'KERNEL=="sdb", SYMLINK="disk/acme-%k"\n',
        f"{where}/70-vendor-net.rules": 'SUBSYSTEM=="net", ACTION=="add", RUN+="/usr/bin/true"\n',
    }
    made.append(build(Spec("vendor-storage", "2.0-1", {**rules, **filler(99)}), directory / f"vendor.{fmt}"))
    return made


def timed(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit status)"""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--tool", default=str(Path(sys.executable).parent / "udev-drift"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="udev-drift-bench-preview-") as scratch:
        host = Path(scratch) / "host"
        policies = host / "etc/udev-drift/policies.d"
        policies.mkdir(parents=True)
        (policies / "xen.yaml").write_text(XEN_BLOCK_POLICY + "symlinks:\n  - link: /dev/xapi/block/sdb\n"
                                           "    target: /dev/sdb\n")
        (host / "etc/udev/rules.d").mkdir(parents=True)
        (host / "etc/udev/rules.d/50-udev.rules").write_text(XEN_BLOCK)
        (host / "dev/xapi/block").mkdir(parents=True)
        (host / "dev/sdb").touch()
        os.symlink("../../sdb", host / "dev/xapi/block/sdb")
        rows = {}
        for fmt in ("deb", "rpm"):
            if fmt == "deb" and shutil.which("dpkg-deb") is None:
                print("dpkg-deb not installed: the .deb row is left out")
                continue
            directory = Path(scratch) / fmt
            directory.mkdir()
            files = packages(directory, fmt)
            size = sum(f.stat().st_size for f in files)
            command = [args.tool, "preview", "--root", str(host), "--policy", str(policies),
                       "--skip-policy-permission-check", *map(str, files)]
            for state in ("first run", "installed"):
                shutil.rmtree(host / "var", ignore_errors=True)
                if state == "installed":  # the check that runs hourly leaves the policy cache
                    subprocess.run([args.tool, "check", "--root", str(host), "--repair",
                                    "--skip-policy-permission-check"], stdout=subprocess.DEVNULL, check=True)
                *_, status = timed(command)  # warms the bytecode cache; a loss must be found
                if status != 1:
                    print(f"{fmt}: expected exit 1 (a loss), got {status}: {' '.join(command)}")
                    return 1
                runs = sorted(timed(command)[:2] for _ in range(args.runs))
                rows[f"{fmt}, {state}"] = ([wall for wall, _ in runs], runs[len(runs) // 2][1], size)
        print(f"udev-drift preview, 10 packages (one with rules files), {args.runs} runs, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
        for row, (times, cpu, size) in rows.items():
            q = statistics.quantiles(times, n=4)
            median = statistics.median(times)
            print(f"  .{row}: {size / 1024 ** 2:.1f} MiB of packages: median {median:.3f} s "
                  f"(IQR {q[0]:.3f}-{q[2]:.3f} s), CPU {cpu:.3f} s; goal < {GOAL_SECONDS:.1f} s")
        return 0 if all(statistics.median(t) < GOAL_SECONDS for t, _, _ in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
