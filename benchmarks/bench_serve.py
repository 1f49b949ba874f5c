#!/usr/bin/env python3
"""How fast `udev-drift serve` answers a scrape while it checks in the background.

    python3 benchmarks/bench_serve.py                      # 100 scrapes/s for 30 s
    python3 benchmarks/bench_serve.py --rate 200 --duration 60 --interval 0.5
    python3 benchmarks/bench_serve.py --tool /usr/local/bin/udev-drift --json out.json

Starts `udev-drift serve` on a free loopback port over a copy of examples/xenserver-host
(or --host), checking every --interval seconds (1 s by default: checks keep running, and
competing for the interpreter, during the whole measurement). Then an open-loop load
generator sends GET /metrics at a fixed rate: request i is due at t0 + i/rate whether or
not earlier ones have been answered, so a slow answer cannot hide the ones behind it.
Each request is a new connection, as the server speaks HTTP/1.0.

Reported: latency of each scrape from the moment it was sent (connect, request, whole
body read) to the last byte, as p50/p90/p99/p99.9/max; how late the generator itself
sent (if that grows, the machine, not the server, is the bottleneck); errors; and how
many checks completed during the load (distinct udev_drift_last_run_timestamp_seconds
seen). Every answer must be 200 with the metrics in it, or the run fails (exit 2).
The goal: p99 under 5 ms at 100 scrapes/s (`--check-goal` makes a miss exit 1).

Standard library only. The server is stopped by its pid at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_host import REPO, child_env, copy_example, free_port, percentile  # noqa: E402

GOAL_P99_MS = 5.0








def scrape(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)




class Load:
    """Open-loop: request i is due at start + i / rate."""

    def __init__(self, port: int, rate: float, count: int, workers: int) -> None:
        self.port = port
        self.rate = rate
        self.count = count
        self.workers = workers
        self.request = (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        "User-Agent: bench_serve\r\nAccept: text/plain\r\n\r\n").encode()
        self.next = 0
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.lateness: list[float] = []
        self.errors: list[str] = []
        self.runs_seen: set[bytes] = set()

    def _worker(self, start: float) -> None:
        while True:
            with self.lock:
                index = self.next
                self.next += 1
            if index >= self.count:
                return
            due = start + index / self.rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            try:
                answer = scrape(self.port, self.request)
            except OSError as error:
                with self.lock:
                    self.errors.append(f"request {index}: {error}")
                continue
            done = time.perf_counter()
            ok = answer.startswith(b"HTTP/1.0 200 ") and b"\nudev_drift_run_success 1.0\n" in answer
            marker = answer.partition(b"\nudev_drift_last_run_timestamp_seconds ")[2].partition(b"\n")[0]
            with self.lock:
                if not ok:
                    self.errors.append(f"request {index}: {answer[:80]!r}")
                self.latencies.append(done - sent)
                self.lateness.append(max(0.0, sent - due))
                self.runs_seen.add(marker)

    def run(self) -> float:
        start = time.perf_counter() + 0.05
        threads = [threading.Thread(target=self._worker, args=(start,)) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--rate", type=float, default=100.0, help="scrapes per second (default %(default)g)")
    add("--duration", type=float, default=30.0, help="seconds of load (default %(default)g)")
    add("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    add("--interval", type=float, default=1.0,
        help="serve's --interval: seconds between checks during the load (default %(default)g)")
    add("--workers", type=int, default=4, help="load generator threads (default %(default)d)")
    add("--host", type=Path, help="a host tree to serve (default: a copy of the example host)")
    add("--tool", help="an installed udev-drift (default: python -m checker from this repository)")
    add("--json", type=Path, help="also write the results, with every sample, here")
    add("--check-goal", action="store_true", help=f"exit 1 if p99 >= {GOAL_P99_MS:g} ms")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as temp:
        temp_path = Path(temp)
        host = args.host or copy_example(temp_path / "host")
        port = free_port()
        command = [args.tool] if args.tool else [sys.executable, "-m", "checker"]
        command += ["serve", "--root", str(host), "--state-dir", str(temp_path / "state"),
                    "--listen", f"127.0.0.1:{port}", "--interval", str(args.interval)]
        log = open(temp_path / "serve.log", "wb")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(command, cwd=REPO, env=child_env(temp_path / "pycache"),
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if scrape(port, b"GET /metrics HTTP/1.0\r\n\r\n", 1).startswith(b"HTTP/1.0 200"):
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    print("serve did not come up:\n" + (temp_path / "serve.log").read_text(), file=sys.stderr)
                    return 2
                time.sleep(0.1)

            print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
                  f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
            print(f"serve: {' '.join(command[:3])} ... --interval {args.interval:g} "
                  f"(checks run during the whole load)")
            if args.warmup > 0:
                Load(port, args.rate, int(args.rate * args.warmup), args.workers).run()
            load = Load(port, args.rate, int(args.rate * args.duration), args.workers)
            elapsed = load.run()
        finally:
            if server.poll() is None:
                os.kill(server.pid, signal.SIGTERM)
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(server.pid, signal.SIGKILL)
                    server.wait()
            log.close()
        stopped = server.returncode

    latencies = sorted(x * 1000 for x in load.latencies)
    late = sorted(x * 1000 for x in load.lateness)
    result = {
        "rate_asked": args.rate, "rate_achieved": len(latencies) / elapsed, "requests": len(latencies),
        "errors": len(load.errors), "checks_during_load": len(load.runs_seen),
        "p50_ms": percentile(latencies, 0.50), "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99), "p999_ms": percentile(latencies, 0.999),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
        "generator_late_p99_ms": percentile(late, 0.99), "serve_exit_status": stopped,
    }
    print(f"{result['requests']} scrapes in {elapsed:.1f} s ({result['rate_achieved']:.1f}/s asked "
          f"{args.rate:g}/s), {result['errors']} errors, {result['checks_during_load']} checks completed "
          "during the load")
    print("latency ms:  p50 {p50_ms:.2f}  p90 {p90_ms:.2f}  p99 {p99_ms:.2f}  p99.9 {p999_ms:.2f}  "
          "max {max_ms:.2f}  (generator late p99 {generator_late_p99_ms:.2f})".format(**result))
    print(f"goal p99 < {GOAL_P99_MS:g} ms: {'met' if result['p99_ms'] < GOAL_P99_MS else 'MISSED'}; "
          f"serve stopped with exit status {stopped}")
    if args.json:
        args.json.write_text(json.dumps({**result, "latencies_ms": latencies}, indent=1) + "\n")
    if load.errors or stopped != 0:
        for line in load.errors[:10]:
            print(f"error: {line}", file=sys.stderr)
        return 2
    if args.check_goal and result["p99_ms"] >= GOAL_P99_MS:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
