"""Prometheus metrics of udev-drift runs: built from a run's report, written three ways.

    outcome.py     what one run produced, as plain values
    persist.py     counters and timestamps kept across runs in the state directory
    families.py    the metric families of spec/metrics.md, as plain values
    exposition.py  the text format of those families, as prometheus_client writes it
    registry.py    the families on a fresh prometheus_client registry (serve, push)
    textfile.py    DIR/udev_drift.prom for node_exporter's textfile collector
    push.py        the Pushgateway
    oneshot.py     the metrics side of `udev-drift check`
    http.py        the HTTP server of `udev-drift serve`

Only registry.py and push.py import prometheus_client (~35 ms): `serve` and a push pay
for it, a check and its textfile do not.
"""
