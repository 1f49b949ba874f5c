"""The differential tests' figures in the summary of every run that includes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.evaluate.udevadm219 import Udevadm219, skip_unless_here


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.evaluate.udevadm219 import TALLY_219, TALLY_252_SAME_SETS
    from tests.evaluate.udevd import TALLY

    for tally in (TALLY, TALLY_252_SAME_SETS, TALLY_219):
        if tally.sets:
            terminalreporter.write_line(tally.summary())


@pytest.fixture(scope="module")
def udev219() -> Iterator[Udevadm219]:
    """udevadm test 219 in its namespace, for the tests that ask udev 219 (skips where it
    cannot run, saying why)."""
    skip_unless_here()
    oracle = Udevadm219()
    yield oracle
    oracle.close()
