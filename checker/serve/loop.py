"""`udev-drift serve`: check on an interval in a thread of its own, answer /metrics over HTTP.

    main thread     waits for SIGTERM/SIGINT (stop, exit 0) and SIGHUP (check now)
    check thread    loads the policies, checks (or repairs), keeps the exposition bytes
    HTTP threads    answer scrapes from those bytes (exporters/http.py), never waiting

`Checks.request_check()` is the hook for watchers (udev events, inotify on the rules
directories): it asks for a check as soon as the current one, if any, has ended; requests
that arrive meanwhile fold into one.

Policies are loaded again for every check, so a policy edited on the host is picked up
without a restart; an invalid one makes that run fail (run_success 0) and the service
goes on serving, so that the alert fires instead of the target vanishing.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from checker.commands import SUMMARIES
from checker.errors import UdevDriftError, UsageError
from checker.state import DEFAULT_STATE_DIR

if TYPE_CHECKING:
    from checker.findings import Report

log = logging.getLogger("udev-drift")

# Every command's parser is built on every run: this module stays light to import (the
# HTTP server, the engine and prometheus_client are imported when `serve` runs).
DEFAULT_PORT = 9917  # not taken by a well-known exporter
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
DEFAULT_INTERVAL = 60.0
MIN_GAP_SECONDS = 1.0  # between two checks, however many are requested
STOP_WAIT_SECONDS = 30.0
SWITCH_INTERVAL_SECONDS = 0.0005


SERVE_EPILOG = f"""\
endpoints:
  GET /metrics   the metrics of the last check (503 until the first one has ended)
  GET /          one line on the last check
  anything else  404, or 405 for another method

examples:
  udev-drift serve                                   # {DEFAULT_LISTEN}, a check a minute
  udev-drift serve --repair --interval 300           # repair, every 5 minutes
  udev-drift serve --listen 0.0.0.0:{DEFAULT_PORT} --tls-cert c.pem --tls-key k.pem
  curl -s http://{DEFAULT_LISTEN}/metrics

See monitoring/README.md: scrape config, alerting rules, Grafana dashboard.
"""


def add_parser(commands: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `serve` on the command line's subparsers."""
    from checker.cli import add_run_options

    serve = commands.add_parser(
        "serve", help=SUMMARIES["serve"],
        description="Check the host every --interval seconds (in the background) and answer "
                    "GET /metrics from the last result, for Prometheus to scrape. SIGTERM or "
                    "SIGINT stop it (exit 0); SIGHUP runs a check at once.",
        epilog=SERVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                       help="address to serve on (default %(default)s: this host only; "
                            "[::1]:PORT for IPv6, 0.0.0.0:PORT for every address)")
    serve.add_argument("--interval", metavar="SECONDS", type=float, default=DEFAULT_INTERVAL,
                       help="seconds between checks (default %(default)g)")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    add_common(serve)
    serve.set_defaults(func=command_serve)


class Checks:
    """Runs checks in a thread of its own and keeps the last exposition for the server."""

    def __init__(self, run: Callable[[], tuple[bytes, str]], interval: float) -> None:
        self._run = run
        self.interval = interval
        self._body: bytes | None = None
        self._status = "the first check has not finished yet"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="udev-drift-checks", daemon=True)
        self.completed = 0  # checks ended so far (for tests and the status line)

    # -- what the HTTP server reads (a reference swap: no lock needed) ------------------
    def metrics(self) -> bytes | None:
        return self._body

    def status(self) -> str:
        return self._status

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_check(self) -> None:
        """Check as soon as possible (for device-event and inotify watchers, and SIGHUP)."""
        self._wake.set()

    def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Stop after the check in progress, if any (a repair is not cut in half)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(wait)

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self._wake.clear()
            try:
                self._body, self._status = self._run()
            except Exception as error:  # noqa: BLE001 - the checks must go on; keep the last body
                log.warning("check failed: internal error: %s: %s", type(error).__name__, error)
            self.completed += 1
            next_at = began + self.interval
            while not self._stop.is_set():
                left = next_at - time.monotonic()
                if left <= 0:
                    break
                if self._wake.wait(left):
                    # Asked to check now: do so, but not more than once per MIN_GAP_SECONDS.
                    self._stop.wait(max(0.0, began + MIN_GAP_SECONDS - time.monotonic()))
                    break


class CheckRun:
    """One check of the host as `serve` does it: load, check or repair, keep the counters."""

    def __init__(self, paths: list[str], root: str, state_path: str, repair: bool,
                 udevadm: str, lock_timeout: float, safe_permissions: bool = False,
                 udevadm_timeout: float = 60.0) -> None:
        self.paths = paths
        self.udevadm_timeout = udevadm_timeout
        self.safe_permissions = safe_permissions
        self.root = root
        self.state_path = state_path
        self.repair = repair
        self.udevadm = udevadm
        self.lock_timeout = lock_timeout
        self._last_error: str | None = None

    def __call__(self) -> tuple[bytes, str]:
        from exporters import persist
        from exporters.families import families_of
        from exporters.outcome import failed_outcome, outcome_of
        from exporters.registry import exposition

        started = time.monotonic()
        try:
            report = self._check()
            outcome = outcome_of(report, started, self.repair)
            persisted = persist.record(self.state_path, outcome)
        except UdevDriftError as error:
            self._failed(str(error))
        except Exception as error:  # noqa: BLE001 - the service must outlive one bad check
            log.debug("the check failed", exc_info=True)  # the traceback, with --debug
            self._failed(f"internal error: {type(error).__name__}: {error} (please report it)")
        else:
            if self._last_error is not None:
                log.warning("checks succeed again")
                self._last_error = None
            drifted, count = len(report.drifted), len(outcome.policies)
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(outcome.finished))
            status = (f"last check {when}: "
                      + ("compliant" if not drifted else f"{drifted} item{'s' * (drifted != 1)} drifted")
                      + f", {count} polic{'y' if count == 1 else 'ies'}")
            return exposition(families_of(outcome, persisted)), status
        failed = failed_outcome(started, self.repair)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(failed.finished))
        status = f"last check {when} failed: {self._last_error}"
        return exposition(families_of(failed, persist.read(self.state_path))), status

    def _failed(self, message: str) -> None:
        # One line per new problem, not one per interval while it lasts.
        if message != self._last_error:
            for line in message.splitlines():
                log.warning("check failed: %s", line)
        self._last_error = message

    def _check(self) -> Report:
        from checker import engine
        from checker.host import Host
        from checker.policy.cache import PolicyCache
        from checker.state import StateDir
        from checker.udevadm import Udevadm

        host = Host(self.root)
        state = StateDir(self.state_path)
        cache = PolicyCache(self.state_path, writable=True)  # serve writes state anyway
        policies = engine.load_desired(self.paths, safe_permissions=self.safe_permissions, cache=cache)
        if not self.repair:
            return engine.check(policies, host, state)
        udevadm = None if host.is_tree else Udevadm(self.udevadm, timeout=self.udevadm_timeout)
        with state.lock(self.lock_timeout):
            return engine.repair(policies, host, state, udevadm)


def command_serve(args: argparse.Namespace) -> int:
    from checker.cli import DEFAULT_POLICY_DIR, _root
    from checker.host import Host
    from exporters.http import make_server, tls_context

    if not args.interval > 0:
        raise UsageError(f"--interval {args.interval:g}: must be more than 0 seconds")
    gc.enable()  # main() turns the cyclic collector off for one-shot runs; a daemon needs it
    host = Host(_root(args.root))
    paths: list[str] = args.paths or [host.path(DEFAULT_POLICY_DIR)]
    state_path = os.path.abspath(args.state_dir) if args.state_dir else host.path(DEFAULT_STATE_DIR)
    tls = tls_context(args.tls_cert, args.tls_key)
    # A check is CPU work in a thread of its own; a scrape must not wait the default 5 ms
    # for the interpreter lock each time the check thread holds it.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # As root, a policy someone else could have written is refused at every check.
    safe_permissions = os.geteuid() == 0 and not args.skip_policy_permission_check
    checks = Checks(CheckRun(paths, host.root, state_path, args.repair, args.udevadm, args.lock_timeout,
                             safe_permissions, args.udevadm_timeout), args.interval)
    server = make_server(args.listen, checks, tls)

    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    def check_now(signum: int, frame: Any) -> None:
        checks.request_check()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, check_now)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                               name="udev-drift-http", daemon=True)
    from checker.watch_rules import watch_for_serve  # issue 6: check within a second of a rules change

    watch = watch_for_serve(host, checks.request_check)
    from checker.device_events import watch_devices_for_serve  # issue 4: check when disks come and go

    stop_device_watch = watch_devices_for_serve(host, checks.request_check)
    try:
        checks.start()
        serving.start()
        host_port = server.server_address[:2]
        scheme = "https" if tls else "http"
        print(f"udev-drift: serving {scheme}://{_url_host(str(host_port[0]))}:{host_port[1]}/metrics, "
              f"checking every {args.interval:g} s{' with --repair' if args.repair else ''}",
              file=sys.stderr, flush=True)
        while not stopping.wait(1.0):
            pass
    finally:
        watch.stop()
        stop_device_watch()
        if serving.is_alive():  # shutdown() would wait forever for a loop that never ran
            server.shutdown()
        server.server_close()
        checks.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("udev-drift: stopped", file=sys.stderr, flush=True)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
