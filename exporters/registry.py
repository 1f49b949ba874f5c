"""Our families on a prometheus_client CollectorRegistry: for `serve` and the Pushgateway.

A fresh registry per run, never the global one: nothing of an earlier run, or of the
Python process (process_*, python_gc_*), leaks into what a host reports. The collector
builds its families when asked, as client_python's own collectors do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from checker.exporters.families import Family


class FamiliesCollector:
    def __init__(self, families: Sequence[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            kind = CounterMetricFamily if family.type == "counter" else GaugeMetricFamily
            metric = kind(family.name, family.documentation, labels=list(family.labels))
            for values, value in family.samples:
                metric.add_metric(list(values), value)
            yield metric


def registry_for(families: Sequence[Family]) -> CollectorRegistry:
    # auto_describe=False: registering must not run collect() a second time.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FamiliesCollector(families))
    return registry


def exposition(families: Sequence[Family]) -> bytes:
    """The text format, written by prometheus_client."""
    return generate_latest(registry_for(families))
