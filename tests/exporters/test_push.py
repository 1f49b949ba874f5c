"""`check --pushgateway URL`: a real Pushgateway receives the run; a failed push is a warning."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import HostTree
from tests.exporters.test_metrics import Metrics
from tests.servers import Servers, free_port, http_get, need, tool, wait_for

POLICY = "xenserver-local-sata"


def pushgateway(servers: Servers, tmp_path: Path) -> str:
    binary = need("prometheus-pushgateway")
    port = free_port()
    servers.start("pushgateway", [binary, f"--web.listen-address=127.0.0.1:{port}",
                                  f"--persistence.file={tmp_path / 'pushgateway.data'}"])
    url = f"http://127.0.0.1:{port}"
    wait_for("the pushgateway", lambda: http_get(url + "/-/ready", 1)[0] == 200, timeout=20)
    return url


def test_the_pushgateway_receives_the_run_grouped_by_instance(servers: Servers, example: HostTree,
                                                               tmp_path: Path) -> None:
    url = pushgateway(servers, tmp_path)
    done = tool("check", "--root", str(example.root), "--pushgateway", url)
    assert done.returncode == 1 and done.stderr == "", done.stderr
    status, body = http_get(url + "/metrics")
    assert status == 200
    metrics = Metrics(body)
    group = {"instance": socket.gethostname(), "job": "udev-drift"}
    assert metrics.value("udev_drift_policy_compliant", policy=POLICY, **group) == 0
    assert metrics.value("udev_drift_item_drifted", policy=POLICY, kind="symlink",
                         item="/dev/xapi/block/sdb", **group) == 1
    assert metrics.value("udev_drift_run_success", **group) == 1

    # The next run replaces the group: the repaired host shows compliant, nothing stale.
    assert tool("check", "--root", str(example.root), "--repair", "--pushgateway", url).returncode == 0
    metrics = Metrics(http_get(url + "/metrics")[1])
    assert metrics.value("udev_drift_policy_compliant", policy=POLICY, **group) == 1
    assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule", **group) == 1


def test_a_failed_run_is_pushed_too(servers: Servers, example: HostTree, tmp_path: Path) -> None:
    url = pushgateway(servers, tmp_path)
    example.policy("version: 1\nname: broken\nrules: [\n", "broken.yaml")
    assert tool("check", "--root", str(example.root), "--pushgateway", url).returncode == 2
    metrics = Metrics(http_get(url + "/metrics")[1])
    assert metrics.value("udev_drift_run_success", instance=socket.gethostname(), job="udev-drift") == 0


def test_a_push_that_fails_is_a_warning_and_the_check_stands(example: HostTree, textfile_dir: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = tool("check", "--root", str(example.root), "--pushgateway", nobody,
                "--textfile-dir", str(textfile_dir))
    assert done.returncode == 1  # drift, as without the push
    [line] = done.stderr.splitlines()
    assert line.startswith(f"udev-drift: WARNING: could not push the metrics to {nobody}: ")
    assert "the check itself ran" in line
    assert (textfile_dir / "udev_drift.prom").exists()
