"""Counters and timestamps that outlive one run, kept in `<state-dir>/metrics.json`.

    {"last_success": 1732700000.1,
     "loaded": ["xenserver-local-sata"],
     "policies": {"xenserver-local-sata": {"last_drift": 1732690000.0,
                                           "repairs": {"rule": 2, "symlink": 1}}}}

`loaded` is the policy set of the last successful run: a failed run, which knows no
policies, still shows their counters and last drift. Policies that left the set keep their
entry, so that a counter resumes rather than restarts if the policy comes back.

A cron `check`, a `serve` and an admin's `check --repair` may update the file at the same
time; each update is a read-modify-write under `<state-dir>/metrics.lock`, held for
milliseconds (not the run lock, which a repair holds for as long as udevadm takes).
"""

from __future__ import annotations

import os
from typing import Any

from checker.exporters.outcome import KINDS, RunOutcome
from checker.state import StateDir

FILE = "metrics.json"
LOCK = "metrics.lock"
LOCK_WAIT_SECONDS = 10.0
MAX_VALUE = 2.0 ** 53  # counters and Unix times; beyond this a float no longer counts by one


# Plain classes: a dataclass costs ~0.5 ms to create, on every check that writes metrics.
class PolicyCounters:
    __slots__ = ("last_drift", "repairs")

    def __init__(self, last_drift: float = 0.0, repairs: dict[str, int] | None = None) -> None:
        self.last_drift = last_drift
        self.repairs: dict[str, int] = dict.fromkeys(KINDS, 0) if repairs is None else repairs


class Persisted:
    __slots__ = ("last_success", "loaded", "policies")

    def __init__(self, last_success: float = 0.0, loaded: list[str] | None = None,
                 policies: dict[str, PolicyCounters] | None = None) -> None:
        self.last_success = last_success
        self.loaded: list[str] = loaded if loaded is not None else []
        self.policies: dict[str, PolicyCounters] = policies if policies is not None else {}

    def to_json(self) -> dict[str, Any]:
        return {"last_success": self.last_success, "loaded": list(self.loaded),
                "policies": {name: {"last_drift": c.last_drift, "repairs": dict(c.repairs)}
                             for name, c in sorted(self.policies.items())}}


def _number(value: Any) -> float:
    # A hand-edited or damaged value counts as never, not as a crash (nor as infinity).
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < MAX_VALUE:
        return float(value)
    return 0.0


def from_json(data: dict[str, Any]) -> Persisted:
    persisted = Persisted(last_success=_number(data.get("last_success")))
    loaded = data.get("loaded")
    if isinstance(loaded, list):
        persisted.loaded = [name for name in loaded if isinstance(name, str)]
    policies = data.get("policies")
    if isinstance(policies, dict):
        for name, entry in policies.items():
            if not isinstance(name, str) or not isinstance(entry, dict):
                continue
            counters = PolicyCounters(last_drift=_number(entry.get("last_drift")))
            repairs = entry.get("repairs")
            if isinstance(repairs, dict):
                for kind, count in repairs.items():
                    if isinstance(kind, str):
                        counters.repairs[kind] = int(_number(count))
            persisted.policies[name] = counters
    return persisted


def update(persisted: Persisted, outcome: RunOutcome) -> Persisted:
    """The state after `outcome` (changed in place, and returned). Failed runs change nothing."""
    if not outcome.success:
        return persisted
    persisted.last_success = outcome.finished
    persisted.loaded = [policy.name for policy in outcome.policies]
    for policy in outcome.policies:
        counters = persisted.policies.setdefault(policy.name, PolicyCounters())
        if policy.drift_found:
            counters.last_drift = outcome.finished
        for kind, count in policy.repaired.items():
            counters.repairs[kind] = counters.repairs.get(kind, 0) + count
    return persisted


def record(state_path: str, outcome: RunOutcome, wait: float = LOCK_WAIT_SECONDS,
           root: str = "/") -> Persisted:
    """Add a run to the persisted counters and return them. Raises StateError/WriteError.
    `root`: the --root tree the state directory is confined to, when it is inside it."""
    state = StateDir(state_path, root)
    with state.lock(wait, name=LOCK):
        persisted = update(from_json(state.read_json(FILE)), outcome)
        state.write_json(FILE, persisted.to_json())
    return persisted


def read(state_path: str | None) -> Persisted:
    """The persisted counters as they are, for a failed run; never raises."""
    if state_path is None or not os.path.isdir(state_path):
        return Persisted()
    try:
        return from_json(StateDir(state_path).read_json(FILE))
    except Exception:  # noqa: BLE001 - a failed run's metrics must still be written
        return Persisted()
