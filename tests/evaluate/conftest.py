"""The differential tests' figures in the summary of every run that includes them."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.evaluate.udevadm219 import TALLY_219, TALLY_252_SAME_SETS
    from tests.evaluate.udevd import TALLY

    for tally in (TALLY, TALLY_252_SAME_SETS, TALLY_219):
        if tally.sets:
            terminalreporter.write_line(tally.summary())
