"""The textfile's own writer says, byte for byte, what prometheus_client says.

The textfile is written without prometheus_client (its import alone costs more than the
budget of writing the metrics); these tests hold the two writers to the same bytes, for
real runs and for any label value and number hypothesis can think of.
"""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client.utils import floatToGoString

from checker.exporters import persist
from checker.exporters.exposition import go_float, render
from checker.exporters.families import Family, families_of
from checker.exporters.outcome import failed_outcome, outcome_of
from checker.exporters.registry import exposition
from checker.findings import Finding, PolicyReport, Report


def report(*findings: Finding) -> Report:
    return Report([PolicyReport("xenserver-local-sata", "/p.yaml", list(findings))])


def finding(kind: str, item: str, drift: bool, was: str | None = None) -> Finding:
    return Finding(policy="xenserver-local-sata", kind=kind, path=item, item=item, entry="e",
                   status="missing" if drift else "ok", drift=drift, message="", was=was)


RUNS = {
    "drifted": (outcome_of(report(finding("rule", "/etc/udev/rules.d/50-udev.rules block", True),
                                  finding("symlink", "/dev/xapi/block/sdb", True),
                                  finding("symlink", "/dev/xapi/block/sdc", False)), 0.0, False), False),
    "repaired": (outcome_of(report(finding("rule", "/etc/udev/rules.d/50-udev.rules block", False, "missing"),
                                   finding("symlink", "/dev/xapi/block/sdb", False, "missing")), 0.0, True), True),
    "failed": (failed_outcome(0.0, True), False),
}


def test_real_runs_are_written_the_same_by_both() -> None:
    for name, (outcome, _) in RUNS.items():
        persisted = persist.update(persist.Persisted(loaded=["xenserver-local-sata"]), outcome)
        families = families_of(outcome, persisted)
        assert render(families) == exposition(families), name


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(1732700000.123456)
@example(0.004012043999864545)
@example(1e22)
@example(123456789.0)
@example(-1234567.5)
def test_floats_are_written_as_go_writes_them(value: float) -> None:
    assert go_float(value) == floatToGoString(value)


label_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(st.lists(st.tuples(label_text, label_text, st.floats(allow_nan=False)), max_size=5),
       st.text(max_size=40).filter(lambda s: "\r" not in s))
@example([('a\\b"c\nd', "rule", 1.0)], "help with \\ and\nnewline")
def test_any_labels_and_help_are_escaped_the_same(samples: list[tuple[str, str, float]], help_text: str) -> None:
    gauge = Family("udev_drift_test", "gauge", help_text or "x", ("policy", "item"))
    counter = Family("udev_drift_things", "counter", "things", ("policy", "kind"))
    for policy, item, value in samples:
        gauge.add((policy, item), value)
        counter.add((policy, item), abs(value) if not math.isinf(value) else 0.0)
    assert render([gauge, counter]) == exposition([gauge, counter])
