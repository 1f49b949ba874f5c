"""What one run produced, reduced to the plain values the metrics are made of.

NamedTuples, not dataclasses: a check that writes its metrics imports this module, and a
frozen dataclass costs half a millisecond to create, a NamedTuple a tenth of that.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from checker.findings import Finding, Report

# Every (policy, kind) repairs counter exists from the first run on, even at 0.
KINDS = ("rule", "symlink")


class ItemState(NamedTuple):
    policy: str
    kind: str
    item: str
    drifted: bool


class PolicyOutcome(NamedTuple):
    name: str
    compliant: bool
    drift_found: bool  # drift seen in this run, even if the run then repaired it
    repaired: dict[str, int]  # kind -> items repaired by this run
    items: tuple[ItemState, ...]


class RunOutcome(NamedTuple):
    success: bool
    finished: float  # epoch seconds
    duration: float  # seconds
    repair_enabled: bool
    policies: tuple[PolicyOutcome, ...] = ()
    udev: str = ""  # whose udev semantics the run applied ("219", "252"); "" when unknown

    @property
    def repaired_items(self) -> int:
        return sum(sum(p.repaired.values()) for p in self.policies)


def _policy_outcome(name: str, findings: list[Finding]) -> PolicyOutcome:
    repaired = dict.fromkeys(KINDS, 0)
    items: dict[tuple[str, str], bool] = {}
    drift_found = False
    for finding in findings:
        repaired.setdefault(finding.kind, 0)
        # `was` is set on every item that drifted before a repair ran.
        drift_found = drift_found or finding.drift or finding.was is not None
        if finding.was is not None and not finding.drift:
            repaired[finding.kind] += 1
        key = (finding.kind, finding.item)
        # Two findings with the same labels would make a duplicate series, which
        # Prometheus rejects for the whole scrape: keep one, drifted if either is.
        items[key] = items.get(key, False) or finding.drift
    states = tuple(ItemState(name, kind, item, drifted) for (kind, item), drifted in sorted(items.items()))
    return PolicyOutcome(name, not any(s.drifted for s in states), drift_found, repaired, states)


def outcome_of(report: Report, started: float, repair_enabled: bool) -> RunOutcome:
    """A finished run. `started` is a time.monotonic() reading taken when the run began."""
    merged: dict[str, list[Finding]] = {}
    for policy in report.policies:
        merged.setdefault(policy.name, []).extend(policy.findings)
    return RunOutcome(
        success=True, finished=time.time(), duration=max(0.0, time.monotonic() - started),
        repair_enabled=repair_enabled,
        policies=tuple(_policy_outcome(name, findings) for name, findings in merged.items()),
        udev=str(report.udev["version"]) if report.udev else "")


def failed_outcome(started: float, repair_enabled: bool) -> RunOutcome:
    """A run that ended in an error: nothing is known of the host."""
    return RunOutcome(success=False, finished=time.time(),
                      duration=max(0.0, time.monotonic() - started), repair_enabled=repair_enabled)
