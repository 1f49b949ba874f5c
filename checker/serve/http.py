"""The HTTP side of `udev-drift serve`: `GET /metrics` from the last result, and a small `/`.

A scrape never waits for a check: the body is bytes prepared when the last check ended.
Everything else is bounded, because the port may be reachable by more than Prometheus:

- one thread accepts connections and reads their request heads, all of them at once and
  never blocking; a connection gets one of the `max_threads` worker threads only once its
  whole head is in, so clients that connect and then send slowly, or nothing, cannot keep
  scrapes from being answered (a thread per waiting connection would let 8 of them do so);
- the request head (request line and headers) may be at most MAX_REQUEST_BYTES and must
  arrive within REQUEST_SECONDS, however slowly it trickles in, or the connection is closed
  without an answer; at most MAX_PENDING connections wait for their head: beyond, the
  oldest is closed;
- a complete request waits for a worker up to BUSY_WAIT_SECONDS, behind at most MAX_PENDING
  others, or it is answered 503 (so at most 3 * MAX_PENDING + `max_threads` sockets are
  open at once: below the usual limit of 1024 file descriptors);
- bodies are never read: what a refused request leaves unread is read and thrown away by
  the accepting thread, for at most LINGER_SECONDS, so that the client gets its answer
  rather than a reset and no worker waits for it;
- a worker only prepares the answer; the accepting thread sends it, never blocking, as
  the client reads, for at most WRITE_SECONDS: a client that asks for a large exposition
  and then does not read holds no worker (with a thread writing, ten such clients a
  second turned a quarter of the scrapes into 503). The body is the one bytes object of
  the last check, shared, so a thousand unread answers cost no memory of their own;
- one request per connection (HTTP/1.0): no idle keep-alive connection holds anything;
- with TLS the handshake happens in the accepting thread too, under the head's deadline.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import html
import http.client
import logging
import selectors
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from checker import __version__
from checker.errors import UdevDriftError, UsageError
from checker.paths import SERVE_PORT

log = logging.getLogger("udev-drift")

MAX_THREADS = 8
MAX_PENDING = 256  # connections waiting for their head (and, apart, requests waiting for a worker)
MAX_REQUEST_BYTES = 8192
REQUEST_SECONDS = 5.0
WRITE_SECONDS = 5.0
BUSY_WAIT_SECONDS = 1.0
LINGER_SECONDS = 1.0
LINGER_BYTES = 256 * 1024
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
    """The request head as the accepting thread collected it, read as http.server reads a file.

    The head is complete, or the client stopped sending (end of file), or it is larger than
    MAX_REQUEST_BYTES: a line that goes on past the budget raises RequestTooLarge.
    """

    def __init__(self, head: bytes) -> None:
        self.buffer = head
        self.budget = MAX_REQUEST_BYTES - len(head)
        self.closed = False

    def readline(self, limit: int = -1) -> bytes:
        end = self.buffer.find(b"\n") + 1
        if end == 0:
            if self.budget <= 0 and not 0 <= limit <= len(self.buffer):
                raise RequestTooLarge(f"request head larger than {MAX_REQUEST_BYTES} bytes")
            end = len(self.buffer)  # the client stopped sending: that is all
        if 0 <= limit < end:
            end = limit
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        return line

    def read(self, size: int = -1) -> bytes:
        return b""  # GET only: a body is never read

    def close(self) -> None:
        self.closed = True


class _Answer:
    """Where a handler writes its answer: kept, for the accepting thread to send."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self.chunks.append(data)  # the body is not copied: the last check's bytes, shared
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = f"udev-drift/{__version__}"
    protocol_version = "HTTP/1.0"
    # Not HTTP/0.9: an error in the request line is answered with a status line, and a
    # two-word request line ("GET /metrics") too, rather than a bare body.
    default_request_version = "HTTP/1.0"
    timeout = WRITE_SECONDS  # setup() makes the socket blocking again, with this timeout

    def __init__(self, request: socket.socket, client_address: Any, server: MetricsServer,
                 head: bytes = b"") -> None:
        self.head = _HeadReader(head)
        self.linger = False  # True: the accepting thread reads what is left, then closes
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.rfile = self.head  # type: ignore[assignment]
        self.wfile.close()
        self.answer = _Answer()
        self.wfile = self.answer  # type: ignore[assignment]

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
            self._quietly(self._linger)

    def _linger(self) -> None:
        # A refused request may leave input unread (a body, the rest of a huge header), and
        # closing with unread input makes the kernel send a reset, which can destroy the
        # answer before the client reads it: the accepting thread, once it has sent the
        # answer, reads what is left.
        self.linger = True

    def version_string(self) -> str:
        return self.server_version  # not "udev-drift/1.0.0 Python/3.x"

    def _quietly(self, action: Callable[[], None]) -> None:
        with contextlib.suppress(OSError):
            action()

    def _reply(self, code: int, body: bytes, content_type: str,
               headers: dict[str, str] | None = None) -> None:
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


class _Watched:
    """A connection the accepting thread watches: its head coming in, or its input drained."""

    __slots__ = ("sock", "fd", "address", "deadline", "head", "secured", "left", "out", "linger")

    def __init__(self, sock: socket.socket, address: Any, deadline: float, secured: bool,
                 left: int, out: collections.deque[memoryview] | None = None,
                 linger: bool = False) -> None:
        self.sock = sock
        self.fd = sock.fileno()  # to unregister by, whatever becomes of the socket
        self.address = address
        self.deadline = deadline
        self.head = bytearray()
        self.secured = secured  # the TLS handshake is done (or there is no TLS)
        self.left = left  # bytes still to drain, when lingering
        self.out = out if out is not None else collections.deque()  # the answer still to send
        self.linger = linger  # after the answer: drain what the client sent, then close


def _head_ends(head: bytearray, start: int) -> bool:
    # An empty line ends the head, as http.server reads it.
    return head.find(b"\n\r\n", start) >= 0 or head.find(b"\n\n", start) >= 0


class MetricsServer(HTTPServer):
    # The kernel's queue of connections not accepted yet (capped by net.core.somaxconn): a
    # burst larger than this has its SYNs dropped, and the clients wait a second to retry.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, source: MetricsSource,
                 tls: ssl.SSLContext | None = None, max_threads: int = MAX_THREADS,
                 request_seconds: float = REQUEST_SECONDS, max_pending: int = MAX_PENDING) -> None:
        self.address_family = family
        self.source = source
        self.tls = tls
        self.request_seconds = request_seconds
        self.max_threads = max_threads
        self.max_pending = max_pending
        # Oldest first (insertion order): each kind has one timeout, so the first expires first.
        self._heads: dict[socket.socket, _Watched] = {}
        self._writing: dict[socket.socket, _Watched] = {}
        self._lingering: dict[socket.socket, _Watched] = {}
        # Complete requests for the workers, oldest first; None tells a worker to end.
        self._ready: collections.deque[tuple[socket.socket, Any, bytes, float] | None] = collections.deque()
        self._ready_changed = threading.Condition()
        self._handed_back: collections.deque[tuple[socket.socket, list[bytes], bool]] = collections.deque()
        self._selector: selectors.BaseSelector | None = None
        self._wake: socket.socket | None = None
        self._stopping = False
        self._stopped = threading.Event()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # "[::]" means IPv6 only; say 0.0.0.0 for IPv4, as one would expect.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    # -- the accepting thread --------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept, read heads and drain refused input until shutdown(); workers answer."""
        self._stopped.clear()
        wake, self._wake = socket.socketpair()
        wake.setblocking(False)
        self._wake.setblocking(False)  # full: a wake-up is pending anyway
        workers = [threading.Thread(target=self._work, name="udev-drift-http-worker", daemon=True)
                   for _ in range(self.max_threads)]
        for worker in workers:
            worker.start()
        self.socket.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                self._selector = selector
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                while not self._stopping:
                    for key, _ in selector.select(self._timeout(poll_interval)):
                        try:
                            if key.fileobj is self.socket:
                                self._accept()
                            elif key.fileobj is wake:
                                self._take_back(wake)
                            elif key.data.sock in self._writing:
                                self._send(key.data)
                            elif key.data.sock in self._heads or key.data.sock in self._lingering:
                                self._readable(key.data)  # (not closed by an earlier event)
                        except Exception:  # noqa: BLE001 - one connection's trouble, not the loop's
                            self.handle_error(None, None)
                    self._expire()
        finally:
            for watched in [*self._heads.values(), *self._writing.values(), *self._lingering.values()]:
                watched.sock.close()
            self._heads.clear()
            self._writing.clear()
            self._lingering.clear()
            self._selector = None
            with self._ready_changed:
                self._ready.extend([None] * len(workers))
                self._ready_changed.notify_all()
            wake.close()
            self._wake.close()
            self._stopping = False
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever() and wait until it has (workers end after their request)."""
        self._stopping = True
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake.send(b"s")
        self._stopped.wait()

    def _timeout(self, poll_interval: float) -> float:
        soonest = [next(iter(watched.values())).deadline
                   for watched in (self._heads, self._writing, self._lingering) if watched]
        with self._ready_changed:
            if self._ready and self._ready[0] is not None:
                soonest.append(self._ready[0][3] + BUSY_WAIT_SECONDS)
        return max(0.0, min([poll_interval, *(when - time.monotonic() for when in soonest)]))

    def _expire(self) -> None:
        now = time.monotonic()
        for watched in (self._heads, self._writing, self._lingering):
            while watched:
                oldest = next(iter(watched.values()))
                if oldest.deadline > now:
                    break
                self._close(oldest)  # a head not in time, an answer not read: as a dead client
        waited = []
        with self._ready_changed:
            while self._ready and self._ready[0] is not None and self._ready[0][3] + BUSY_WAIT_SECONDS <= now:
                waited.append(self._ready.popleft())
        if waited:
            log.debug("http: all %s workers busy; answering 503", self.max_threads)
        for sock, _, _, _ in filter(None, waited):
            self._refuse(sock)

    def _watch(self, kind: dict[socket.socket, _Watched], watched: _Watched,
               events: int = selectors.EVENT_READ) -> None:
        assert self._selector is not None
        if len(kind) >= self.max_pending:
            self._close(next(iter(kind.values())))  # the oldest: likely the slowest
        self._selector.register(watched.fd, events, watched)
        kind[watched.sock] = watched

    def _unwatch(self, watched: _Watched) -> None:
        assert self._selector is not None
        for kind in (self._heads, self._writing, self._lingering):
            if kind.pop(watched.sock, None) is not None:
                break
        with contextlib.suppress(KeyError):  # never registered: forgotten all the same
            self._selector.unregister(watched.fd)

    def _close(self, watched: _Watched) -> None:
        self._unwatch(watched)
        watched.sock.close()

    def _accept(self) -> None:
        for _ in range(32):  # a burst at a time, then the others get their turn
            try:
                sock, address = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as error:  # gone already, or no file descriptor left: free one
                if error.errno in (errno.EMFILE, errno.ENFILE) and self._heads:
                    self._close(next(iter(self._heads.values())))
                return
            try:
                if self.tls is not None:
                    sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                sock.setblocking(False)
            except OSError:
                sock.close()
                continue
            self._watch(self._heads, _Watched(sock, address, time.monotonic() + self.request_seconds,
                                              self.tls is None, 0))

    def _readable(self, watched: _Watched) -> None:
        if watched.sock in self._lingering:
            self._drain(watched)
            return
        try:
            if not watched.secured and isinstance(watched.sock, ssl.SSLSocket):
                watched.sock.do_handshake()
                watched.secured = True
            while True:
                start = max(0, len(watched.head) - 2)
                data = watched.sock.recv(min(4096, MAX_REQUEST_BYTES - len(watched.head)))
                watched.head += data
                if not data or len(watched.head) >= MAX_REQUEST_BYTES or _head_ends(watched.head, start):
                    self._dispatch(watched)
                    return
                if not (isinstance(watched.sock, ssl.SSLSocket) and watched.sock.pending()):
                    return  # the rest when it comes
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return
        except OSError as error:  # reset, TLS failure: drop the client
            log.debug("http: %s: %s", watched.address[0], error)
            self._close(watched)

    def _dispatch(self, watched: _Watched) -> None:
        self._unwatch(watched)
        with self._ready_changed:
            full = len(self._ready) >= self.max_pending
            if not full:
                self._ready.append((watched.sock, watched.address, bytes(watched.head), time.monotonic()))
                self._ready_changed.notify()
        if full:
            self._refuse(watched.sock)

    def _drain(self, watched: _Watched) -> None:
        try:
            data = watched.sock.recv(min(65536, watched.left))
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return
        except OSError:
            data = b""
        watched.left -= len(data)
        if not data or watched.left <= 0:
            self._close(watched)

    def _take_back(self, wake: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while wake.recv(4096):
                pass
        while self._handed_back:
            sock, chunks, linger = self._handed_back.popleft()
            out = collections.deque(memoryview(chunk) for chunk in chunks if chunk)
            try:
                sock.setblocking(False)
                watched = _Watched(sock, None, time.monotonic() + WRITE_SECONDS, True, LINGER_BYTES,
                                   out, linger)
                self._watch(self._writing, watched, selectors.EVENT_WRITE)
            except (OSError, ValueError):  # closed meanwhile
                sock.close()
                continue
            self._send(watched)  # most answers fit in the socket's buffer at once

    def _send(self, watched: _Watched) -> None:
        """Send what the socket takes now; when all is sent, close (or linger)."""
        try:
            while watched.out:
                sent = watched.sock.send(watched.out[0])
                if sent < len(watched.out[0]):
                    watched.out[0] = watched.out[0][sent:]
                    return  # the rest when the client has read some
                watched.out.popleft()
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return
        except OSError as error:  # reset: the client is gone
            log.debug("http: %s", error)
            self._close(watched)
            return
        self._unwatch(watched)
        if not watched.linger or self._stopping:
            self.shutdown_request(watched.sock)
            return
        try:
            watched.sock.shutdown(socket.SHUT_WR)
        except OSError:
            watched.sock.close()
            return
        watched.deadline = time.monotonic() + LINGER_SECONDS
        self._watch(self._lingering, watched)

    # -- the workers -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._ready_changed:
                while not self._ready:
                    self._ready_changed.wait()
                item = self._ready.popleft()
            if item is None:
                return
            sock, address, head, _ = item  # (one that waited too long got 503 from the loop)
            handler: _Handler | None = None
            try:
                handler = _Handler(sock, address, self, head)
            except Exception:  # noqa: BLE001 - one request, not the worker
                self.handle_error(sock, address)
            wake = self._wake
            if handler is not None and handler.answer.chunks and wake is not None and not self._stopping:
                # The accepting thread sends it as the client reads: no worker waits for that.
                self._handed_back.append((sock, handler.answer.chunks, handler.linger))
                with contextlib.suppress(OSError):  # a wake-up is pending already, or the loop ended
                    wake.send(b"w")
            else:
                self.shutdown_request(sock)

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.settimeout(0.5)
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
        raise UsageError(f"--listen {value}: expected HOST:PORT, e.g. 127.0.0.1:{SERVE_PORT}")
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
