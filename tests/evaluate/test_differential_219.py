"""The evaluator with udev 219's semantics against udev 219 itself (`udevadm test` of the
RHEL 7 source, tests/evaluate/udevadm219.py), on the rule sets test_differential.py
makes for udevd 252: the same generator, the same comparison, the other oracle.

Every decided answer must be what udev 219 did; unknown answers are counted, and the
share is printed at the end with the 252 figures. RUN answers are compared with the
commands `udevadm test` lists (it runs none: udevd 219 would run exactly those).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from checker.rules.semantics import UDEV_219
from tests.evaluate.test_differential import EXAMPLES, compare, rule_sets
from tests.evaluate.udevadm219 import TALLY_219, Udevadm219, skip_unless_here


@pytest.fixture(scope="module")
def udev219() -> Iterator[Udevadm219]:
    skip_unless_here()
    oracle = Udevadm219()
    yield oracle
    oracle.close()


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=rule_sets)
def test_the_evaluator_agrees_with_udev_219_on_every_decided_answer(udev219: Udevadm219,
                                                                   files: dict[str, str]) -> None:
    outcome = udev219.run(files)
    if udev219.hung:
        # udev 219 never finishes such an event (see udevadm219.py): no answer to compare
        TALLY_219.leave_out("rule sets where udev 219 loops for ever on a link name ending in '/'")
        return
    TALLY_219.sets += 1
    compare(files, outcome, TALLY_219, UDEV_219)


def test_the_unknown_share_stays_small_for_219() -> None:
    total = TALLY_219.counts["decided"] + TALLY_219.counts["unknown"]
    if total == 0:
        pytest.skip("the 219 differential test did not run")
    assert TALLY_219.counts["unknown"] / total <= 0.07, TALLY_219.summary()
