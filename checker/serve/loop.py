"""The check loop of `udev-drift serve`: checks in a thread of its own, keeping the last
exposition for the HTTP server (checker/serve/http.py), which never waits for a check.

`Checks.request_check()` is the hook for watchers (udev events, inotify on the rules
directories): it asks for a check as soon as the current one, if any, has ended; requests
that arrive meanwhile fold into one.

Policies are loaded again for every check, so a policy edited on the host is picked up
without a restart; an invalid one makes that run fail (run_success 0) and the service
goes on serving, so that the alert fires instead of the target vanishing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from checker.errors import UdevDriftError

if TYPE_CHECKING:
    from checker.settings import RunSettings

log = logging.getLogger("udev-drift")

MIN_GAP_SECONDS = 1.0  # between two checks, however many are requested
STOP_WAIT_SECONDS = 30.0


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

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self._last_error: str | None = None

    def __call__(self) -> tuple[bytes, str]:
        from checker import engine
        from checker.exporters.families import families_of
        from checker.exporters.recorded import failed_run, record_report
        from checker.exporters.registry import exposition

        started = time.monotonic()
        try:
            report = engine.run(self.settings)
            outcome, persisted = record_report(report, started, self.settings.repair,
                                               self.settings.state_path)
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
        failed, persisted = failed_run(started, self.settings.repair, self.settings.state_path)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(failed.finished))
        status = f"last check {when} failed: {self._last_error}"
        return exposition(families_of(failed, persisted)), status

    def _failed(self, message: str) -> None:
        # One line per new problem, not one per interval while it lasts.
        if message != self._last_error:
            for line in message.split("\n"):  # not at a \v or U+2028 from the input
                log.warning("check failed: %s", line)
        self._last_error = message
