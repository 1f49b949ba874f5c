"""The metric families of spec/metrics.md, built from one run as plain values.

Every series that can exist is here, 0 when all is well; labels come only from the
policies (policy, kind, item). Two ways to write them out:

- checker.exporters.exposition.render: the text format, for the textfile. No prometheus_client:
  importing it costs ~35 ms (its package imports http.server, wsgiref, ssl, urllib), more
  than the whole budget of writing the metrics in a check. Its output is byte for byte
  that of prometheus_client's generate_latest (tests/exporters/test_exposition.py).
- checker.exporters.registry.registry_for: a fresh prometheus_client CollectorRegistry per run,
  for `serve` and the Pushgateway.
"""

from __future__ import annotations

from checker import __version__
from checker.exporters.outcome import KINDS, RunOutcome
from checker.exporters.persist import Persisted, PolicyCounters

PREFIX = "udev_drift_"


class Family:
    """One metric family. A plain class: a dataclass would cost ~0.5 ms per check."""

    __slots__ = ("name", "type", "documentation", "labels", "samples")

    def __init__(self, name: str, type: str, documentation: str, labels: tuple[str, ...] = (),
                 samples: list[tuple[tuple[str, ...], float]] | None = None) -> None:
        self.name = name  # without the "_total" of a counter, as prometheus_client names families
        self.type = type  # "gauge" or "counter"
        self.documentation = documentation
        self.labels = labels
        self.samples: list[tuple[tuple[str, ...], float]] = samples if samples is not None else []

    def add(self, values: tuple[str, ...], value: float) -> None:
        self.samples.append((values, float(value)))


def _gauge(name: str, documentation: str, value: float) -> Family:
    return Family(PREFIX + name, "gauge", documentation, samples=[((), float(value))])


def families_of(outcome: RunOutcome, persisted: Persisted) -> list[Family]:
    """The families of one run's outcome and of the counters persisted up to it."""
    families: list[Family] = []
    # Compliance and items only when this run looked at the host: after a failure they
    # are unknown, and 0 or 1 would both be a claim.
    if outcome.success:
        items = Family(PREFIX + "item_drifted", "gauge", "1 while that managed item (a rules "
                       "entry, a symlink) differs from its policy", ("policy", "kind", "item"))
        compliant = Family(PREFIX + "policy_compliant", "gauge",
                           "1 when every item of the policy is kept", ("policy",))
        for policy in outcome.policies:
            compliant.add((policy.name,), 1 if policy.compliant else 0)
            for item in policy.items:
                items.add((item.policy, item.kind, item.item), 1 if item.drifted else 0)
        families += [items, compliant]
        if outcome.udev:
            semantics = Family(PREFIX + "udev_semantics_info", "gauge", "1 for the udev version whose "
                               "rules language and evaluation the last run applied (219 or 252)",
                               ("version",))
            semantics.add((outcome.udev,), 1)
            families.append(semantics)

    # A failed run knows no policies: show those of the last successful run.
    names = [p.name for p in outcome.policies] if outcome.success else list(persisted.loaded)
    kinds_seen = {policy.name: list(policy.repaired) for policy in outcome.policies}
    last_drift = Family(PREFIX + "last_drift_timestamp_seconds", "gauge",
                        "when drift was last found for the policy (0 if never)", ("policy",))
    repairs = Family(PREFIX + "repairs", "counter",
                     "repairs made, kept across runs in the state directory", ("policy", "kind"))
    for name in names:
        counters = persisted.policies.get(name, PolicyCounters())
        last_drift.add((name,), counters.last_drift)
        for kind in dict.fromkeys([*KINDS, *kinds_seen.get(name, []), *counters.repairs]):
            repairs.add((name, kind), counters.repairs.get(kind, 0))
    families += [last_drift, repairs]

    info = Family(PREFIX + "build_info", "gauge", "the running version of udev-drift", ("version",))
    info.add((__version__,), 1)
    families += [
        _gauge("last_run_repaired_items", "items repaired by the last run", outcome.repaired_items),
        _gauge("repair_enabled", "1 when the last run was allowed to repair", outcome.repair_enabled),
        _gauge("run_success", "1 when the last run finished without an internal error", outcome.success),
        _gauge("last_run_timestamp_seconds", "when the last run finished", outcome.finished),
        _gauge("last_success_timestamp_seconds", "when a run last finished without error "
               "(carried forward over failed runs)", persisted.last_success),
        _gauge("run_duration_seconds", "wall time of the last run", outcome.duration),
        info,
    ]
    return families
