"""The daemon of `udev-drift serve`: its threads, signals and watchers, from start to stop.

    main thread     waits for SIGTERM/SIGINT (stop, exit 0) and SIGHUP (check now)
    check thread    loads the policies, checks (or repairs), keeps the exposition bytes
                    (checker/serve/loop.py)
    HTTP threads    answer scrapes from those bytes (checker/serve/http.py), never waiting
    watchers        inotify on the rules directories, libudev's block device events: each
                    asks for a check at once
"""

from __future__ import annotations

import gc
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checker.settings import RunSettings

# A check is CPU work in a thread of its own; a scrape must not wait the default 5 ms for
# the interpreter lock each time the check thread holds it.
SWITCH_INTERVAL_SECONDS = 0.0005


def serve(settings: RunSettings, listen: str, interval: float, tls_cert: str | None,
          tls_key: str | None) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status (0)."""
    import signal

    from checker.host import Host
    from checker.serve.device_events import watch_devices_for_serve
    from checker.serve.http import make_server, tls_context
    from checker.serve.loop import CheckRun, Checks
    from checker.serve.watch_rules import watch_for_serve

    gc.enable()  # main() turns the cyclic collector off for one-shot runs; a daemon needs it
    host = Host(settings.root)
    tls = tls_context(tls_cert, tls_key)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    checks = Checks(CheckRun(settings), interval)
    server = make_server(listen, checks, tls)

    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    def check_now(signum: int, frame: Any) -> None:
        checks.request_check()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, check_now)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                               name="udev-drift-http", daemon=True)
    # A rules file changed, or a disk came or went: check within a second, not an interval.
    watch = watch_for_serve(host, checks.request_check)
    stop_device_watch = watch_devices_for_serve(host, checks.request_check)
    try:
        checks.start()
        serving.start()
        host_port = server.server_address[:2]
        scheme = "https" if tls else "http"
        print(f"udev-drift: serving {scheme}://{_url_host(str(host_port[0]))}:{host_port[1]}/metrics, "
              f"checking every {interval:g} s{' with --repair' if settings.repair else ''}",
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
