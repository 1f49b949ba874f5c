"""The package-manager hooks and the cron entry: each parses as its reader parses it.

apt's own parser reads the apt hook (`apt-config -c FILE dump`). dnf and yum are not on a
Debian machine: their action lines are split exactly as their post-transaction-actions
plugins split them (dnf-plugins-core post-transaction-actions.py: `line.split(':', 2)`;
yum-utils: `line.split(':')` into exactly three, then `shlex.split` of the command).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from checker.host import Host
from checker.install.hooks import APT_HOOK, CRON_ENTRY, DNF_HOOK, YUM_HOOK, minute_offset
from tests.install.conftest import make_target

TEXTFILE = "/var/lib/prometheus/node-exporter"


def installed(udev_drift, tmp_path: Path, binary: Path, kinds: list[str], *args: str) -> Path:
    root = make_target(tmp_path / "host", kinds)
    result = udev_drift("install", "--root", root, "--binary", binary, *args)
    assert result.status == 0, result
    return root


def action_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


class TestApt:
    def test_apts_own_parser_reads_the_hook_and_finds_the_command(self, udev_drift, tmp_path: Path,
                                                                   fake_binary: Path) -> None:
        apt_config = shutil.which("apt-config")
        if apt_config is None:
            pytest.skip("apt-config is not installed (apt-get install apt)")
        root = installed(udev_drift, tmp_path, fake_binary, ["systemd", "apt"])
        done = subprocess.run([apt_config, "-c", str(root / APT_HOOK.lstrip("/")), "dump", "DPkg::Post-Invoke"],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        # Read after the system's own configuration: the hook joins the hooks already there.
        values = re.findall(r'^DPkg::Post-Invoke:: "(.*)";$', done.stdout, re.MULTILINE)
        command = f"{fake_binary} check --repair --quiet --textfile-dir {TEXTFILE}"
        assert values[-1] == f"if [ -x {fake_binary} ]; then {command} || true; fi"

    @pytest.mark.parametrize("exit_status", [1, 2, 3])
    def test_a_failing_check_never_fails_the_apt_run(self, udev_drift, tmp_path: Path, fake_binary: Path,
                                                    exit_status: int) -> None:
        failing = tmp_path / "failing" / "udev-drift"
        failing.parent.mkdir()
        failing.write_text(f"#!/bin/sh\necho checked \"$@\"\nexit {exit_status}\n")
        failing.chmod(0o755)
        root = installed(udev_drift, tmp_path, failing, ["systemd", "apt"])
        command = re.search(r'\{ "(.*)"; \};', (root / APT_HOOK.lstrip("/")).read_text()).group(1)
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0
        assert done.stdout.startswith("checked check --repair")  # it did run

    def test_a_removed_udev_drift_is_skipped_without_failing(self, udev_drift, tmp_path: Path) -> None:
        gone = tmp_path / "gone" / "udev-drift"
        root = installed(udev_drift, tmp_path, gone, ["systemd", "apt"])
        command = re.search(r'\{ "(.*)"; \};', (root / APT_HOOK.lstrip("/")).read_text()).group(1)
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


class TestDnfAndYum:
    def test_the_dnf_action_is_one_line_the_dnf_plugin_accepts(self, udev_drift, tmp_path: Path,
                                                               fake_binary: Path) -> None:
        root = installed(udev_drift, tmp_path, fake_binary, ["systemd", "dnf"])
        [line] = action_lines(root / DNF_HOOK.lstrip("/"))
        key, state, command = line.split(":", 2)  # as dnf's plugin splits it
        assert (key, state) == ("*", "any")  # every package, installed or removed
        assert command == f"{fake_binary} check --repair --quiet --textfile-dir {TEXTFILE}"
        assert "$" not in command  # dnf substitutes $name, $arch, ... in the command

    def test_the_yum_action_is_one_line_the_yum_plugin_accepts(self, udev_drift, tmp_path: Path,
                                                               fake_binary: Path) -> None:
        root = installed(udev_drift, tmp_path, fake_binary, ["systemd", "yum"])
        [line] = action_lines(root / YUM_HOOK.lstrip("/"))
        key, state, command = line.split(":")  # yum splits at every colon: exactly three parts
        assert key == "*" and state in ("install", "update", "remove", "any") and state == "any"
        assert shlex.split(command) == [str(fake_binary), "check", "--repair", "--quiet", "--textfile-dir", TEXTFILE]
        assert "$" not in command

    def test_only_the_package_managers_the_target_has_get_a_hook(self, udev_drift, tmp_path: Path,
                                                                 fake_binary: Path) -> None:
        root = installed(udev_drift, tmp_path, fake_binary, ["systemd", "yum"])
        assert (root / YUM_HOOK.lstrip("/")).is_file()
        assert not (root / DNF_HOOK.lstrip("/")).exists() and not (root / APT_HOOK.lstrip("/")).exists()

    @pytest.mark.parametrize("bad", ["/opt/my tools/udev-drift", "/opt/a:b/udev-drift", "/opt/100%/udev-drift",
                                     '/opt/"q"/udev-drift', "relative/udev-drift"])
    def test_a_path_no_hook_format_can_carry_is_refused_in_one_line(self, udev_drift, tmp_path: Path,
                                                                    bad: str) -> None:
        root = make_target(tmp_path / "host", ["systemd", "apt", "yum"])
        result = udev_drift("install", "--root", root, "--binary", bad)
        assert result.status == 2
        assert len(result.err.splitlines()) == 1 and "--binary" in result.err and "Traceback" not in result.err
        assert list(root.rglob("*")) == [p for p in root.rglob("*") if "usr" in p.parts]  # nothing written


class TestCron:
    def test_a_host_without_systemd_gets_the_cron_entry_and_no_units(self, udev_drift, tmp_path: Path,
                                                                     fake_binary: Path) -> None:
        root = installed(udev_drift, tmp_path, fake_binary, ["yum"])
        assert not (root / "etc/systemd").exists()
        entry = (root / CRON_ENTRY.lstrip("/")).read_text()
        lines = [line for line in entry.splitlines() if line and not line.startswith("#")]
        command = f"{fake_binary} check --repair --quiet --textfile-dir {TEXTFILE} >/dev/null"
        schedule = [line for line in lines if "=" not in line.split()[0]]
        assert len(schedule) == 2
        minute, hour, day, month, weekday, user, rest = schedule[0].split(None, 6)
        assert re.fullmatch(r"([0-9]|1[0-4])-59/15", minute) and (hour, day, month, weekday) == ("*",) * 4
        assert (user, rest) == ("root", command)
        assert schedule[1] == f"@reboot root sleep 60; {command}"
        assert "." not in Path(CRON_ENTRY).name  # Debian's cron skips names with a dot

    def test_a_systemd_host_gets_no_cron_entry(self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = installed(udev_drift, tmp_path, fake_binary, ["systemd"])
        assert not (root / CRON_ENTRY.lstrip("/")).exists()

    def test_the_minute_is_the_hosts_own_stable_and_spread_over_a_fleet(self, tmp_path: Path) -> None:
        offsets = set()
        for n in range(60):
            host = tmp_path / f"h{n}"
            (host / "etc").mkdir(parents=True)
            (host / "etc/machine-id").write_text(f"{n:032x}\n")
            first = minute_offset(Host(str(host)))
            assert minute_offset(Host(str(host))) == first
            offsets.add(first)
        assert len(offsets) >= 10  # 60 hosts land on most of the 15 possible minutes
