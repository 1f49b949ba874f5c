"""A run's report turned into what its metrics are made of, its counters kept across runs.

The one way from a report to metrics: `check` (exporters/oneshot.py) and every check of
`serve` (checker/serve/loop.py) both call these, then hand the pair to `families_of`
(exporters/families.py) to write or serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checker.exporters import persist
from checker.exporters.outcome import RunOutcome, failed_outcome, outcome_of

if TYPE_CHECKING:
    from checker.findings import Report

Recorded = tuple[RunOutcome, persist.Persisted]


def record_report(report: Report, started: float, repair_enabled: bool, state_path: str) -> Recorded:
    """The run's outcome, and the counters after it was added to them in the state directory.
    Raises UdevDriftError when the counters cannot be kept."""
    outcome = outcome_of(report, started, repair_enabled)
    return outcome, persist.record(state_path, outcome, root=report.root)


def failed_run(started: float, repair_enabled: bool, state_path: str | None) -> Recorded:
    """A run that ended without a report: run_success 0, and the counters and last success
    as the state directory keeps them (none without one)."""
    return failed_outcome(started, repair_enabled), persist.read(state_path)
