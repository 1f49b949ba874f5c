"""End to end with the real tools: udev-drift -> textfile -> node_exporter -> Prometheus.

A drifted copy of examples/xenserver-host is checked with --textfile-dir; node_exporter's
textfile collector reads the directory; a real Prometheus scrapes it every second and
evaluates monitoring/alerts.yml; its HTTP API must show the host non-compliant, the
drift alert pending, and no "metrics missing" alert for this node.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, HostTree
from tests.servers import Servers, free_port, http_get, need, tool, wait_for

POLICY = "xenserver-local-sata"


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    status, body = http_get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200, body
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_a_drifted_host_shows_non_compliant_in_prometheus_and_the_rules_evaluate(
        servers: Servers, example: HostTree, textfile_dir: Path, tmp_path: Path) -> None:
    node_exporter = need("prometheus-node-exporter")
    prometheus_binary = need("prometheus")

    done = tool("check", "--root", str(example.root), "--textfile-dir", str(textfile_dir))
    assert done.returncode == 1, done.stderr

    node_port, prometheus_port = free_port(), free_port()
    node = f"127.0.0.1:{node_port}"
    servers.start("node_exporter", [
        node_exporter, f"--web.listen-address={node}", "--collector.disable-defaults",
        "--collector.textfile", f"--collector.textfile.directory={textfile_dir}"])
    wait_for("node_exporter", lambda: "udev_drift_policy_compliant" in http_get(f"http://{node}/metrics", 1)[1])

    rules = tmp_path / "udev-drift-alerts.yml"
    shutil.copy(REPO / "monitoring/alerts.yml", rules)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{node}']\n")
    servers.start("prometheus", [
        prometheus_binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"])
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    wait_for("Prometheus to start", lambda: http_get(f"{prometheus}/-/ready", 1)[0] == 200, timeout=60)

    # What the SRE's alert and dashboard ask: which hosts, which policy, which item.
    found = wait_for("the drifted host in Prometheus",
                     lambda: query(prometheus, "udev_drift_policy_compliant == 0"), timeout=60)
    [series] = found  # type: ignore[misc]
    assert series["metric"]["instance"] == node and series["metric"]["job"] == "node"
    assert series["metric"]["policy"] == POLICY
    drifted = query(prometheus, "udev_drift_item_drifted == 1")
    assert sorted(s["metric"]["item"] for s in drifted) == [
        "/dev/xapi/block/sdb", "/etc/udev/rules.d/50-udev.rules block"]
    assert query(prometheus, "node_textfile_scrape_error")[0]["value"][1] == "0"

    # The rules load and evaluate: the two drift alerts of each drifted item are pending
    # (their for: has not passed), and nothing else: this node, which has udev-drift
    # metrics, is not "missing", its check is not stale, its runs do not fail.
    def pending() -> list[dict[str, Any]]:
        return query(prometheus, 'ALERTS{alertstate="pending"}')

    alerts: list[dict[str, Any]] = []

    def four_pending() -> bool:
        alerts[:] = pending()
        return len(alerts) >= 4

    wait_for("the drift alerts to go pending", four_pending, timeout=30)
    time.sleep(2)  # two more evaluations: nothing else turns up
    alerts = pending()
    names = sorted((a["metric"]["alertname"], a["metric"].get("item")) for a in alerts)
    assert names == [
        ("UdevDriftItemDriftPersists", "/dev/xapi/block/sdb"),
        ("UdevDriftItemDriftPersists", "/etc/udev/rules.d/50-udev.rules block"),
        ("UdevDriftItemDrifted", "/dev/xapi/block/sdb"),
        ("UdevDriftItemDrifted", "/etc/udev/rules.d/50-udev.rules block"),
    ]
    status, body = http_get(f"{prometheus}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    shipped = yaml.safe_load((REPO / "monitoring/alerts.yml").read_text())
    count = sum(len(group["rules"]) for group in shipped["groups"])
    assert count >= 9  # the drift, freshness, failure and preview alerts at least
    assert [rule["health"] for group in groups for rule in group["rules"]] == ["ok"] * count

    # The host is repaired and the textfile rewritten: Prometheus sees it compliant.
    assert tool("check", "--root", str(example.root), "--repair", "--textfile-dir", str(textfile_dir)).returncode == 0
    wait_for("the repaired host in Prometheus",
             lambda: query(prometheus, "udev_drift_policy_compliant == 1"), timeout=30)
    wait_for("the pending drift alerts to clear", lambda: not pending(), timeout=30)
    repairs = query(prometheus, "sum(udev_drift_repairs_total)")
    assert repairs[0]["value"][1] == "2"
