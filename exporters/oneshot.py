"""The metrics side of one `udev-drift check`.

    metrics = start(...)         # first thing in the command: the run's clock starts
    ...                          # load policies, check or repair
    metrics.finished(report)     # persist the counters, write the textfile, push
    metrics.failed(error)        # or, from the error path: run_success 0, last success kept

A repair always updates the persisted counters (repairs are counted whoever runs them);
a plain check or dry run touches the state directory only when metrics are asked for.
prometheus_client is imported only for a push: the textfile is written without it
(exporters/exposition.py), so that it adds milliseconds to a check, not tens of them.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from checker.errors import UdevDriftError, UsageError
from checker.host import Host
from checker.paths import STATE_DIR

if TYPE_CHECKING:
    from checker.exporters.recorded import Recorded
    from checker.findings import Report

# Imported by every `check`: what only a run that records metrics needs is imported there.

log = logging.getLogger("udev-drift")


def state_path_of(state_dir: str | None, root: str | None) -> str | None:
    """The state directory as `check` resolves it, or None if --root is not a directory
    (the run then fails, and its metrics are written without the persisted counters)."""
    if state_dir:
        return os.path.abspath(state_dir)
    if root is not None and not os.path.isdir(root):
        return None
    return Host(os.path.abspath(root) if root else "/").path(STATE_DIR)


class MetricsRun:
    def __init__(self, textfile_dir: str | None, pushgateway: str | None, repair_enabled: bool,
                 state_path: str | None) -> None:
        self.started = time.monotonic()
        self.textfile_dir = textfile_dir
        self.pushgateway = pushgateway
        self.repair_enabled = repair_enabled
        self.state_path = state_path
        self.done = False

    @property
    def wanted(self) -> bool:
        """Whether this run has anything to record at all."""
        return bool(self.textfile_dir or self.pushgateway or self.repair_enabled)

    def finished(self, report: Report) -> None:
        """The run ended with a report. Raises (exit 3) if the metrics cannot be kept."""
        if self.done or not self.wanted:
            self.done = True
            return
        from checker.exporters.recorded import failed_run, record_report

        self.done = True
        try:
            if self.state_path is None:  # cannot be: the run got a report, so --root was valid
                raise UsageError("no state directory to keep the metrics in")
            recorded = record_report(report, self.started, self.repair_enabled, self.state_path)
        except UdevDriftError:
            # The counters could not be kept: say so in the metrics as a failed run.
            self._publish(failed_run(self.started, self.repair_enabled, self.state_path))
            raise
        self._publish(recorded)

    def failed(self, error: BaseException) -> None:
        """The run ended in an error; write what is known. Never raises."""
        if self.done:
            return
        from checker.exporters.recorded import failed_run

        self.done = True
        try:
            self._publish(failed_run(self.started, self.repair_enabled, self.state_path))
        except UdevDriftError as problem:
            log.warning("%s", problem)

    def _publish(self, recorded: Recorded) -> None:
        if not (self.textfile_dir or self.pushgateway):
            return
        from checker.exporters.families import families_of

        families = families_of(*recorded)
        if self.pushgateway:
            from checker.exporters.push import push  # imports prometheus_client
            from checker.exporters.registry import registry_for

            push(self.pushgateway, registry_for(families))
        if self.textfile_dir:
            from checker.exporters.exposition import render
            from checker.exporters.textfile import write_textfile

            path = write_textfile(self.textfile_dir, render(families))
            log.debug("wrote %s", path)


def start(textfile_dir: str | None, pushgateway: str | None, repair_enabled: bool,
          state_dir: str | None, root: str | None) -> MetricsRun:
    """Start a check's metrics run. A --textfile-dir that is missing, or reached through a
    link, costs a warning and the metrics file, never the check or the repair: a renamed
    directory must not silently stop every repair on the host."""
    run = MetricsRun(textfile_dir, pushgateway, repair_enabled, state_path_of(state_dir, root))
    if run.textfile_dir is not None:
        from checker.exporters.textfile import open_directory

        try:
            os.close(open_directory(run.textfile_dir))
        except UdevDriftError as error:
            log.warning("%s; the metrics file is not written this run", error)
            run.textfile_dir = None
    return run
