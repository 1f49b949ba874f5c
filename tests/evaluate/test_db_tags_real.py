"""TAG== and the tags of the database, as the real udevd 252 matches them.

A tag set at an earlier event stays in the database (its G: line), and udev 252 copies
those tags into the device at every event; but TAG== reads them only when the worker
that runs the event was forked for it (engine._has_tag). The harness reloads udevd for
each rule set, which ends its idle workers, so loop6's add usually runs in a new worker
and the change that follows at once in the one it left: run alone, the add matched the
database's tag after each reload and the change never did. Which worker runs our event is
not ours to decide (another session's event may start one just before), so the test
asserts the half that always holds (a tag only in the database is not always matched,
one set in the event always is) and that the evaluator decides nothing udevd contradicts.
"""

from __future__ import annotations

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri
from checker.observe.udev import device_facts
from checker.records import replace
from tests.evaluate.udevd import Outcome, run_sets, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

FILES = {
    "10-match.rules": (
        'KERNEL=="loop6", TAG=="tg1", SYMLINK+="t/db-$env{ACTION}"\n'  # tg1: only at add, below
        'KERNEL=="loop6", TAG+="tg2"\n'
        'KERNEL=="loop6", TAG-="tg2"\n'
        'KERNEL=="loop6", TAG=="tg2", SYMLINK+="t/minus-$env{ACTION}"\n'  # added, then removed
        'KERNEL=="loop6", TAG+="tg3"\n'
        'KERNEL=="loop6", TAG=="tg3", SYMLINK+="t/set-$env{ACTION}"\n'  # set in this event
    ),
    "50-tag.rules": 'ACTION=="add", KERNEL=="loop6", TAG+="tg1"\n',
}
RUNS = 3


@pytest.fixture(scope="module")
def runs() -> list[Outcome]:
    return run_sets([FILES] * RUNS, guard=False, change=True)


def _events(runs: list[Outcome]) -> list[tuple[str, frozenset[str] | None, set[str]]]:
    """(event, the database's G: tags before it, the links udevd then left in /dev). Before
    the first add they are not known: another session's event may have run our rules."""
    found: list[tuple[str, frozenset[str] | None, set[str]]] = []
    before: frozenset[str] | None = None
    for outcome in runs:
        assert outcome.changed is not None and outcome.changed_links is not None
        found.append(("add", before, set(outcome.dev_links)))
        before = frozenset(outcome.devices["loop6"].tags)
        found.append(("change", before, set(outcome.changed_links)))
        before = frozenset(outcome.changed["loop6"].tags)
    return found


def test_udevd_does_not_always_match_a_tag_only_in_the_database(runs: list[Outcome]) -> None:
    events = _events(runs)
    with_tg1 = [(event, links) for event, tags, links in events if tags is not None and "tg1" in tags]
    assert any(f"t/db-{event}" not in links for event, links in with_tg1), events
    assert any(f"t/minus-{event}" not in links for event, _, links in events), events
    assert all(f"t/set-{event}" in links for event, _, links in events), events  # the current tags


def test_the_evaluator_decides_only_what_every_worker_does(runs: list[Outcome]) -> None:
    rules = RuleSet.from_texts(sorted(runs[0].files.items()))
    for event, tags, links in _events(runs):
        facts = replace(device_facts("/sys/block/loop6", event), db_tags=tags)
        evaluation = evaluate(rules, facts)
        db = evaluation.link(f"t/db-{event}")
        assert db is (Tri.UNKNOWN if tags is None or "tg1" in tags else Tri.NO), (event, tags)
        if db is not Tri.UNKNOWN:
            assert (db is Tri.YES) == (f"t/db-{event}" in links)
        assert evaluation.link(f"t/minus-{event}") is Tri.UNKNOWN
        assert evaluation.link(f"t/set-{event}") is Tri.YES and f"t/set-{event}" in links
