"""Prometheus metrics of udev-drift runs: built from a run's report, written three ways.

Installed as `checker.exporters` (the source lives at the top of the repository).

    outcome.py     what one run produced, as plain values
    persist.py     counters and timestamps kept across runs in the state directory
    recorded.py    report -> outcome and counters: the one way check and serve take
    families.py    the metric families of spec/metrics.md, as plain values
    exposition.py  the text format of those families, as prometheus_client writes it
    registry.py    the families on a fresh prometheus_client registry (serve, push)
    textfile.py    DIR/udev_drift.prom for node_exporter's textfile collector
    push.py        the Pushgateway
    oneshot.py     the metrics side of `udev-drift check`

serve's HTTP server is checker/serve/http.py. Only registry.py and push.py import
prometheus_client (~35 ms): `serve` and a push pay for it, a check and its textfile do not.
"""
