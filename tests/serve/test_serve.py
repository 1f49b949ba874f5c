"""`udev-drift serve`: /metrics from the last check, checks in their own thread, bounded HTTP.

The service runs as its own process (signals, exit status, stderr), scraped over loopback;
the HTTP limits are tested on the server in-process with a fake source and short limits.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.paths import SERVE_LISTEN
from checker.serve.http import WRITE_SECONDS, MetricsServer, make_server, parse_listen
from checker.serve.loop import Checks
from tests.conftest import REPO, HostTree
from tests.exporters.test_metrics import Metrics
from tests.servers import Servers, free_port, http_get, need, tool, wait_for

POLICY = "xenserver-local-sata"
LINK = "/dev/xapi/block/sdb"


def serve(servers: Servers, example: HostTree, port: int, *args: str) -> str:
    servers.start("serve", [sys.executable, "-m", "checker", "serve", "--root", str(example.root),
                            "--listen", f"127.0.0.1:{port}", *args], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    wait_for("serve to answer /metrics", lambda: http_get(url + "/metrics", 1)[0] == 200, timeout=20)
    return url


class TestService:
    def test_scrapes_are_answered_while_checks_run_and_see_the_host_change(
            self, servers: Servers, example: HostTree) -> None:
        url = serve(servers, example, free_port(), "--interval", "0.2")
        status, body = http_get(url + "/metrics")
        assert status == 200
        assert Metrics(body).value("udev_drift_policy_compliant", policy=POLICY) == 0

        # The host is repaired behind the service's back: a later check shows it.
        assert tool("check", "--root", str(example.root), "--repair").returncode == 0

        def compliant() -> bool:  # every scrape meanwhile is answered, while checks run
            status, body = http_get(url + "/metrics")
            assert status == 200
            return Metrics(body).value("udev_drift_policy_compliant", policy=POLICY) == 1

        wait_for("serve to see the repaired host", compliant, timeout=20, every=0.02)
        # The repair made by the other run is counted in the shared state directory (the
        # other run records it just after repairing: a check in between may not see it yet).
        wait_for("the other run's repairs", lambda: Metrics(http_get(url + "/metrics")[1]).value(
            "udev_drift_repairs_total", policy=POLICY, kind="symlink") == 1, timeout=10)
        metrics = Metrics(http_get(url + "/metrics")[1])
        assert metrics.value("udev_drift_run_success") == 1
        assert metrics.value("udev_drift_repair_enabled") == 0

    def test_two_seconds_of_scrapes_across_many_checks_are_all_answered(self, servers: Servers,
                                                                         example: HostTree) -> None:
        url = serve(servers, example, free_port(), "--interval", "0.1")
        runs = set()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            status, body = http_get(url + "/metrics")
            assert status == 200 and body.endswith('udev_drift_build_info{version="1.0.0"} 1.0\n')
            runs.add(Metrics(body).value("udev_drift_last_run_timestamp_seconds"))
        assert len(runs) >= 5  # checks kept running (and finishing) between the scrapes

    def test_the_exposition_is_lint_clean_and_typed_for_prometheus(self, servers: Servers,
                                                                   example: HostTree) -> None:
        promtool = need("promtool")
        url = serve(servers, example, free_port())
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:  # noqa: S310 - loopback
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            body = response.read()
        linted = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
        assert linted.returncode == 0 and not linted.stdout and not linted.stderr, linted

    def test_repair_mode_repairs_at_each_check_and_counts(self, servers: Servers, example: HostTree) -> None:
        url = serve(servers, example, free_port(), "--repair", "--interval", "0.2")
        wait_for("the repair", lambda: example.path(LINK).is_symlink(), timeout=20)
        metrics = Metrics(http_get(url + "/metrics")[1])
        assert metrics.value("udev_drift_repair_enabled") == 1
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="symlink") == 1

    def test_an_invalid_policy_keeps_serving_with_run_success_0(self, servers: Servers,
                                                                example: HostTree) -> None:
        example.policy("version: 1\nname: broken\nrules: [\n", "broken.yaml")
        url = serve(servers, example, free_port())
        metrics = Metrics(http_get(url + "/metrics")[1])
        assert metrics.value("udev_drift_run_success") == 0
        status, page = http_get(url + "/")
        assert status == 200 and "failed" in page and "broken.yaml" in page

    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
    def test_sigterm_and_sigint_stop_it_cleanly_with_exit_0(self, sig: int, servers: Servers,
                                                            example: HostTree) -> None:
        serve(servers, example, free_port())
        [server] = servers.started
        assert servers.stop(server, sig) == 0
        output = server.output()
        assert "udev-drift: stopped" in output and "Traceback" not in output

    def test_sighup_checks_at_once(self, servers: Servers, example: HostTree) -> None:
        url = serve(servers, example, free_port(), "--interval", "3600")
        assert tool("check", "--root", str(example.root), "--repair").returncode == 0
        [server] = servers.started
        server.process.send_signal(signal.SIGHUP)
        wait_for("the check SIGHUP asked for", lambda: Metrics(http_get(url + "/metrics")[1]).value(
            "udev_drift_policy_compliant", policy=POLICY) == 1, timeout=10)

    def test_usage_errors_are_one_line_exit_2(self, example: HostTree) -> None:
        for args, message in [
            (["--listen", "localhost"], "expected HOST:PORT"),
            (["--listen", "::1:9917"], "write an IPv6 address in brackets"),
            (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
            (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot load"),
        ]:
            done = tool("serve", "--root", str(example.root), *args, timeout=20)
            assert done.returncode == 2, (args, done.stderr)
            assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr

    def test_an_interval_that_is_not_a_duration_is_a_usage_error(self, example: HostTree) -> None:
        for value in ("0", "1e-300", "nan", "inf", "-1"):
            done = tool("serve", "--root", str(example.root), "--interval", value, timeout=20)
            assert done.returncode == 2, (value, done.stderr)
            assert done.stderr.splitlines()[-1] == (f"udev-drift serve: error: argument --interval: expected "
                                                    f"seconds from 0.1 to 604800, got {value!r}")

    def test_a_port_in_use_is_one_line_exit_3(self, example: HostTree) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = tool("serve", "--root", str(example.root), "--listen", f"127.0.0.1:{port}", timeout=20)
        assert done.returncode == 3
        assert done.stderr == f"udev-drift: cannot listen on 127.0.0.1:{port}: Address already in use\n"

    def test_tls(self, servers: Servers, example: HostTree, tmp_path: Path) -> None:
        openssl = need("openssl")
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
        port = free_port()
        servers.start("serve", [sys.executable, "-m", "checker", "serve", "--root", str(example.root),
                                "--listen", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key)],
                      cwd=REPO)
        context = ssl.create_default_context(cafile=str(cert))

        def fetch() -> str:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=context,  # noqa: S310
                                        timeout=2) as response:
                return str(response.read().decode())

        body = wait_for("serve over TLS", fetch, timeout=20)
        assert "udev_drift_build_info" in str(body)
        # A plain-HTTP client on the TLS port gets no metrics, and the server goes on.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            plain.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            try:
                answer = plain.recv(100)
            except OSError:  # reset by the server: dropped
                answer = b""
        assert b"udev_drift" not in answer
        assert "udev_drift_build_info" in fetch()


class FakeSource:
    def __init__(self, body: bytes | None = b"udev_drift_run_success 1.0\n") -> None:
        self.body = body

    def metrics(self) -> bytes | None:
        return self.body

    def status(self) -> str:
        return "last check <now>: compliant"


class StuckSource(FakeSource):
    """A source whose answer takes until `stuck` is set: a worker busy for as long."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = threading.Event()
        self.stuck.set()
        self.entered = threading.Event()

    def metrics(self) -> bytes | None:
        self.entered.set()
        self.stuck.wait(10)
        return self.body


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[MetricsServer]:
    options = getattr(request, "param", {})
    running = MetricsServer(("127.0.0.1", 0), socket.AF_INET, options.get("source", FakeSource()),
                            max_threads=options.get("max_threads", 8),
                            request_seconds=options.get("request_seconds", 5.0))
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()
        thread.join(5)


def raw(server: MetricsServer, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=timeout) as client:
        client.sendall(request)
        chunks = []
        while True:
            chunk = client.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


class TestHTTP:
    def test_get_metrics_and_the_index_page(self, server: MetricsServer) -> None:
        response = raw(server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(response) == 200 and response.endswith(b"\r\n\r\nudev_drift_run_success 1.0\n")
        assert b"Content-Length: 27\r\n" in response
        page = raw(server, b"GET / HTTP/1.0\r\n\r\n")
        assert status_of(page) == 200 and b'<a href="metrics">' in page and b"compliant" in page
        assert status_of(raw(server, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")) == 200

    @pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"BREW"])
    def test_any_other_method_is_405_with_allow_get(self, server: MetricsServer, method: bytes) -> None:
        response = raw(server, method + b" /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
        assert status_of(response) == 405 and b"Allow: GET\r\n" in response

    def test_a_refused_request_with_a_large_body_still_gets_its_answer(self, server: MetricsServer) -> None:
        body = b"x" * 200_000
        with socket.create_connection(server.server_address[:2], timeout=5) as client:
            client.sendall(b"POST /metrics HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(body))
            with contextlib.suppress(OSError):  # the server may stop reading: it answered
                client.sendall(body)
            assert client.recv(12) == b"HTTP/1.0 405"

    @pytest.mark.parametrize("path", [b"/metrics/", b"/favicon.ico", b"/../etc/passwd", b"/metricsx"])
    def test_any_other_path_is_404(self, server: MetricsServer, path: bytes) -> None:
        assert status_of(raw(server, b"GET " + path + b" HTTP/1.0\r\n\r\n")) == 404
        assert status_of(raw(server, b"POST " + path + b" HTTP/1.0\r\n\r\n")) == 404

    def test_the_server_does_not_tell_which_python_runs_it(self, server: MetricsServer) -> None:
        response = raw(server, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert b"Server: udev-drift/1.0.0\r\n" in response and b"Python" not in response

    def test_a_request_head_larger_than_8_kib_is_431(self, server: MetricsServer) -> None:
        response = raw(server, b"GET /metrics HTTP/1.0\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        assert status_of(response) == 431
        response = raw(server, b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n")
        assert status_of(response) == 431

    @pytest.mark.parametrize("server", [{"request_seconds": 0.5}], indirect=True)
    def test_a_client_that_trickles_its_request_is_cut_at_the_deadline(self, server: MetricsServer) -> None:
        with socket.create_connection(server.server_address[:2], timeout=5) as client:
            began = time.monotonic()
            try:
                for _ in range(20):  # one byte every 0.1 s: each recv is quick, the whole is not
                    client.sendall(b"G")
                    time.sleep(0.1)
            except OSError:
                pass  # the server closed on us: that is the point
            client.settimeout(5)
            try:
                rest = client.recv(100)
            except OSError:
                rest = b""
            assert rest == b"" and time.monotonic() - began < 2.5

    @pytest.mark.parametrize("server", [{"max_threads": 1, "source": StuckSource()}], indirect=True)
    def test_when_every_thread_is_busy_the_next_client_gets_503_not_a_hang(self, server: MetricsServer) -> None:
        source = server.source
        assert isinstance(source, StuckSource)
        address = server.server_address[:2]
        with socket.create_connection(address, timeout=5):  # connected but silent: holds no thread
            assert status_of(raw(server, b"GET / HTTP/1.0\r\n\r\n")) == 200
        source.stuck.clear()
        with socket.create_connection(address, timeout=5) as stuck:  # its answer holds the one worker
            stuck.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert source.entered.wait(5)
            began = time.monotonic()
            response = raw(server, b"GET / HTTP/1.0\r\n\r\n")
            assert status_of(response) == 503 and b"Retry-After: 1\r\n" in response
            assert time.monotonic() - began < 2.5
            source.stuck.set()
        wait_for("the worker to come back",
                 lambda: status_of(raw(server, b"GET / HTTP/1.0\r\n\r\n")) == 200, timeout=10)

    @pytest.mark.parametrize("server", [{"max_threads": 1, "source": FakeSource(b"x" * 64 * 2 ** 20)}],
                             indirect=True)
    def test_a_client_that_does_not_read_its_answer_holds_no_worker(self, server: MetricsServer) -> None:
        address = server.server_address[:2]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reader:  # never reads 64 MiB
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.connect(address)
            reader.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            time.sleep(0.2)
            began = time.monotonic()
            assert status_of(raw(server, b"GET / HTTP/1.0\r\n\r\n")) == 200  # the one worker is free
            assert time.monotonic() - began < 0.5
            time.sleep(WRITE_SECONDS + 0.5)  # its answer is given up on at the deadline
            reader.settimeout(5)
            received = 0
            with contextlib.suppress(OSError):
                while chunk := reader.recv(2 ** 20):
                    received += len(chunk)
            assert received < 64 * 2 ** 20

    @pytest.mark.parametrize("server", [{"source": FakeSource(None)}], indirect=True)
    def test_before_the_first_check_ends_metrics_is_503_with_retry_after(self, server: MetricsServer) -> None:
        response = raw(server, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status_of(response) == 503 and b"Retry-After: 1\r\n" in response

    def test_it_binds_loopback_on_9917_unless_told_otherwise(self) -> None:
        assert SERVE_LISTEN == "127.0.0.1:9917"
        assert parse_listen(SERVE_LISTEN) == ("127.0.0.1", 9917)
        assert parse_listen("[::1]:9917") == ("::1", 9917)
        assert parse_listen(":9917") == ("0.0.0.0", 9917)
        from checker.cli.dispatch import build_parser

        args = build_parser().parse_args(["serve"])
        assert args.listen == "127.0.0.1:9917" and args.interval == 60

    def test_ipv6_loopback(self) -> None:
        if not socket.has_ipv6:
            pytest.skip("no IPv6 in this kernel")
        try:
            running = make_server("[::1]:0", FakeSource())
        except Exception as error:  # noqa: BLE001 - IPv6 disabled on this host
            pytest.skip(f"cannot bind [::1]: {error}")
        thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            port = running.server_address[1]
            assert http_get(f"http://[::1]:{port}/metrics")[0] == 200
        finally:
            running.shutdown()
            running.server_close()


class TestChecks:
    def test_request_check_runs_a_check_at_once_and_requests_fold_into_one(self) -> None:
        runs: list[float] = []
        release = threading.Event()

        def run() -> tuple[bytes, str]:
            runs.append(time.monotonic())
            if len(runs) == 2:
                release.wait(5)  # a slow check; requests arrive meanwhile
            return b"x 1\n", f"run {len(runs)}"

        checks = Checks(run, interval=3600)
        checks.start()
        try:
            wait_for("the first check", lambda: checks.completed == 1, timeout=5)
            assert checks.metrics() == b"x 1\n" and checks.status() == "run 1"
            checks.request_check()
            wait_for("the requested check to begin", lambda: len(runs) == 2, timeout=5)
            for _ in range(5):
                checks.request_check()
            release.set()
            wait_for("one more check for the five requests", lambda: checks.completed == 3, timeout=5)
            time.sleep(0.3)
            assert len(runs) == 3
        finally:
            checks.stop(5)

    def test_a_scrape_never_waits_for_a_check(self) -> None:
        started = threading.Event()
        release = threading.Event()
        count = 0

        def run() -> tuple[bytes, str]:
            nonlocal count
            count += 1
            if count == 2:
                started.set()
                release.wait(10)
            return f"x {count}\n".encode(), ""

        checks = Checks(run, interval=0.05)
        running = MetricsServer(("127.0.0.1", 0), socket.AF_INET, checks)
        thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        checks.start()
        thread.start()
        try:
            assert started.wait(5)  # the second check hangs
            began = time.monotonic()
            response = raw(running, b"GET /metrics HTTP/1.0\r\n\r\n")
            assert response.endswith(b"x 1\n") and time.monotonic() - began < 0.5
        finally:
            release.set()
            running.shutdown()
            running.server_close()
            checks.stop(5)
