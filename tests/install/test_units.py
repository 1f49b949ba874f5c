"""The systemd units install writes: systemd itself accepts them, and each option is there.

`systemd-analyze verify` loads each unit as systemd would (unknown keys, bad values,
missing ExecStart= binaries, a timer or path unit whose Unit= cannot load) and needs no
running systemd; `systemd-analyze security --offline` scores the hardening.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from checker.host import Host
from checker.install.units import PATH, SERVE, SERVICE, TIMER, protect_home
from checker.paths import UDEV_RULES_DIRS
from tests.install.conftest import make_target

UNITS = (SERVICE, TIMER, PATH, SERVE)
# What `systemd-analyze security` says of the hardening; lower is better, 10 is none.
MAX_EXPOSURE = 4.0


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return found


def install_units(udev_drift, tmp_path: Path, binary: Path, *args: str) -> Path:
    root = make_target(tmp_path / "host", ["systemd"])
    result = udev_drift("install", "--root", root, "--binary", binary, *args)
    assert result.status == 0, result
    return root / "etc/systemd/system"


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: section -> key -> values, comments dropped."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, value = line.split("=", 1)
        sections[section][key].append(value)
    return sections


@pytest.fixture
def unit_dir(udev_drift, tmp_path: Path, fake_binary: Path) -> Path:
    return install_units(udev_drift, tmp_path, fake_binary)


class TestSystemdAcceptsThem:
    def test_systemd_analyze_verify_passes_every_unit_without_a_warning(self, unit_dir: Path) -> None:
        analyze = systemd_analyze()
        done = subprocess.run([analyze, "verify", *(str(unit_dir / unit) for unit in UNITS)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        # verify exits 0 on an unknown key or a bad value, and only warns: no warning may
        # name one of our units.
        ours = [line for line in (done.stdout + done.stderr).splitlines() if "udev-drift" in line]
        assert ours == []

    def test_verify_does_fail_on_a_broken_unit_so_the_test_above_means_something(
            self, unit_dir: Path, tmp_path: Path) -> None:
        analyze = systemd_analyze()
        broken = tmp_path / SERVICE
        broken.write_text((unit_dir / SERVICE).read_text().replace(str(tmp_path / "bin/udev-drift"),
                                                                   "/nonexistent/udev-drift"))
        done = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "/nonexistent/udev-drift" in done.stderr

    @pytest.mark.parametrize("unit", [SERVICE, SERVE])
    def test_the_hardening_scores_ok_in_systemd_analyze_security(self, unit_dir: Path, unit: str) -> None:
        analyze = systemd_analyze()
        done = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(unit_dir / unit)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout).group(1))
        assert exposure <= MAX_EXPOSURE, done.stdout


class TestTheService:
    def test_runs_one_check_with_repair_and_metrics_for_node_exporter(self, unit_dir: Path,
                                                                     fake_binary: Path) -> None:
        service = parse(unit_dir / SERVICE)["Service"]
        assert service["Type"] == ["oneshot"]
        assert service["ExecStart"] == [f"{fake_binary} check --repair --quiet "
                                        "--textfile-dir /var/lib/prometheus/node-exporter"]

    def test_drift_that_remains_does_not_fail_the_unit_but_errors_do(self, unit_dir: Path) -> None:
        service = parse(unit_dir / SERVICE)["Service"]
        assert service["SuccessExitStatus"] == ["1"]  # 2 and 3 stay failures

    def test_only_the_rules_state_and_textfile_directories_are_writable(self, unit_dir: Path) -> None:
        service = parse(unit_dir / SERVICE)["Service"]
        assert service["ProtectSystem"] == ["strict"]
        writable = " ".join(service["ReadWritePaths"]).split()
        assert sorted(writable) == sorted(["/etc/udev/rules.d", "-/run/udev/rules.d", "/var/lib/udev-drift",
                                           "/var/lib/prometheus/node-exporter"])
        assert service["NoNewPrivileges"] == ["yes"] and service["PrivateTmp"] == ["yes"]

    def test_nothing_that_breaks_udevadm_is_set(self, unit_dir: Path) -> None:
        service = parse(unit_dir / SERVICE)["Service"]
        # trigger writes /sys/.../uevent; settle listens on netlink; /dev holds the links
        for key in ("ProtectKernelTunables", "PrivateDevices", "PrivateNetwork", "MemoryDenyWriteExecute"):
            assert key not in service, key
        assert "AF_NETLINK" in service["RestrictAddressFamilies"][0]

    def test_no_syscall_allow_list_that_systemd_219_would_empty(self, unit_dir: Path) -> None:
        for unit in (SERVICE, SERVE):
            for value in parse(unit_dir / unit)["Service"].get("SystemCallFilter", []):
                assert value.startswith("~"), (unit, value)

    def test_runs_after_udev_has_settled_and_skips_without_a_policy(self, unit_dir: Path) -> None:
        unit = parse(unit_dir / SERVICE)["Unit"]
        after = " ".join(unit["After"]).split()
        assert {"systemd-udevd.service", "systemd-udev-settle.service", "systemd-udev-trigger.service"} <= set(after)
        assert unit["ConditionDirectoryNotEmpty"] == ["/etc/udev-drift/policies.d"]

    def test_the_textfile_directory_is_chosen_at_install_time(self, udev_drift, tmp_path: Path,
                                                             fake_binary: Path) -> None:
        units = install_units(udev_drift, tmp_path, fake_binary, "--textfile-dir", "/srv/metrics")
        service = parse(units / SERVICE)["Service"]
        assert service["ExecStart"][0].endswith("--textfile-dir /srv/metrics")
        assert "/srv/metrics" in " ".join(service["ReadWritePaths"]).split()
        assert (tmp_path / "host/srv/metrics").is_dir()

    def test_no_textfile_means_no_metrics_file_and_nothing_more_writable(self, udev_drift, tmp_path: Path,
                                                                        fake_binary: Path) -> None:
        units = install_units(udev_drift, tmp_path, fake_binary, "--no-textfile")
        service = parse(units / SERVICE)["Service"]
        assert "--textfile-dir" not in service["ExecStart"][0]
        assert "/var/lib/prometheus/node-exporter" not in " ".join(service["ReadWritePaths"])
        assert not (tmp_path / "host/var/lib/prometheus").exists()


class TestTimerAndPath:
    def test_the_timer_runs_after_boot_hourly_spread_and_catches_up(self, unit_dir: Path) -> None:
        timer = parse(unit_dir / TIMER)
        assert timer["Timer"]["OnBootSec"] and timer["Timer"]["OnCalendar"] == ["hourly"]
        assert timer["Timer"]["RandomizedDelaySec"] == ["15min"]
        assert timer["Timer"]["Persistent"] == ["true"]
        assert timer["Timer"]["Unit"] == [SERVICE]
        assert timer["Install"]["WantedBy"] == ["timers.target"]

    def test_the_path_unit_watches_every_udev_rules_directory(self, unit_dir: Path) -> None:
        path = parse(unit_dir / PATH)
        assert path["Path"]["PathChanged"] == list(UDEV_RULES_DIRS)
        assert {"/etc/udev/rules.d", "/run/udev/rules.d"} <= set(path["Path"]["PathChanged"])
        assert path["Path"]["Unit"] == [SERVICE]
        assert path["Install"]["WantedBy"] == ["paths.target"]

    def test_the_exporter_serves_on_loopback_and_is_read_only_but_for_its_state(
            self, unit_dir: Path, fake_binary: Path) -> None:
        serve = parse(unit_dir / SERVE)
        assert serve["Service"]["ExecStart"] == [f"{fake_binary} serve --listen 127.0.0.1:9917"]
        assert serve["Service"]["ReadWritePaths"] == ["/var/lib/udev-drift"]
        assert serve["Service"]["ProtectKernelTunables"] == ["yes"]
        assert serve["Install"]["WantedBy"] == ["multi-user.target"]


class TestProtectHome:
    def test_home_directories_are_hidden_when_nothing_needs_them(self, tmp_path: Path) -> None:
        host = Host(str(tmp_path))
        assert protect_home(host, "/usr/local/bin/udev-drift")[0] == "yes"

    def test_a_command_in_a_home_directory_makes_them_read_only_instead(self, tmp_path: Path) -> None:
        host = Host(str(tmp_path))
        assert protect_home(host, "/root/.local/bin/udev-drift")[0] == "read-only"

    def test_so_does_a_venv_whose_python_lives_in_a_home_directory(self, tmp_path: Path) -> None:
        script = tmp_path / "opt/udev-drift/bin/udev-drift"
        script.parent.mkdir(parents=True)
        (script.parent / "python3").symlink_to("/root/.pyenv/versions/3.11.7/bin/python3.11")
        script.write_text("#!/opt/udev-drift/bin/python3\nimport sys\n")
        assert protect_home(Host(str(tmp_path)), "/opt/udev-drift/bin/udev-drift")[0] == "read-only"
