#!/usr/bin/env python3
"""`udev-drift serve` under abuse: slow clients, oversized requests, bursts, garbage.

    python3 benchmarks/bench_serve_abuse.py                   # 20 s a scenario
    python3 benchmarks/bench_serve_abuse.py --duration 60 --flood 2000 --burst 500
    python3 benchmarks/bench_serve_abuse.py --only slow --only flood
    python3 benchmarks/bench_serve_abuse.py --only nonreaders --large 30000
    python3 benchmarks/bench_serve_abuse.py --tool /usr/local/bin/udev-drift --json out.json

Starts `udev-drift serve` on a free loopback port over a copy of examples/xenserver-host,
checking every --interval seconds, then runs each scenario for --duration seconds while a
well-behaved client scrapes GET /metrics --rate times a second (a new connection each):

  idle       nothing else: the reference
  slow       --slow connections (default 200) kept open, re-opened as soon as the server
             cuts one: half send nothing, half trickle a byte of a never-ending head a second
  flood      the same with --flood connections (default 1000): more than the server keeps
             waiting for their head (MAX_PENDING 256), so it cuts the oldest for room
  oversized  8 clients in a loop: 64 KiB request lines and headers, 4000 headers, a POST
             announcing 1 GiB, a POST of 1 MiB
  burst      bursts of --burst concurrent real scrapes, back to back
  garbage    8 clients in a loop: random bytes, HTTP/0.9, bad methods, path traversal,
             long paths, TLS and SSH openings on the plain port
  nonreaders --nonreaders clients a second (default 10) ask for /metrics with a 4 KiB
             receive window and never read the answer, each holding its connection 6 s;
             it matters with a large exposition: --large N adds a policy of N drifted
             links (N=30000 makes the exposition ~6 MiB, more than loopback buffers take)

Printed for each: serve's VmRSS and thread count (before, peak and mean during, after;
sampled from /proc/PID/status every 20 ms), the well-behaved scrapes' answer times
(p50/p95/p99/max) and failures, the abusive connections' answers, and for `slow`, how many
connections the server cut and how long each had been open when cut. Every scrape must be
answered 200 with the metrics, or 503 (the server's answer when more than 256 requests wait
for a worker, which bursts can cause), or the run fails (exit 2).

Standard library only. The server is stopped by its pid at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import random
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_host import REPO, child_env, copy_example, free_port, percentile  # noqa: E402

SCRAPE = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Prometheus/2.45.0\r\n\r\n"
METRICS_END = b'udev_drift_build_info{version="1.0.0"} 1.0\n'
REQUEST_SECONDS = 5.0  # checker/serve/http.py: a request head must be in within this










def status_of(answer: bytes) -> str:
    if not answer:
        return "closed"
    if answer.startswith(b"HTTP/1."):
        return answer.split(b" ", 2)[1].decode("ascii", "replace")
    return "no status line"


def exchange(port: int, request: bytes, timeout: float = 10.0) -> str:
    """Send a request, read the answer to the end: its status, or what happened."""
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            with contextlib.suppress(OSError):  # the server may stop reading: it answered
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                answer += chunk
    except TimeoutError:
        return "hung"
    except OSError:
        return status_of(answer) if answer else "reset"
    return status_of(answer)


def fetch_metrics(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(SCRAPE)
        answer = bytearray()
        while chunk := sock.recv(1 << 20):
            answer += chunk
    return bytes(answer).partition(b"\r\n\r\n")[2]


def proc_status(pid: int) -> tuple[int, int]:
    """(VmRSS in KiB, Threads) from /proc/PID/status."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                values[key] = int(value.split()[0])
    return values["VmRSS"], values["Threads"]


class Sampler:
    """VmRSS and Threads of the server every 20 ms, in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.samples.append(proc_status(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Scraper:
    """The well-behaved client: a scrape every 1/rate s on a new connection, timed."""

    def __init__(self, port: int, rate: float) -> None:
        self.port = port
        self.rate = rate
        self.times: list[float] = []
        self.failures: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            began = time.monotonic()
            answer = b""
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(SCRAPE)
                    while chunk := sock.recv(65536):
                        answer += chunk
            except OSError as error:
                self.failures[type(error).__name__] += 1
            else:
                if answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(METRICS_END):
                    self.times.append(time.monotonic() - began)
                else:
                    self.failures[status_of(answer)] += 1
            due += 1 / self.rate
            self._stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


# -- the abuse ---------------------------------------------------------------------------------
class SlowClients:
    """`count` connections kept open: half silent, half trickling; re-opened when cut."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0
        self.held: list[float] = []  # seconds each cut connection had been open
        self.answered = 0  # cut with an answer (there should be none)
        self.connect_errors: collections.Counter[str] = collections.Counter()

    def run(self, until: float) -> None:
        selector = selectors.DefaultSelector()
        since: dict[socket.socket, float] = {}
        trickle: set[socket.socket] = set()
        prefix = b"GET /metrics HTTP/1.1\r\nX-Slow: "

        def open_one() -> None:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError as error:
                self.connect_errors[type(error).__name__] += 1
                return
            sock.setblocking(False)
            since[sock] = time.monotonic()
            self.opened += 1
            if self.opened % 2:
                trickle.add(sock)
            selector.register(sock, selectors.EVENT_READ)

        try:
            for _ in range(self.count):
                open_one()
            sent = 0
            next_byte = time.monotonic()
            while (now := time.monotonic()) < until:
                if now >= next_byte:  # a byte a second on every trickling connection
                    for sock in trickle:
                        with contextlib.suppress(OSError):
                            sock.send(prefix[sent:sent + 1] or b"a")
                    sent += 1
                    next_byte += 1.0
                for key, _ in selector.select(min(0.1, max(0.0, next_byte - now))):
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    try:
                        data = conn.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if data:
                        self.answered += 1
                    self.held.append(time.monotonic() - since.pop(conn))
                    trickle.discard(conn)
                    selector.unregister(conn)
                    conn.close()
                    if time.monotonic() < until:
                        open_one()
        finally:
            for sock in since:
                sock.close()
            selector.close()

    def report(self) -> list[str]:
        held = sorted(self.held)
        early = sum(1 for seconds in held if seconds < REQUEST_SECONDS - 0.5)
        lines = [f"slow connections: {self.opened} opened ({self.count} kept open), {len(held)} cut by the "
                 f"server, {self.answered} of them with an answer"]
        if held:
            lines.append(f"  open when cut, s: min {held[0]:.2f}  p50 {percentile(held, 0.5):.2f}  "
                         f"p99 {percentile(held, 0.99):.2f}  max {held[-1]:.2f}; {early} cut before the "
                         f"{REQUEST_SECONDS:g} s deadline (oldest cut for room)")
        if self.connect_errors:
            lines.append(f"  connects that failed: {dict(self.connect_errors)}")
        return lines


def oversized_requests() -> list[bytes]:
    big = 64 * 1024
    return [
        b"GET /" + b"a" * big + b" HTTP/1.0\r\n\r\n",
        b"GET /metrics HTTP/1.0\r\nX-Big: " + b"b" * big + b"\r\n\r\n",
        b"GET /metrics HTTP/1.0\r\n" + b"X-H: v\r\n" * 4000 + b"\r\n",
        b"POST /metrics HTTP/1.0\r\nContent-Length: 1073741824\r\n\r\n" + b"c" * big,
        b"POST /metrics HTTP/1.0\r\nContent-Length: 1048576\r\n\r\n" + b"d" * 2 ** 20,
    ]


def garbage_requests() -> list[bytes]:
    rng = random.Random(7)
    noise = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))) for _ in range(20)]
    return noise + [
        b"GET /metrics\r\n\r\n", b"POST /metrics\r\n\r\n", b"GET /../../etc/passwd\r\n\r\n",
        b"BREW /metrics HTTP/1.0\r\n\r\n", b"get /metrics HTTP/1.0\r\n\r\n", b"G\x00T / HTTP/1.0\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.0\r\n\r\n", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.0\r\n\r\n",
        b"GET /" + b"a/" * 3500 + b" HTTP/1.0\r\n\r\n", b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\r\n\r\n", b"",
    ]


class Flood:
    """`workers` threads sending `requests` in turn, one connection each, until `until`."""

    def __init__(self, port: int, requests: list[bytes], workers: int = 8) -> None:
        self.port = port
        self.requests = requests
        self.workers = workers
        self.answers: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def run(self, until: float) -> None:
        def work(offset: int) -> None:
            index = offset
            while time.monotonic() < until:
                answer = exchange(self.port, self.requests[index % len(self.requests)])
                with self.lock:
                    self.answers[answer] += 1
                index += 1

        threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def report(self) -> list[str]:
        total = sum(self.answers.values())
        answers = ", ".join(f"{answer}: {count}" for answer, count in self.answers.most_common())
        return [f"abusive requests: {total} ({answers})"]


class Bursts:
    """Bursts of `size` concurrent real scrapes, back to back, until `until`."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.size = size
        self.answers: collections.Counter[str] = collections.Counter()
        self.durations: list[float] = []

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            began = time.monotonic()
            self._burst()
            self.durations.append(time.monotonic() - began)

    def _burst(self) -> None:
        selector = selectors.DefaultSelector()
        answers: dict[socket.socket, bytearray] = {}
        try:
            for _ in range(self.size):
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                    sock.sendall(SCRAPE)
                except OSError as error:
                    self.answers[type(error).__name__] += 1
                    continue
                sock.setblocking(False)
                answers[sock] = bytearray()
                selector.register(sock, selectors.EVENT_READ)
            deadline = time.monotonic() + 30
            while answers and time.monotonic() < deadline:
                for key, _ in selector.select(0.1):
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    try:
                        data = conn.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if data:
                        answers[conn] += data
                        continue
                    self.answers[status_of(bytes(answers.pop(conn)))] += 1
                    selector.unregister(conn)
                    conn.close()
            self.answers["hung (30 s)"] += len(answers)
        finally:
            for sock in answers:
                sock.close()
            selector.close()

    def report(self) -> list[str]:
        durations = sorted(self.durations) or [float("nan")]
        answers = ", ".join(f"{answer}: {count}" for answer, count in self.answers.most_common())
        return [f"bursts: {len(self.durations)} of {self.size} connections ({answers}); a burst took, s: "
                f"p50 {percentile(durations, 0.5):.3f}  max {durations[-1]:.3f}"]


class NonReaders:
    """`per_second` clients a second ask for /metrics with a tiny receive window and never
    read; each connection is held `hold` seconds, then closed."""

    def __init__(self, port: int, per_second: float, hold: float = 6.0) -> None:
        self.port = port
        self.per_second = per_second
        self.hold = hold
        self.opened = 0
        self.connect_errors: collections.Counter[str] = collections.Counter()

    def run(self, until: float) -> None:
        held: collections.deque[tuple[float, socket.socket]] = collections.deque()
        due = time.monotonic()
        try:
            while time.monotonic() < until:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
                try:
                    sock.settimeout(5)
                    sock.connect(("127.0.0.1", self.port))
                    sock.sendall(SCRAPE)
                except OSError as error:
                    self.connect_errors[type(error).__name__] += 1
                    sock.close()
                else:
                    held.append((time.monotonic(), sock))
                    self.opened += 1
                while held and held[0][0] + self.hold < time.monotonic():
                    held.popleft()[1].close()
                due += 1 / self.per_second
                time.sleep(max(0.0, due - time.monotonic()))
        finally:
            for _, sock in held:
                sock.close()

    def report(self) -> list[str]:
        lines = [f"clients that never read: {self.opened} ({self.per_second:g} a second, each held "
                 f"{self.hold:g} s)"]
        if self.connect_errors:
            lines.append(f"  connects that failed: {dict(self.connect_errors)}")
        return lines


def add_large_policy(host: Path, count: int) -> None:
    """A policy of `count` required links that are all missing: `count` drifted items, each a
    series of ~200 bytes in the exposition."""
    items = ", ".join(f"d{n:06d}" for n in range(count))
    pad = "wwn-0x5000c500" + "a" * 100
    (host / "etc/udev-drift/policies.d/bench-large.yaml").write_text(
        f"version: 1\nname: bench-large\nsymlinks:\n  - link: /dev/xapi/bench/{{{{ item }}}}-{pad}\n"
        f"    for_each: [{items}]\n    target: /dev/sdb\n    required: true\n")


class Idle:
    def run(self, until: float) -> None:
        time.sleep(max(0.0, until - time.monotonic()))

    def report(self) -> list[str]:
        return []


Abuse = Idle | SlowClients | Flood | Bursts | NonReaders


# -- running -----------------------------------------------------------------------------------
def scenario(name: str, pid: int, port: int, rate: float, duration: float,
             abuse: Abuse) -> tuple[dict[str, object], dict[str, int]]:
    before = proc_status(pid)
    with Sampler(pid) as sampler, Scraper(port, rate) as scraper:
        abuse.run(time.monotonic() + duration)
    time.sleep(REQUEST_SECONDS + 1.5)  # the last slow connections' deadlines pass
    after = proc_status(pid)
    rss = [sample[0] for sample in sampler.samples] or [before[0]]
    threads = [sample[1] for sample in sampler.samples] or [before[1]]
    times = sorted(seconds * 1000 for seconds in scraper.times)
    result: dict[str, object] = {
        "scenario": name,
        "rss_kib": {"before": before[0], "peak": max(rss), "mean": round(statistics.fmean(rss)),
                    "after": after[0]},
        "threads": {"before": before[1], "max": max(threads), "after": after[1]},
        "scrapes": len(times), "scrape_failures": dict(scraper.failures),
        "p50_ms": percentile(times, 0.5), "p95_ms": percentile(times, 0.95),
        "p99_ms": percentile(times, 0.99), "max_ms": times[-1] if times else float("nan"),
        "abuse": abuse.report(),
    }
    mib = 1024
    print(f"\n== {name} ({duration:g} s)")
    print(f"serve VmRSS MiB: before {before[0] / mib:.1f}  peak {max(rss) / mib:.1f}  mean "
          f"{statistics.fmean(rss) / mib:.1f}  after {after[0] / mib:.1f};  threads: before {before[1]}  "
          f"max {max(threads)}  after {after[1]}")
    failed = {answer: count for answer, count in scraper.failures.items() if answer != "503"}
    failures = (f", {scraper.failures['503']} answered 503 (busy)" if scraper.failures["503"] else "") + (
        f", FAILED {failed}" if failed else "")
    print(f"scrapes: {len(times)} answered 200{failures}; ms p50 {result['p50_ms']:.2f}  "
          f"p95 {result['p95_ms']:.2f}  p99 {result['p99_ms']:.2f}  max {result['max_ms']:.2f}")
    for line in abuse.report():
        print(line)
    return result, dict(scraper.failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--duration", type=float, default=20.0, help="seconds of each scenario (default %(default)g)")
    add("--rate", type=float, default=20.0, help="well-behaved scrapes per second (default %(default)g)")
    add("--slow", type=int, default=200, help="slow connections kept open (default %(default)d)")
    add("--flood", type=int, default=1000, help="slow connections in `flood` (default %(default)d)")
    add("--burst", type=int, default=400, help="concurrent scrapes in a burst (default %(default)d)")
    add("--interval", type=float, default=1.0, help="serve's --interval (default %(default)g)")
    add("--nonreaders", type=float, default=10.0,
        help="clients a second that never read, in `nonreaders` (default %(default)g)")
    add("--large", type=int, default=0, metavar="N",
        help="add a policy of N drifted links, for a large exposition (default none)")
    add("--only", action="append", help="run only this scenario (repeatable)")
    add("--tool", help="an installed udev-drift (default: python -m checker from this repository)")
    add("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    scenarios: dict[str, Callable[[int], Abuse]] = {
        "idle": lambda port: Idle(),
        "slow": lambda port: SlowClients(port, args.slow),
        "flood": lambda port: SlowClients(port, args.flood),
        "oversized": lambda port: Flood(port, oversized_requests()),
        "burst": lambda port: Bursts(port, args.burst),
        "garbage": lambda port: Flood(port, garbage_requests()),
        "nonreaders": lambda port: NonReaders(port, args.nonreaders),
    }
    results: list[dict[str, object]] = []
    scrape_failures: list[dict[str, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-abuse-") as temp:
        temp_path = Path(temp)
        host = copy_example(temp_path / "host")
        if args.large:
            add_large_policy(host, args.large)
        port = free_port()
        command = [args.tool] if args.tool else [sys.executable, "-m", "checker"]
        command += ["serve", "--root", str(host), "--state-dir", str(temp_path / "state"),
                    "--listen", f"127.0.0.1:{port}", "--interval", str(args.interval)]
        log = open(temp_path / "serve.log", "wb")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(command, cwd=REPO, env=child_env(temp_path / "pycache"),
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n", 5) != "200":
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    print("serve did not come up:\n" + (temp_path / "serve.log").read_text(), file=sys.stderr)
                    return 2
                time.sleep(0.1)
            print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
                  f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
            size = len(fetch_metrics(port))
            print(f"exposition: {size / 2 ** 20:.2f} MiB")
            print(f"serve: {' '.join(command[:3])} ... --interval {args.interval:g}; a well-behaved scrape "
                  f"every {1000 / args.rate:g} ms during each scenario")
            for name, make in scenarios.items():
                if args.only and name not in args.only:
                    continue
                result, failures = scenario(name, server.pid, port, args.rate, args.duration, make(port))
                results.append(result)
                scrape_failures.append(failures)
                if server.poll() is not None:
                    print(f"serve died during {name}", file=sys.stderr)
                    break
            alive = server.poll() is None
        finally:
            if server.poll() is None:
                os.kill(server.pid, signal.SIGTERM)
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    os.kill(server.pid, signal.SIGKILL)
                    server.wait()
            log.close()
        output = (temp_path / "serve.log").read_text(errors="replace")
    print(f"\nserve {'lived through every scenario' if alive else 'DIED'}; stopped with exit status "
          f"{server.returncode}; tracebacks in its output: {output.count('Traceback')}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    failed = any(set(failures) - {"503"} for failures in scrape_failures)
    return 2 if failed or not alive or server.returncode != 0 or "Traceback" in output else 0


if __name__ == "__main__":
    raise SystemExit(main())
