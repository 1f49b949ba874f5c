"""`serve` and `check --repair` apply the host's udev (219 or 252: `--udev`, or read from
the tree under --root) and report it: JSON `udev`, the metric
`udev_drift_udev_semantics_info{version}`.

The tree holds a policy's rule with a note after it: udev 219 keeps the rule (the note is
a parse error after the last key), udev 252 drops the line (both asked of the real udevs
in tests/evaluate/test_udev219_cases.py). So the semantics applied shows in the answer
itself, not only in the label: compliant on 219, drift on 252, and a repair on 252 only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.check.test_udev_versions import BANNER_219, NOTED, POLICY, RULES
from tests.conftest import REPO, HostTree, Result
from tests.exporters.test_metrics import Metrics, read_metrics
from tests.servers import Servers, free_port, http_get, wait_for

Run = Callable[..., Result]
DPKG_219 = ("Package: udev\nStatus: install ok installed\nVersion: 219-19+deb8u1\n\n"
            "Package: systemd\nStatus: deinstall ok config-files\nVersion: 252.39-1\n")


def _tree(tree: HostTree, *, banner: bool = False, dpkg: str | None = None) -> None:
    tree.policy(POLICY)
    tree.write(RULES, NOTED)
    if banner:
        tree.path("/usr/lib/systemd").mkdir(parents=True, exist_ok=True)
        tree.path("/usr/lib/systemd/systemd").write_bytes(BANNER_219)
    if dpkg is not None:
        tree.write("/var/lib/dpkg/status", dpkg, dedent=False)


@pytest.mark.parametrize(("found", "source"), [
    ({"banner": True}, '/usr/lib/systemd/systemd: "systemd 219"'),
    ({"dpkg": DPKG_219}, "dpkg: udev 219-19+deb8u1"),
])
def test_repair_under_root_reads_219_from_the_tree_and_has_nothing_to_repair(
        tree: HostTree, udev_drift: Run, textfile_dir: Path, found: dict[str, object], source: str) -> None:
    _tree(tree, **found)  # type: ignore[arg-type]
    before = tree.read(RULES)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--repair",
                        "--format", "json", "--textfile-dir", textfile_dir)
    assert result.status == 0, result.out
    assert result.json()["udev"] == {"version": 219, "source": source}
    assert tree.read(RULES) == before  # 219 reads the rule: nothing to put back
    assert read_metrics(textfile_dir).value("udev_drift_udev_semantics_info", version="219") == 1


def test_repair_with_udev_252_on_the_same_tree_puts_the_rule_back_and_says_252(
        tree: HostTree, udev_drift: Run, textfile_dir: Path) -> None:
    _tree(tree, banner=True)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--repair",
                        "--udev", "252", "--format", "json", "--textfile-dir", textfile_dir)
    assert result.status == 0, result.out
    assert result.json()["udev"] == {"version": 252, "source": "--udev 252"}
    assert tree.read(RULES) == NOTED + 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'
    metrics = read_metrics(textfile_dir)
    assert metrics.series("udev_drift_udev_semantics_info") == [{"version": "252"}]


def test_a_dry_run_repair_says_the_semantics_in_its_header(tree: HostTree, udev_drift: Run) -> None:
    _tree(tree)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--repair",
                        "--dry-run", "--udev", "219")
    assert result.status == 0, result.out
    assert "udev 219 semantics (--udev 219)" in result.out.splitlines()[0]


def _serve(servers: Servers, tree: HostTree, *args: str) -> Metrics:
    port = free_port()
    servers.start("serve", [sys.executable, "-m", "checker", "serve", "--root", str(tree.root),
                            "--skip-policy-permission-check", "--listen", f"127.0.0.1:{port}",
                            "--interval", "60", *args], cwd=REPO)
    url = f"http://127.0.0.1:{port}/metrics"
    wait_for("serve to answer /metrics", lambda: http_get(url, 1)[0] == 200, timeout=20)
    return Metrics(http_get(url)[1])


@pytest.mark.parametrize(("args", "version", "compliant"), [
    ((), "219", 1),                   # auto: the tree's systemd binary says 219
    (("--udev", "252"), "252", 0),    # 252 drops the noted rule: drift
    (("--udev", "219"), "219", 1),
])
def test_serve_applies_and_exports_the_chosen_semantics(
        servers: Servers, tree: HostTree, args: tuple[str, ...], version: str, compliant: int) -> None:
    _tree(tree, banner=True)
    metrics = _serve(servers, tree, *args)
    assert metrics.series("udev_drift_udev_semantics_info") == [{"version": version}]
    assert metrics.value("udev_drift_udev_semantics_info", version=version) == 1
    assert metrics.value("udev_drift_policy_compliant", policy="xen") == compliant
