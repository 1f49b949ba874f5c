"""monitoring/: the alerting rules, their unit tests, the Grafana dashboard and alerts.

promtool checks the rules and runs their unit tests; every PromQL expression of the
dashboard and of the Grafana alerts goes through promtool as a recording rule; the
Grafana alerts must say what the Prometheus rules say.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.exporters.test_metrics import CONTRACT
from tests.preview.test_preview_metrics import PREVIEW_CONTRACT
from tests.servers import need

MONITORING = REPO / "monitoring"
# Grafana's variables, as a dashboard would expand them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                     "$instance": ".*", "$policy": ".*", "$node_job": "node"}


def prometheus_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def grafana_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((MONITORING / "grafana-alerts.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads((MONITORING / "grafana-dashboard.json").read_text())


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside collapsed rows
    return found


def dashboard_expressions() -> list[str]:
    board = dashboard()
    exprs = [target["expr"] for panel in panels(board) for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            text = query["query"] if isinstance(query, dict) else query
            # label_values(SELECTOR, label) is Grafana's; the selector inside is PromQL
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
            exprs.append(match.group(1) if match else text)
    return exprs


def grafana_alert_expressions() -> list[str]:
    return [query["model"]["expr"] for rule in grafana_rules() for query in rule["data"]
            if query["datasourceUid"] != "__expr__"]


def expand(expr: str) -> str:
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), *args], capture_output=True, text=True, timeout=60,
                          cwd=MONITORING)


class TestPrometheusRules:
    def test_promtool_check_rules(self) -> None:
        done = promtool("check", "rules", "alerts.yml")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS: 9 rules found" in done.stdout

    def test_promtool_test_rules(self) -> None:
        done = promtool("test", "rules", "alerts.test.yml")
        assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr

    def test_every_alert_is_tested_firing_and_silent(self) -> None:
        tests = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())["tests"]
        fired: set[str] = set()
        silent: set[str] = set()
        for test in tests:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else silent).add(case["alertname"])
        names = {rule["alert"] for rule in prometheus_rules()}
        assert names - fired == set(), "alerts never tested firing"
        assert names - silent == set(), "alerts never tested silent"
        # and each firing case checks the annotations a person on call reads
        for test in tests:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    assert set(alert["exp_annotations"]) == {"summary", "description"}, case

    def test_every_alert_names_the_host_has_a_severity_a_for_and_annotations(self) -> None:
        for rule in prometheus_rules():
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert re.fullmatch(r"\d+[mh]", rule["for"]), rule["alert"]
            assert "{{ $labels.instance }}" in rule["annotations"]["summary"], rule["alert"]
            assert len(rule["annotations"]["description"]) > 100, rule["alert"]

    def test_drift_alerts_name_policy_and_item_and_do_not_page_within_the_hour(self) -> None:
        rules = {rule["alert"]: rule for rule in prometheus_rules()}
        for name in ("UdevDriftItemDrifted", "UdevDriftItemDriftPersists"):
            summary = rules[name]["annotations"]["summary"]
            assert "{{ $labels.policy }}" in summary and "{{ $labels.item }}" in summary
        assert rules["UdevDriftItemDrifted"]["labels"]["severity"] == "warning"
        assert rules["UdevDriftItemDriftPersists"]["for"] == "1h"

    def test_the_rules_use_only_metrics_that_exist(self) -> None:
        ours = set(CONTRACT) | set(PREVIEW_CONTRACT)
        theirs = {"up", "node_textfile_scrape_error"}
        for expr in [rule["expr"] for rule in prometheus_rules()] + dashboard_expressions() + \
                grafana_alert_expressions():
            for name in re.findall(r"\b((?:udev_drift|node)_[a-z_]+)\b", expand(expr)):
                assert name in ours | theirs, (name, expr)


class TestGrafana:
    def test_every_promql_expression_of_the_dashboard_and_grafana_alerts_is_valid(self, tmp_path: Path) -> None:
        exprs = dashboard_expressions() + grafana_alert_expressions()
        assert len(exprs) > 20
        rules = {"groups": [{"name": "grafana", "rules": [
            {"record": f"grafana:expr_{index}", "expr": expand(expr)} for index, expr in enumerate(exprs)]}]}
        path = tmp_path / "grafana-exprs.yml"
        path.write_text(yaml.safe_dump(rules, sort_keys=False))
        done = promtool("check", "rules", str(path))
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"SUCCESS: {len(exprs)} rules found" in done.stdout

    def test_that_check_would_catch_a_broken_expression(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
            {"record": "x:y", "expr": expand('sum by (instance (udev_drift_item_drifted{instance=~"$instance"})')}]}]}))
        assert promtool("check", "rules", str(path)).returncode != 0

    def test_grafana_alerts_say_what_the_prometheus_rules_say(self) -> None:
        ours = {rule["alert"]: rule for rule in prometheus_rules()}
        grafana = {rule["title"]: rule for rule in grafana_rules()}
        assert list(grafana) == list(ours)
        for name, rule in ours.items():
            mirror = grafana[name]
            [query] = [q for q in mirror["data"] if q["datasourceUid"] != "__expr__"]
            assert query["model"]["expr"] == " ".join(rule["expr"].split()), name
            assert mirror["for"] == rule["for"] and mirror["labels"] == rule["labels"], name
            # Grafana says $values.B.Value where Prometheus says $value
            for key, text in rule["annotations"].items():
                translated = (text.replace("$value | humanizeDuration", "humanizeDuration $values.B.Value")
                              .replace('$value | printf "%.0f"', 'printf "%.0f" $values.B.Value'))
                assert mirror["annotations"][key] == translated, (name, key)

    def test_grafana_alert_conditions_pass_every_series_the_query_returns(self) -> None:
        for rule in grafana_rules():
            steps = {query["refId"]: query for query in rule["data"]}
            assert rule["condition"] == "C" and set(steps) == {"A", "B", "C"}
            expr = steps["A"]["model"]["expr"]
            [condition] = steps["C"]["model"]["conditions"]
            evaluator = condition["evaluator"]
            # the query returns series at 0 for "== 0" filters, at their value otherwise
            expected = {"type": "lt", "params": [1]} if expr.endswith("== 0") else {"type": "gt", "params": [0]}
            assert evaluator == expected, rule["title"]
            assert rule["noDataState"] == "OK" and rule["execErrState"] == "Error"
            assert len(rule["uid"]) <= 40

    def test_the_dashboard_is_importable_with_a_datasource_variable(self) -> None:
        board = dashboard()
        assert board["id"] is None and board["uid"] == "udev-drift-fleet"
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids))
        for panel in panels(board):
            assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            if panel["type"] not in ("row", "text"):
                assert panel["datasource"]["uid"] == "${datasource}"
        titles = {panel["title"] for panel in panels(board)}
        assert {"Hosts compliant", "Hosts drifted", "Stale checks", "Per host",
                "Repairs per hour by policy and kind", "Drifted items by policy"} <= titles

    @pytest.mark.parametrize("name", ["grafana-alerts.yml", "alerts.yml", "alerts.test.yml"])
    def test_yaml_files_parse(self, name: str) -> None:
        assert yaml.safe_load((MONITORING / name).read_text())


class TestReadme:
    """The configuration monitoring/README.md tells people to paste is valid."""

    def readme(self) -> str:
        return (MONITORING / "README.md").read_text()

    def test_the_scrape_configs_and_rule_files_pass_promtool_check_config(self, tmp_path: Path) -> None:
        blocks = re.findall(r"```yaml\n(.*?)```", self.readme(), re.S)
        scrape = next(b for b in blocks if b.startswith("scrape_configs:"))
        push = next(b for b in blocks if "job_name: pushgateway" in b)
        config = tmp_path / "prometheus.yml"
        config.write_text(scrape + push + f"rule_files:\n  - {MONITORING / 'alerts.yml'}\n")
        done = promtool("check", "config", str(config))
        assert done.returncode == 0, done.stdout + done.stderr

    def test_the_alertmanager_config_passes_amtool(self, tmp_path: Path) -> None:
        amtool = need("amtool")
        block = next(b for b in re.findall(r"```yaml\n(.*?)```", self.readme(), re.S) if b.startswith("route:"))
        config = tmp_path / "alertmanager.yml"
        config.write_text(block)
        done = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        # its inhibitions name alerts that exist
        names = {rule["alert"] for rule in prometheus_rules()}
        assert set(re.findall(r'alertname="(\w+)"', block)) <= names

    def test_every_alert_routes_by_its_severity(self, tmp_path: Path) -> None:
        # Alertmanager's own router decides, for each alert of alerts.yml with its labels:
        # pages go to the pager, everything else becomes a ticket.
        amtool = need("amtool")
        block = next(b for b in re.findall(r"```yaml\n(.*?)```", self.readme(), re.S) if b.startswith("route:"))
        config = tmp_path / "alertmanager.yml"
        config.write_text(block)
        for rule in prometheus_rules():
            labels = [f"alertname={rule['alert']}"] + [f"{k}={v}" for k, v in rule.get("labels", {}).items()]
            done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}", *labels],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
            expected = "pager" if rule["labels"]["severity"] == "critical" else "tickets"
            assert done.stdout.split() == [expected], rule["alert"]
