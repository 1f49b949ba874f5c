"""The Pushgateway, for hosts that cannot be scraped.

Each run replaces its whole group (PUT), `job="udev-drift"` and `instance=<hostname>`, so
a series that disappeared from the run disappears from the gateway too. A push that fails
is a warning: the check itself ran, and its exit status says how the host is.
"""

from __future__ import annotations

import logging
import socket

from prometheus_client import CollectorRegistry, push_to_gateway

log = logging.getLogger("udev-drift")

JOB = "udev-drift"
TIMEOUT_SECONDS = 10.0


def push(url: str, registry: CollectorRegistry, instance: str | None = None,
         timeout: float = TIMEOUT_SECONDS) -> bool:
    """Push the run's metrics; on failure warn on stderr and return False."""
    grouping = {"instance": instance or socket.gethostname()}
    try:
        push_to_gateway(url, job=JOB, registry=registry, grouping_key=grouping, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - URLError, HTTPError, OSError, ValueError ...
        reason = getattr(error, "reason", None) or error
        log.warning("could not push the metrics to %s: %s; the check itself ran", url, reason)
        return False
    log.debug("pushed the metrics to %s (job=%s, instance=%s)", url, JOB, grouping["instance"])
    return True
