"""The differential test's figures in the summary of every run that includes it."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.evaluate.udevd import TALLY

    if TALLY.sets:
        terminalreporter.write_line(TALLY.summary())
