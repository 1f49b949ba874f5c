"""The HTTP side of `udev-drift serve`: `GET /metrics` from the last result, and a small `/`.

A scrape never waits for a check: the body is bytes prepared when the last check ended.
Everything else is bounded, because the port may be reachable by more than Prometheus:

- at most `max_threads` connections are served at once; when all are busy, the next one
  waits up to BUSY_WAIT_SECONDS for a slot and is then answered 503 and closed;
- the request head (request line and headers) may be at most MAX_REQUEST_BYTES and must
  arrive within REQUEST_SECONDS, however slowly it trickles in; bodies are never read;
- one request per connection (HTTP/1.0): no idle keep-alive connection holds a thread;
- with TLS the handshake happens in the worker thread, under the same deadline.
"""

from __future__ import annotations

import html
import http.client
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from checker import __version__
from checker.errors import UdevDriftError, UsageError
from checker.serve import DEFAULT_PORT

log = logging.getLogger("udev-drift")

MAX_THREADS = 8
MAX_REQUEST_BYTES = 8192
REQUEST_SECONDS = 5.0
WRITE_SECONDS = 5.0
BUSY_WAIT_SECONDS = 1.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PATHS = ("/", "/metrics")


class ListenError(UdevDriftError):
    exit_status = 3


class MetricsSource(Protocol):
    def metrics(self) -> bytes | None:
        """The exposition of the last check, or None before the first one has ended."""

    def status(self) -> str:
        """One line on the last check, for people."""


class RequestTooLarge(http.client.HTTPException):
    """The request head is larger than we read (http.server answers 431)."""


class _HeadReader:
    """Reads the request head straight from the socket, within a byte budget and a deadline.

    A buffered socket file would let a client that sends one byte every few seconds hold a
    thread for as long as it likes: each recv() gets its own timeout. Here every recv()
    gets only what is left of one deadline for the whole head.
    """

    def __init__(self, connection: socket.socket, budget: int, deadline: float) -> None:
        self.connection = connection
        self.budget = budget
        self.deadline = deadline
        self.buffer = b""
        self.closed = False

    def _fill(self) -> bool:
        if self.budget <= 0:
            raise RequestTooLarge(f"request head larger than {MAX_REQUEST_BYTES} bytes")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request head not received in time")
        self.connection.settimeout(left)
        data = self.connection.recv(min(4096, self.budget))
        self.budget -= len(data)
        self.buffer += data
        return bool(data)

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self.buffer.find(b"\n") + 1
            if end == 0 and 0 <= limit <= len(self.buffer):
                end = limit
            if end == 0 and not self._fill():
                line, self.buffer = self.buffer, b""  # the client closed: that is all
                return line
            if end:
                if 0 <= limit < end:
                    end = limit
                line, self.buffer = self.buffer[:end], self.buffer[end:]
                return line

    def read(self, size: int = -1) -> bytes:
        return b""  # GET only: a body is never read

    def close(self) -> None:
        self.closed = True


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = f"udev-drift/{__version__}"
    protocol_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self.head = _HeadReader(self.connection, MAX_REQUEST_BYTES,
                                time.monotonic() + self.server.request_seconds)
        self.rfile = self.head  # type: ignore[assignment]

    def handle(self) -> None:
        try:
            self.handle_one_request()
        except RequestTooLarge:
            self.close_connection = True
            if not hasattr(self, "requestline"):  # too large before the request line ended
                self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"
            self._quietly(lambda: self.send_error(431, "Request header fields too large"))
        except OSError as error:  # timed out, reset, TLS failure: drop the client
            log.debug("http: %s: %s", self.client_address[0], error)
            return
        if self.head.budget <= 0 or getattr(self, "command", "GET") != "GET":
            self._quietly(self._drain)

    def _drain(self) -> None:
        # A refused request may leave input unread (a body, the rest of a huge header), and
        # closing with unread input makes the kernel send a reset, which can destroy the
        # answer before the client reads it: read what is left, for at most a second.
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 1.0
        for _ in range(64):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.connection.settimeout(left)
            if not self.connection.recv(4096):
                break

    def version_string(self) -> str:
        return self.server_version  # not "udev-drift/1.0.0 Python/3.x"

    def _quietly(self, action: Callable[[], None]) -> None:
        try:
            self.connection.settimeout(WRITE_SECONDS)
            action()
        except OSError:
            pass

    def _reply(self, code: int, body: bytes, content_type: str,
               headers: dict[str, str] | None = None) -> None:
        self.connection.settimeout(WRITE_SECONDS)  # a client that does not read is dropped
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        self._reply(code, text.encode("utf-8"), "text/plain; charset=utf-8", headers)

    def _path(self) -> str:
        return urlsplit(self.path).path

    def do_GET(self) -> None:  # the name http.server dispatches GET to
        path = self._path()
        if path == "/metrics":
            body = self.server.source.metrics()
            if body is None:
                self._text(503, "the first check has not finished yet\n", {"Retry-After": "1"})
            else:
                self._reply(200, body, CONTENT_TYPE)
        elif path == "/":
            self._reply(200, self._index(), "text/html; charset=utf-8")
        else:
            self._text(404, "not found: this server answers GET /metrics\n")

    def _index(self) -> bytes:
        status = html.escape(self.server.source.status())
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>udev-drift</title></head>"
                f"<body><h1>udev-drift {html.escape(__version__)}</h1><p>{status}</p>"
                f"<p><a href=\"metrics\">metrics</a></p></body></html>\n").encode()

    def _not_allowed(self) -> None:
        if self._path() in PATHS:
            self._text(405, f"method {self.command} not allowed: use GET\n", {"Allow": "GET"})
        else:
            self._text(404, "not found: this server answers GET /metrics\n")

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>: every method but GET gets 405 (or 404).
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s %s", self.address_string(), format % args)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never keeps the process from stopping
    block_on_close = False
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, source: MetricsSource,
                 tls: ssl.SSLContext | None = None, max_threads: int = MAX_THREADS,
                 request_seconds: float = REQUEST_SECONDS) -> None:
        self.address_family = family
        self.source = source
        self.tls = tls
        self.request_seconds = request_seconds
        self.max_threads = max_threads
        self._slots = threading.BoundedSemaphore(max_threads)
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # "[::]" means IPv6 only; say 0.0.0.0 for IPv4, as one would expect.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=BUSY_WAIT_SECONDS):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.request_seconds)  # the handshake, too, has a deadline
        secured = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(secured, client_address)
        finally:
            secured.close()

    def _refuse(self, request: socket.socket) -> None:
        log.debug("http: all %s slots busy; answering 503", self.max_threads)
        try:
            request.settimeout(0.5)
            if self.tls is None:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\n"
                                b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # One line at debug level, never a traceback on the service's stderr.
        error = sys.exc_info()[1]
        log.debug("http: %s: %s: %s", client_address, type(error).__name__, error)


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT', '[V6]:PORT' or ':PORT' (all addresses) -> (host, port). Raises UsageError."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen {value}: expected HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen {value}: write an IPv6 address in brackets: [{host}]:{port_text}")
    return host or "0.0.0.0", int(port_text)


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError("--tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"--tls-cert {cert} --tls-key {key}: cannot load: "
                         f"{getattr(error, 'strerror', None) or error}") from None
    return context


def make_server(listen: str, source: MetricsSource, tls: ssl.SSLContext | None = None,
                max_threads: int = MAX_THREADS) -> MetricsServer:
    """Bind the listen address (raises ListenError or UsageError); serving starts later."""
    host, port = parse_listen(listen)
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise UsageError(f"--listen {listen}: {error.strerror}") from None
    try:
        return MetricsServer((str(address[0]), int(address[1])), family, source, tls, max_threads)
    except OSError as error:
        raise ListenError(f"cannot listen on {listen}: {error.strerror}") from None
