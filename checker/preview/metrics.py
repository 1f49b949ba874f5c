"""The last preview as metrics, for node_exporter's textfile collector
(DIR/udev_drift_preview.prom, beside the check's udev_drift.prom).

    udev_drift_preview_items_lost{package}    items a policy would lose, per package of
                                              the last previewed transaction (0 for each
                                              package that takes nothing away)
    udev_drift_preview_safe                   1 when the last preview found nothing lost
    udev_drift_preview_success                1 when the last preview could be made
    udev_drift_preview_last_run_timestamp_seconds

The package label is bounded: at most MAX_PACKAGES packages are named (those that take
something away first); the rest are summed under package="_other".
"""

from __future__ import annotations

import time

from checker.exporters.exposition import render
from checker.exporters.families import Family
from checker.exporters.textfile import write_textfile
from checker.paths import PREVIEW_TEXTFILE_NAME

MAX_PACKAGES = 20
OTHER = "_other"


def families(losses: dict[str, int] | None, now: float | None = None) -> list[Family]:
    """`losses` per package name, or None for a preview that failed."""
    lost = Family("udev_drift_preview_items_lost", "gauge",
                  "Items a policy would lose through the last previewed package transaction, per package",
                  ("package",))
    ordered = sorted((losses or {}).items(), key=lambda item: (-item[1], item[0]))
    named, rest = ordered[:MAX_PACKAGES], ordered[MAX_PACKAGES:]
    for name, count in named:
        lost.add((name,), count)
    if rest:
        lost.add((OTHER,), sum(count for _, count in rest))
    safe = Family("udev_drift_preview_safe", "gauge",
                  "1 when the last previewed package transaction takes nothing away that a policy wants")
    safe.add((), 1 if losses is not None and not any(losses.values()) else 0)
    success = Family("udev_drift_preview_success", "gauge", "1 when the last preview could be made")
    success.add((), 1 if losses is not None else 0)
    when = Family("udev_drift_preview_last_run_timestamp_seconds", "gauge", "When the last preview ran")
    when.add((), time.time() if now is None else now)
    return [lost, safe, success, when]


def write(directory: str, losses: dict[str, int] | None) -> str:
    return write_textfile(directory, render(families(losses)), PREVIEW_TEXTFILE_NAME)
