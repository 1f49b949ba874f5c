"""`udev-drift serve` under load and abuse: a real process on a loopback port.

Slow clients, oversized requests, bursts of connections and garbage, each for a few
seconds: meanwhile a well-behaved client's scrapes are answered in bounded time, and the
server's memory (VmRSS) and threads (/proc/PID/status) stay bounded. Every server is
stopped by its pid in a fixture's finally (SIGTERM, then SIGKILL after 10 s).
benchmarks/bench_serve_abuse.py runs the same scenarios for longer and prints the figures.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from checker.serve.http import LINGER_BYTES, MAX_PENDING, MAX_REQUEST_BYTES, MAX_THREADS, REQUEST_SECONDS
from tests.conftest import HostTree
from tests.serve.test_serve import serve
from tests.servers import Server, Servers, free_port

SCRAPE = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Prometheus/2.45.0\r\n\r\n"
# Measured on the 2-core (shared) test machine under 200 slow clients: p95 ~6 ms, max ~10 ms
# (~11 ms and ~16 ms with two CPU hogs beside); the server with a thread per connection
# answered no scrape for ~40 s. Measured growth for 500 oversized requests: ~0.3 MiB.
P95_BOUND = 0.5
MAX_BOUND = 2.0
RSS_GROWTH_BOUND_KIB = 4096


def proc_status(pid: int, name: str) -> int:
    """A number from /proc/PID/status: VmRSS (KiB), Threads."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key == name:
                return int(value.split()[0])
    raise KeyError(name)


def status_of(answer: bytes) -> int | None:
    """The status code of an HTTP/1.x answer; None for no answer (closed or reset)."""
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer.split(b" ", 2)[1])


def many(port: int, payloads: list[bytes], timeout: float = 15.0) -> list[tuple[int | None, float]]:
    """Each payload on a connection of its own, all open at once, from one thread.

    Connects and sends at once, as a scraper does (a connection that sends nothing for long
    is a slow client, and the server may cut the oldest of those for room), closes its side,
    reads the answer to the end: (status or None, seconds from the first connect to the end).
    A connection still open after `timeout` counts as (None, inf).
    """
    selector = selectors.DefaultSelector()
    results: list[tuple[int | None, float]] = [(None, float("inf"))] * len(payloads)
    began = time.monotonic()
    open_: dict[socket.socket, tuple[int, memoryview, bytearray]] = {}

    def finish(sock: socket.socket, status: int | None) -> None:
        index = open_.pop(sock)[0]
        results[index] = (status, time.monotonic() - began)
        selector.unregister(sock)
        sock.close()

    def step(sock: socket.socket, events: int) -> None:
        index, rest, answer = open_[sock]
        try:
            if events & selectors.EVENT_WRITE:
                sent = sock.send(rest[:65536]) if rest else 0
                open_[sock] = (index, rest[sent:], answer)
                if sent == len(rest):
                    sock.shutdown(socket.SHUT_WR)
                    selector.modify(sock, selectors.EVENT_READ)
                return
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:  # refused or reset: whatever came before counts
            data = b""
        if data:
            answer += data
        else:
            finish(sock, status_of(bytes(answer)))

    try:
        for index, payload in enumerate(payloads):
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            sock.setblocking(False)
            open_[sock] = (index, memoryview(payload), bytearray())
            selector.register(sock, selectors.EVENT_WRITE)
            step(sock, selectors.EVENT_WRITE)
        while open_ and time.monotonic() - began < timeout:
            for key, events in selector.select(0.1):
                assert isinstance(key.fileobj, socket.socket)
                step(key.fileobj, events)
    finally:
        for sock in open_:  # hung: (None, inf)
            selector.unregister(sock)
            sock.close()
        selector.close()
    return results


def many_checked(port: int, payloads: list[bytes], timeout: float = 15.0) -> list[tuple[int | None, float]]:
    results = many(port, payloads, timeout)
    hung = [index for index, (_, seconds) in enumerate(results) if seconds == float("inf")]
    assert not hung, f"{len(hung)} connections got no end within {timeout} s"
    return results


@dataclass
class Scrapes:
    """A well-behaved client in a thread: one scrape every `every` seconds, until stopped."""

    port: int
    every: float = 0.05
    answers: list[tuple[int | None, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Scrapes:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            answer = b""
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                    sock.sendall(SCRAPE)
                    while chunk := sock.recv(65536):
                        answer += chunk
            except OSError:
                pass
            ok = status_of(answer) if answer.endswith(b'udev_drift_build_info{version="1.0.0"} 1.0\n') else None
            self.answers.append((ok, time.monotonic() - began))
            self._stop.wait(self.every)

    def check(self, least: int) -> None:
        """Every scrape answered 200 with the metrics, p95 and max under their bounds."""
        statuses = [status for status, _ in self.answers]
        times = sorted(seconds for _, seconds in self.answers)
        assert len(times) >= least, f"only {len(times)} scrapes"
        assert statuses == [200] * len(statuses), statuses
        p95 = times[round(0.95 * (len(times) - 1))]
        assert p95 < P95_BOUND and times[-1] < MAX_BOUND, f"p95 {p95:.3f} s, max {times[-1]:.3f} s"


@dataclass
class Service:
    server: Server
    port: int

    @property
    def pid(self) -> int:
        return self.server.pid

    def rss_kib(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def threads(self) -> int:
        return proc_status(self.pid, "Threads")


@pytest.fixture
def service(servers: Servers, example: HostTree) -> Iterator[Service]:
    """`udev-drift serve` checking every second; alive, answering and stopping cleanly after."""
    port = free_port()
    serve(servers, example, port, "--interval", "1")
    [server] = servers.started
    try:
        yield Service(server, port)
        assert server.process.poll() is None, server.output()
        [(status, _)] = many_checked(port, [SCRAPE])
        assert status == 200
    finally:
        code = servers.stop(server)  # SIGTERM, SIGKILL after 10 s
    output = server.output()
    assert code == 0 and "Traceback" not in output, output


class TestSlowClients:
    def test_200_silent_and_trickling_clients_do_not_delay_scrapes_and_are_cut_at_the_deadline(
            self, service: Service) -> None:
        count = 200
        assert count < MAX_PENDING  # none is cut for room: each waits for its deadline
        selector = selectors.DefaultSelector()
        opened: dict[socket.socket, float] = {}
        closed: dict[socket.socket, float] = {}
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=5)
            sock.setblocking(False)
            opened[sock] = time.monotonic()
            selector.register(sock, selectors.EVENT_READ)
        trickling = list(opened)[::2]  # the others send nothing at all
        prefix = b"GET /metrics HTTP/1.1\r\nX-Slow: "
        sent = 0

        def watch(until: float) -> None:
            nonlocal sent
            while (now := time.monotonic()) < until and len(closed) < count:
                for sock in trickling:  # a byte a second: the head never ends
                    if sock not in closed:
                        with contextlib.suppress(OSError):  # cut: seen below
                            sock.send(prefix[sent:sent + 1] or b"a")
                sent += 1
                tick = min(now + 1.0, until)
                while (left := tick - time.monotonic()) > 0:
                    for key, _ in selector.select(left):
                        conn = key.fileobj
                        assert isinstance(conn, socket.socket)
                        try:
                            data = conn.recv(4096)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        assert not data, data  # cut without an answer
                        closed[conn] = time.monotonic()
                        selector.unregister(conn)

        try:
            # Scrape while all 200 are open: until a second before the first deadline.
            window = min(opened.values()) + REQUEST_SECONDS - 1.0
            assert window - time.monotonic() > 2.0, "opening 200 connections took too long"
            with Scrapes(service.port) as scrapes:
                watch(window)
            assert not closed, f"{len(closed)} cut early"
            scrapes.check(least=20)
            watch(max(opened.values()) + REQUEST_SECONDS + 3)
            held = sorted(closed[sock] - opened[sock] for sock in closed)
            assert len(held) == count, f"{count - len(held)} slow connections never cut"
            assert held[0] > REQUEST_SECONDS - 0.5 and held[-1] < REQUEST_SECONDS + 3, (held[0], held[-1])
        finally:
            selector.close()
            for sock in opened:
                sock.close()


def oversized() -> list[tuple[str, bytes, set[int | None]]]:
    """(what, request, the answers allowed) for requests too large to serve."""
    big = 64 * 1024
    return [
        ("a 64 KiB request line", b"GET /" + b"a" * big + b" HTTP/1.0\r\n\r\n", {431}),
        ("a 64 KiB header", b"GET /metrics HTTP/1.0\r\nX-Big: " + b"b" * big + b"\r\n\r\n", {431}),
        ("4000 small headers", b"GET /metrics HTTP/1.0\r\n" + b"X-H: v\r\n" * 4000 + b"\r\n", {431}),
        ("a POST announcing 1 GiB, 64 KiB sent",
         b"POST /metrics HTTP/1.0\r\nContent-Length: 1073741824\r\n\r\n" + b"c" * big, {405}),
        ("a GET announcing 1 GiB, none sent",
         b"GET /metrics HTTP/1.0\r\nContent-Length: 1073741824\r\n\r\n", {200}),
        # More than the server drains before closing: the answer may be lost in the reset.
        ("a POST of 1 MiB", b"POST /metrics HTTP/1.0\r\nContent-Length: 1048576\r\n\r\n" + b"d" * 2 ** 20,
         {405, None}),
    ]


class TestOversized:
    def test_500_oversized_requests_are_refused_and_memory_does_not_grow(self, service: Service) -> None:
        assert MAX_REQUEST_BYTES < 64 * 1024 and LINGER_BYTES < 2 ** 20  # each over the limit it tries
        kinds = oversized()
        many_checked(service.port, [request for _, request, _ in kinds] * 10)  # warm up the allocator
        before = service.rss_kib()
        peak = before
        answers: dict[str, list[int | None]] = {what: [] for what, _, _ in kinds}
        for _ in range(10):  # 10 rounds of 50 at once
            batch = [kinds[i % len(kinds)] for i in range(50)]
            results = many_checked(service.port, [request for _, request, _ in batch])
            for (what, _, _), (status, _) in zip(batch, results):
                answers[what].append(status)
            peak = max(peak, service.rss_kib())
        after = service.rss_kib()
        for what, _, allowed in kinds:
            assert set(answers[what]) <= allowed, (what, sorted(set(answers[what]), key=str))
        assert sum(map(len, answers.values())) == 500
        assert after - before < RSS_GROWTH_BOUND_KIB, (before, peak, after)
        assert peak - before < 2 * RSS_GROWTH_BOUND_KIB, (before, peak, after)


class TestManyConnections:
    def test_bursts_of_400_concurrent_scrapes_all_end_and_the_threads_stay_bounded(
            self, service: Service) -> None:
        many_checked(service.port, [SCRAPE] * 20)
        idle = service.threads()
        seen: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                seen.append(service.threads())
                done.wait(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            results = [result for _ in range(3) for result in many_checked(service.port, [SCRAPE] * 400)]
        finally:
            done.set()
            sampler.join(5)
        statuses = [status for status, _ in results]
        # The workers are started with the server: a burst adds no thread at all.
        assert max(seen) <= idle, (idle, max(seen))
        assert idle <= MAX_THREADS + 8, idle  # main, checks, the accepting thread, watchers
        # Each is answered: 200, or 503 when more than MAX_PENDING complete requests wait for a
        # worker (or one waits over a second), which a burst of 400 may cause (measured: ~0.5%).
        assert set(statuses) <= {200, 503} and statuses.count(200) >= 0.75 * len(statuses), \
            {status: statuses.count(status) for status in set(statuses)}
        with Scrapes(service.port) as scrapes:
            time.sleep(1)
        scrapes.check(least=5)


def garbage() -> list[tuple[str, bytes, int | None]]:
    """(what, request, status; None: closed without an answer)."""
    rng = random.Random(7)
    noise = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))) for _ in range(20)]
    cases: list[tuple[str, bytes, int | None]] = [
        ("HTTP/0.9 GET", b"GET /metrics\r\n\r\n", 200),  # answered as HTTP/1.0, status line and all
        ("HTTP/0.9 POST", b"POST /metrics\r\n\r\n", 400),
        ("HTTP/0.9 traversal", b"GET /../../etc/passwd\r\n\r\n", 404),
        ("a method that is not", b"BREW /metrics HTTP/1.0\r\n\r\n", 405),
        ("lower case", b"get /metrics HTTP/1.0\r\n\r\n", 405),
        ("TRACE", b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", 404),
        ("a NUL in the method", b"G\x00T /metrics HTTP/1.0\r\n\r\n", 405),
        ("traversal", b"GET /../../etc/passwd HTTP/1.0\r\n\r\n", 404),
        ("traversal after /metrics", b"GET /metrics/../../../etc/passwd HTTP/1.0\r\n\r\n", 404),
        ("encoded traversal", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.0\r\n\r\n", 404),
        ("double slash", b"GET //etc/passwd HTTP/1.0\r\n\r\n", 404),
        ("backslashes", b"GET \\..\\..\\etc\\passwd HTTP/1.0\r\n\r\n", 404),
        ("a long path, under the limit", b"GET /" + b"a/" * 3500 + b" HTTP/1.0\r\n\r\n", 404),
        ("a long path, over the limit", b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n", 431),
        ("bytes that are not UTF-8 in the path", b"GET /\xff\xfe\x80 HTTP/1.0\r\n\r\n", 404),
        ("HTTP/9.9", b"GET /metrics HTTP/9.9\r\n\r\n", 505),
        ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("not HTTP at all", b"GET /metrics SMTP/1.0\r\n\r\n", 400),
        ("four words", b"GET / HTTP/1.0 x\r\n\r\n", 400),
        ("one word", b"GET\r\n\r\n", 400),
        ("a TLS ClientHello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\r\n\r\n", 400),
        ("an SSH banner", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", 400),
        ("an empty line first", b"\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", None),
        ("nothing at all", b"", None),
        ("101 headers", b"GET /metrics HTTP/1.0\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    ]
    # Noise: whatever the server makes of it is a 4xx or 5xx answer, or no answer at all.
    return cases + [(f"random bytes #{i}", blob, -1) for i, blob in enumerate(noise)]


class TestGarbage:
    def test_garbage_gets_an_error_and_the_server_lives_on(self, service: Service) -> None:
        cases = garbage()
        wrong = []
        requests = [request for _, request, _ in cases]
        one_at_a_time = [result for request in requests for result in many_checked(service.port, [request])]
        for results in (one_at_a_time, many_checked(service.port, requests * 5)):  # then all at once
            for (what, _, expected), (status, _) in zip(cases * 5, results):
                noise_ok = expected == -1 and (status is None or status >= 400)
                if status != expected and not noise_ok:
                    wrong.append((what, expected, status))
        assert not wrong, wrong
        with Scrapes(service.port) as scrapes:
            time.sleep(0.5)
        scrapes.check(least=3)


class NonReaders:
    """Ten times a second, a client asks for /metrics with a tiny receive window and never
    reads the answer; each keeps its connection open for `hold` seconds."""

    def __init__(self, port: int, per_second: float = 10.0, hold: float = 6.0) -> None:
        self.port = port
        self.per_second = per_second
        self.hold = hold
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> NonReaders:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.hold + 10)

    def _run(self) -> None:
        held: list[tuple[float, socket.socket]] = []
        try:
            while not self._stop.is_set():
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
                try:
                    sock.connect(("127.0.0.1", self.port))
                    sock.sendall(SCRAPE)
                except OSError:
                    sock.close()
                else:
                    held.append((time.monotonic(), sock))
                    self.opened += 1
                while held and held[0][0] + self.hold < time.monotonic():
                    held.pop(0)[1].close()
                self._stop.wait(1 / self.per_second)
        finally:
            for _, sock in held:
                sock.close()


class TestClientsThatDoNotRead:
    """A client that asks for a large exposition and never reads it must not hold a worker
    (it held one for WRITE_SECONDS each: 10 a second made a quarter of scrapes 503)."""

    # ~6 MiB: more than loopback's socket buffers take (~3 MiB) before a send blocks.
    BODY = b"".join(b'udev_drift_item_drifted{policy="p",kind="symlink",item="/dev/disk/by-id/wwn-0x5000c500%08d"} 0\n'
                    % n for n in range(70_000)) + b'udev_drift_build_info{version="1.0.0"} 1.0\n'

    def test_scrapes_are_answered_while_ten_clients_a_second_never_read(self) -> None:
        from checker.serve.http import MetricsServer
        from tests.serve.test_serve import FakeSource

        server = MetricsServer(("127.0.0.1", 0), socket.AF_INET, FakeSource(self.BODY))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        port = server.server_address[1]
        try:
            with NonReaders(port) as abuse, Scrapes(port, every=0.1) as scrapes:
                time.sleep(8.0)
            assert abuse.opened >= 50
            statuses = [status for status, _ in scrapes.answers]
            refused = sum(1 for status in statuses if status != 200)
            assert refused == 0, f"{refused} of {len(statuses)} scrapes not answered 200: {statuses}"
            times = sorted(seconds for _, seconds in scrapes.answers)
            assert times[round(0.95 * (len(times) - 1))] < P95_BOUND
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
