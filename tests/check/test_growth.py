"""A host whose every disk is named by its own rules is checked in time and memory linear
in the disks: each device is evaluated on the lines that can touch it, not on every
disk's. (At N disks each wanted rule used to be evaluated over all N disks' rules: 1,000
disks took 14 s and 560 MiB.) benchmarks/growth.py measures whole processes; this test
keeps a quadratic step from coming back unnoticed: 4N disks may cost at most 8 times N
(quadratic is 16), in time (the best of three) and in peak memory."""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

from checker.engine import check, load_desired
from checker.host import Host

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from growth import build  # noqa: E402

N = 150
LIMIT = 8.0


def _cost(tmp_path: Path, n: int) -> tuple[float, int]:
    root = tmp_path / f"n{n}" / "host"
    root.mkdir(parents=True)
    policy = build(root, n)
    host = Host(str(root))
    policies = load_desired([str(policy)], host=host)
    from checker.engine import repair
    from checker.state import StateDir

    assert repair(policies, host, StateDir(str(root / "var/lib/udev-drift"), str(root)), None).compliant
    best = float("inf")
    for _ in range(3):
        host.forget()
        start = time.perf_counter()
        report = check(policies, host)
        best = min(best, time.perf_counter() - start)
        assert report.compliant
    host.forget()
    tracemalloc.start()
    check(policies, host)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak


def test_four_times_the_disks_cost_at_most_eight_times_as_much(tmp_path: Path) -> None:
    small_time, small_memory = _cost(tmp_path, N)
    big_time, big_memory = _cost(tmp_path, 4 * N)
    assert big_time / small_time <= LIMIT, (small_time, big_time)
    assert big_memory / small_memory <= LIMIT, (small_memory, big_memory)
