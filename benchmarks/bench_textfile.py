#!/usr/bin/env python3
"""What writing the metrics adds to a check: with and without --textfile-dir, same run.

    python3 benchmarks/bench_textfile.py                 # 21 runs of each, interleaved
    python3 benchmarks/bench_textfile.py --runs 41 --host /tmp/host5k
    python3 benchmarks/bench_textfile.py --tool /usr/local/bin/udev-drift

Times whole processes, as cron or a systemd timer runs them (interpreter start-up and
imports included): `check --root HOST` and `check --root HOST --textfile-dir DIR`,
interleaved (one of each per round, the order swapped every round) so that a burst of
load on the machine hits both alike. The host is a copy of examples/xenserver-host
unless --host is given. Reported: the median of each, their difference (the cost of the
metrics: updating the counters in the state directory, rendering, the atomic write with
two fsyncs), and the interquartile ranges (the noise). The goal: at most 10 ms.

Before timing, one untimed run of each warms the bytecode cache (in a temp directory:
the repository is never written) and checks that both exit alike and that the textfile
was written. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_host import REPO, copy_example  # noqa: E402

GOAL_MS = 10.0




def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, of that process alone) and exit status."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, wait_status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(wait_status)
    if child.returncode not in (0, 1):
        sys.exit(f"bench_textfile: {' '.join(command)} exited {child.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, child.returncode


def iqr_ms(samples: list[float]) -> float:
    quartiles = statistics.quantiles(samples, n=4)
    return (quartiles[2] - quartiles[0]) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--runs", type=int, default=21, help="runs of each (default %(default)d)")
    add("--host", type=Path, help="a host tree (default: a copy of the example host)")
    add("--tool", help="an installed udev-drift (default: python -m checker from this repository)")
    add("--check-goal", action="store_true", help=f"exit 1 if the cost is over {GOAL_MS:g} ms")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-textfile-") as temp:
        temp_path = Path(temp)
        host = args.host or copy_example(temp_path / "host")
        textfile_dir = temp_path / "textfile"
        textfile_dir.mkdir()
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the cache must be written to be warm
        env["PYTHONPYCACHEPREFIX"] = str(temp_path / "pycache")
        tool = [args.tool] if args.tool else [sys.executable, "-m", "checker"]
        # Both runs use a state directory of their own, outside the host tree.
        plain = [*tool, "check", "--root", str(host), "--state-dir", str(temp_path / "state"), "-q"]
        metrics = [*plain, "--textfile-dir", str(textfile_dir)]

        plain_status = timed(plain, env)[2]
        metrics_status = timed(metrics, env)[2]
        if plain_status != metrics_status or not (textfile_dir / "udev_drift.prom").exists():
            sys.exit("bench_textfile: the two commands disagree, or no textfile was written")

        print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.2f}; {args.runs} runs of each, interleaved")
        wall: dict[str, list[float]] = {"plain": [], "metrics": []}
        cpu: dict[str, list[float]] = {"plain": [], "metrics": []}
        for round_ in range(args.runs):
            order = [("plain", plain), ("metrics", metrics)]
            for name, command in order if round_ % 2 == 0 else reversed(order):
                elapsed, used, _ = timed(command, env)
                wall[name].append(elapsed)
                cpu[name].append(used)

    def median_ms(samples: list[float]) -> float:
        return statistics.median(samples) * 1000

    for label, name in (("check", "plain"), ("check --textfile-dir", "metrics")):
        print(f"{label:21} wall median {median_ms(wall[name]):7.1f} ms  iqr {iqr_ms(wall[name]):5.1f} ms"
              f"   cpu median {median_ms(cpu[name]):7.1f} ms  iqr {iqr_ms(cpu[name]):5.1f} ms")
    cost = median_ms(wall["metrics"]) - median_ms(wall["plain"])
    cpu_cost = median_ms(cpu["metrics"]) - median_ms(cpu["plain"])
    print(f"writing the metrics adds {cost:+.1f} ms wall, {cpu_cost:+.1f} ms cpu "
          f"(goal: at most {GOAL_MS:g} ms): {'met' if cost <= GOAL_MS else 'MISSED'}")
    return 1 if args.check_goal and cost > GOAL_MS else 0


if __name__ == "__main__":
    raise SystemExit(main())
