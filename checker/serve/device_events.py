"""Reacting to udev's block device events: a disk plugged, removed or renamed is checked at
once in `serve` mode, not at the next interval.

The listening thread only calls `on_event` (in serve: `Checks.request_check`, which folds
a burst of requests into one check), so it never waits on a check. pyudev stays in
`checker.observe.udev`; this module sees plain `DeviceEvent` values.

Synthetic events (`udevadm trigger`) are not acted on: a `serve --repair` triggers the
devices whose links drifted, and a link that no rule makes stays missing, so reacting to
its own trigger would repair, trigger and check again every second, for ever. Disks that
are plugged, removed or change (media, partition table) send real events.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Callable

from checker.errors import UdevDriftError
from checker.host import Host
from checker.observe.udev import DeviceEvent, block_events

log = logging.getLogger("udev-drift")

STOP_WAIT_SECONDS = 5.0
EventSource = Callable[[int], Iterator[DeviceEvent]]  # (stop_fd) -> events until it is readable


def watch_block_devices(on_event: Callable[[], None],
                        source: EventSource | None = None) -> Callable[[], None]:
    """Call `on_event()` after each real (not synthetic) block device event udev has
    handled; returns `stop`.

    The monitor is opened here, so a host without libudev or netlink raises `UdevError`
    in the caller's thread (serve then goes on with its interval alone). `stop()` ends
    the listening thread and may be called more than once.
    """
    stop_read, stop_write = os.pipe()
    try:
        events = (source or block_events)(stop_read)
    except BaseException:
        os.close(stop_read)
        os.close(stop_write)
        raise

    def listen() -> None:
        try:
            for event in events:
                log.debug("udev event: %s %s%s", event.action, event.sys_name,
                          " (synthetic: not acted on)" if event.synthetic else "")
                if event.synthetic:
                    continue
                try:
                    on_event()
                except Exception:  # noqa: BLE001 - one failed callback must not end the watch
                    log.exception("device event handler failed")
        except Exception as error:  # noqa: BLE001 - the watch ends; the interval goes on
            log.warning("stopped listening to udev's events: %s", error)

    thread = threading.Thread(target=listen, name="udev-drift-device-events", daemon=True)
    thread.start()
    stopped = threading.Lock()

    def stop() -> None:
        if not stopped.acquire(blocking=False):
            return
        os.write(stop_write, b"x")
        thread.join(STOP_WAIT_SECONDS)
        os.close(stop_write)
        if not thread.is_alive():  # else the thread may still select() on it: leave it open
            os.close(stop_read)

    return stop


def watch_devices_for_serve(host: Host, request_check: Callable[[], None],
                            source: EventSource | None = None) -> Callable[[], None]:
    """For `serve`: ask for a check after each block device event; returns `stop`.

    Only on the running host (a --root tree has no udev of its own to listen to). A host
    where udev's events cannot be heard (no libudev, no netlink in a container) is
    checked every --interval only, with a warning, not refused.
    """
    if host.is_tree:
        return _nothing
    try:
        stop = watch_block_devices(request_check, source)
    except UdevDriftError as error:
        log.warning("%s; checks run every --interval only", error)
        return _nothing
    log.debug("listening to udev's block device events")
    return stop


def _nothing() -> None:
    pass
