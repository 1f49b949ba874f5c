"""`udev-drift install` and `uninstall` in a temporary root: idempotent, truthful, reversible.

Every test works under --root on a tree, with the real systemctl (`systemctl --root`
works on files alone); the live-systemd path (daemon-reload, enable --now) is tested
with a fake systemctl that keeps state in a file, since no systemd runs here.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from checker.host import Host
from checker.install.installer import Installer
from checker.install.systemctl import Systemctl
from checker.install.target import Settings, Target, default_binary, detect
from checker.install.uninstaller import Uninstaller
from checker.observe.versions import Version
from tests.install.conftest import exact_snapshot, make_target, snapshot

ALL = ["systemd", "apt", "dnf", "yum"]
UNITS = ("udev-drift.service", "udev-drift.timer", "udev-drift.path", "udev-drift-serve.service")
MANIFEST = "var/lib/udev-drift/install-manifest.json"


def lived_in(root: Path) -> Path:
    """A tree that looks used: other units enabled, other hooks, other cron entries."""
    (root / "etc/systemd/system/timers.target.wants").mkdir(parents=True)
    (root / "etc/systemd/system/other.timer").write_text("[Timer]\nOnCalendar=daily\n")
    (root / "etc/systemd/system/timers.target.wants/other.timer").symlink_to("/etc/systemd/system/other.timer")
    (root / "etc/apt/apt.conf.d").mkdir(parents=True)
    (root / "etc/apt/apt.conf.d/70debconf").write_text('DPkg::Pre-Install-Pkgs {"/usr/sbin/dpkg-preconfigure";};\n')
    (root / "etc/cron.d").mkdir(parents=True)
    (root / "etc/cron.d/other").write_text("0 * * * * root true\n")
    (root / "etc/cron.d/other").chmod(0o600)
    (root / "var/lib").mkdir(parents=True)
    (root / "var/lib/misc").mkdir(mode=0o700)
    return root


class TestRoundTrip:
    @pytest.mark.parametrize("kinds", [ALL, ["apt"], ["systemd"], []], ids=["systemd+all", "cron+apt", "systemd", "bare"])
    def test_uninstall_leaves_an_empty_tree_exactly_as_it_was(self, udev_drift, tmp_path: Path,
                                                             fake_binary: Path, kinds: list[str]) -> None:
        root = make_target(tmp_path / "host", kinds)
        before = snapshot(root)
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        assert snapshot(root) != before
        result = udev_drift("uninstall", "--root", root)
        assert result.status == 0, result
        assert snapshot(root) == before
        assert "kept" not in result.out

    @pytest.mark.parametrize("kinds", [ALL, ["apt", "yum"]], ids=["systemd", "cron"])
    def test_a_lived_in_tree_keeps_everything_that_was_there(self, udev_drift, tmp_path: Path,
                                                             fake_binary: Path, kinds: list[str]) -> None:
        root = lived_in(make_target(tmp_path / "host", kinds))
        before = snapshot(root)
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        assert udev_drift("uninstall", "--root", root).status == 0
        assert snapshot(root) == before

    def test_the_manifest_records_files_directories_and_enable_links(self, udev_drift, tmp_path: Path,
                                                                    fake_binary: Path) -> None:
        root = lived_in(make_target(tmp_path / "host", ["systemd", "apt"]))
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        manifest = json.loads((root / MANIFEST).read_text())
        assert sorted(manifest["files"]) == sorted([f"/etc/systemd/system/{unit}" for unit in UNITS]
                                                   + ["/etc/apt/apt.conf.d/80udev-drift",
                                                      "/etc/apt/apt.conf.d/79udev-drift-preview"])
        # made by install: not /etc/systemd/system, /etc/apt/apt.conf.d, /var/lib (there before)
        assert "/etc/udev-drift/policies.d" in manifest["directories"]
        assert "/var/lib/udev-drift" in manifest["directories"]
        assert "/etc/systemd/system/paths.target.wants" in manifest["directories"]  # made by enable
        assert not {"/etc", "/etc/systemd/system", "/etc/apt/apt.conf.d", "/var/lib",
                    "/etc/systemd/system/timers.target.wants"} & set(manifest["directories"])
        assert manifest["links"] == {
            "/etc/systemd/system/timers.target.wants/udev-drift.timer": "/etc/systemd/system/udev-drift.timer",
            "/etc/systemd/system/paths.target.wants/udev-drift.path": "/etc/systemd/system/udev-drift.path"}
        assert manifest["settings"]["binary"] == str(fake_binary)

    def test_modes_and_owners_are_as_documented(self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ALL)
        old_umask = os.umask(0o077)  # a strict umask must not change them
        try:
            assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        finally:
            os.umask(old_umask)

        def mode(path: str) -> int:
            return stat.S_IMODE(os.stat(root / path).st_mode)

        assert mode("etc/udev-drift/policies.d") == 0o755
        assert mode("var/lib/udev-drift") == 0o700
        assert mode("var/lib/prometheus/node-exporter") == 0o755
        for path in ["etc/systemd/system/udev-drift.service", "etc/apt/apt.conf.d/80udev-drift",
                     "etc/dnf/plugins/post-transaction-actions.d/udev-drift.action",
                     "etc/yum/post-actions/udev-drift.action"]:
            assert mode(path) == 0o644, path
            if os.geteuid() == 0:
                assert os.stat(root / path).st_uid == 0


class TestIdempotence:
    @pytest.mark.parametrize("kinds", [ALL, ["yum"]], ids=["systemd", "cron"])
    def test_the_second_install_changes_nothing_and_says_so(self, udev_drift, tmp_path: Path,
                                                           fake_binary: Path, kinds: list[str]) -> None:
        root = make_target(tmp_path / "host", kinds)
        first = udev_drift("install", "--root", root, "--binary", fake_binary)
        assert first.status == 0 and "nothing to do" not in first.out
        before = exact_snapshot(root)  # inodes and times too: not even rewritten in place
        second = udev_drift("install", "--root", root, "--binary", fake_binary)
        assert second.status == 0
        assert "nothing to do: every file, directory and unit is in place" in second.out
        assert exact_snapshot(root) == before

    def test_a_changed_setting_updates_the_files_install_wrote(self, udev_drift, tmp_path: Path,
                                                              fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd", "apt"])
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        result = udev_drift("install", "--root", root, "--binary", fake_binary, "--textfile-dir", "/srv/prom")
        assert result.status == 0
        assert "updated /etc/systemd/system/udev-drift.service" in result.out
        assert "updated /etc/apt/apt.conf.d/80udev-drift" in result.out
        assert "--textfile-dir /srv/prom" in (root / "etc/systemd/system/udev-drift.service").read_text()
        # and uninstall still knows them as its own
        assert udev_drift("uninstall", "--root", root).status == 0
        assert not (root / "etc/systemd/system/udev-drift.service").exists()

    def test_a_file_the_target_no_longer_needs_is_removed(self, udev_drift, tmp_path: Path,
                                                          fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["yum"])
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        assert (root / "etc/cron.d/udev-drift").exists()
        make_target(root, ["systemd"])  # the host moved to systemd: the cron entry would double the runs
        result = udev_drift("install", "--root", root, "--binary", fake_binary)
        assert "removed /etc/cron.d/udev-drift (no longer needed here)" in result.out
        assert not (root / "etc/cron.d/udev-drift").exists()
        assert (root / "etc/systemd/system/udev-drift.timer").exists()


class TestDryRun:
    def test_a_dry_install_changes_nothing_and_shows_every_file_and_command(
            self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ALL)
        before = exact_snapshot(root)
        result = udev_drift("install", "--root", root, "--binary", fake_binary, "--dry-run")
        assert result.status == 0
        assert exact_snapshot(root) == before
        for unit in UNITS:
            assert f"dry run: would write /etc/systemd/system/{unit}" in result.out
        assert f"dry run: would run {Systemctl(Host(str(root)), False).binary} --root={root} enable " \
               "udev-drift.timer udev-drift.path" in result.out
        assert "dry run: would make directory /var/lib/udev-drift (0700)" in result.out
        # the exact bytes, as a diff from nothing
        assert "+ProtectSystem=strict" in result.out and "+*:any:" in result.out
        change_lines = [line for line in result.out.splitlines()[1:-1] if not line.startswith("    ")]
        assert all("dry run" in line or "note:" in line for line in change_lines), change_lines

    def test_what_a_dry_run_shows_is_what_the_install_then_does(self, udev_drift, tmp_path: Path,
                                                                fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ALL)
        dry = udev_drift("install", "--root", root, "--binary", fake_binary, "--dry-run").out
        real = udev_drift("install", "--root", root, "--binary", fake_binary).out
        planned = [line.split("would ", 1)[1] for line in dry.splitlines() if "dry run: would" in line]
        done = [line.strip() for line in real.splitlines() if line.startswith("  ") and "note:" not in line]
        verbs = {"write": "wrote", "make directory": "made directory", "run": "ran"}
        assert [next(verbs[v] + rest[len(v):] for v in verbs if rest.startswith(v)) for rest in planned] == done

    def test_what_a_dry_uninstall_shows_is_what_uninstall_then_does(self, udev_drift, tmp_path: Path,
                                                                    fake_binary: Path) -> None:
        root = lived_in(make_target(tmp_path / "host", ALL))
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        dry = udev_drift("uninstall", "--root", root, "--dry-run").out.splitlines()[1:]
        real = udev_drift("uninstall", "--root", root).out.splitlines()[1:]
        planned = [line.replace("dry run: would remove", "removed").replace("dry run: would run", "ran")
                   .replace("would uninstall:", "uninstalled:") for line in dry]
        # systemctl disable prunes the .wants directory it emptied: only it can know that
        done = [line.replace(" (by systemctl disable)", "") if "target.wants " in line + " " else line
                for line in real]
        assert planned == done

    def test_dry_runs_of_a_second_install_and_of_uninstall_change_nothing(
            self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ALL)
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        before = exact_snapshot(root)
        again = udev_drift("install", "--root", root, "--binary", fake_binary, "--dry-run")
        assert "nothing to do" in again.out
        gone = udev_drift("uninstall", "--root", root, "--dry-run")
        assert gone.status == 0
        assert "dry run: would remove /etc/systemd/system/udev-drift.service" in gone.out
        assert exact_snapshot(root) == before


class TestWhatIsNotOurs:
    def test_a_foreign_file_in_the_way_stops_the_install_before_any_change(
            self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["apt"])
        (root / "etc/cron.d").mkdir(parents=True)
        (root / "etc/cron.d/udev-drift").write_text("*/5 * * * * root /opt/old/udev-drift check\n")
        before = exact_snapshot(root)
        result = udev_drift("install", "--root", root, "--binary", fake_binary)
        assert result.status == 3
        assert "nothing was installed" in result.err and "/etc/cron.d/udev-drift" in result.err
        assert "Traceback" not in result.err
        assert exact_snapshot(root) == before

    def test_an_identical_file_that_was_there_before_is_used_and_left_on_uninstall(
            self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd"])
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        timer = (root / "etc/systemd/system/udev-drift.timer").read_bytes()
        assert udev_drift("uninstall", "--root", root).status == 0
        (root / "etc/systemd/system").mkdir(parents=True)
        (root / "etc/systemd/system/udev-drift.timer").write_bytes(timer)  # copied by hand earlier
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        assert udev_drift("uninstall", "--root", root).status == 0
        assert (root / "etc/systemd/system/udev-drift.timer").read_bytes() == timer

    def test_a_file_edited_since_install_is_kept_by_install_and_by_uninstall(
            self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd", "apt"])
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        hook = root / "etc/apt/apt.conf.d/80udev-drift"
        hook.write_text(hook.read_text() + "// mine now\n")
        again = udev_drift("install", "--root", root, "--binary", fake_binary)
        assert "kept /etc/apt/apt.conf.d/80udev-drift: edited since udev-drift install wrote it" in again.out
        assert "nothing to do" in again.out and "1 edited file kept" in again.out
        gone = udev_drift("uninstall", "--root", root)
        assert gone.status == 0
        assert "kept /etc/apt/apt.conf.d/80udev-drift: edited since udev-drift install wrote it" in gone.out
        assert hook.read_text().endswith("// mine now\n")
        assert not (root / "etc/systemd/system/udev-drift.service").exists()
        assert not (root / MANIFEST).exists()

    def test_policies_and_backups_keep_their_directories(self, udev_drift, tmp_path: Path,
                                                         fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd"])
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        (root / "etc/udev-drift/policies.d/site.yaml").write_text("version: 1\n")
        (root / "var/lib/udev-drift/backups").mkdir()
        (root / "var/lib/prometheus/node-exporter/udev_drift.prom").write_text("udev_drift_run_success 1\n")
        result = udev_drift("uninstall", "--root", root)
        assert result.status == 0
        assert "kept /etc/udev-drift/policies.d: not empty: holds site.yaml" in result.out
        assert "kept /var/lib/udev-drift: not empty: holds backups" in result.out
        assert (root / "etc/udev-drift/policies.d/site.yaml").exists()
        # a stale metrics file would be served for ever by node_exporter
        assert not (root / "var/lib/prometheus/node-exporter").exists()

    def test_uninstall_without_an_install_has_nothing_to_do(self, udev_drift, tmp_path: Path) -> None:
        root = make_target(tmp_path / "host", ALL)
        result = udev_drift("uninstall", "--root", root)
        assert result.status == 0 and "nothing to do: no install manifest" in result.out

    def test_a_damaged_manifest_is_one_clear_line(self, udev_drift, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd"])
        assert udev_drift("install", "--root", root, "--binary", fake_binary).status == 0
        (root / MANIFEST).write_text("{not json")
        result = udev_drift("uninstall", "--root", root)
        assert result.status == 3
        assert len(result.err.splitlines()) == 1 and "install-manifest.json" in result.err


class FakeSystemctl:
    """systemctl of a live systemd, with unit state in a JSON file, and a log of its calls."""

    def __init__(self, directory: Path, fail: str = "") -> None:
        self.path = directory / "systemctl"
        self.state = directory / "systemctl-state.json"
        self.log = directory / "systemctl.log"
        self.state.write_text("{}")
        self.path.write_text(f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
with open({str(self.log)!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
state = json.load(open({str(self.state)!r}))
verb = args[0]
if verb == {fail!r}:
    print("Failed to " + verb + ": Access denied", file=sys.stderr)
    sys.exit(1)
units = [a for a in args[1:] if not a.startswith("--")]
if verb == "is-enabled":
    print("enabled" if state.get(units[0], {{}}).get("enabled") else "disabled")
elif verb == "is-active":
    print("active" if state.get(units[0], {{}}).get("active") else "inactive")
elif verb in ("enable", "disable"):
    for unit in units:
        state.setdefault(unit, {{}})["enabled"] = verb == "enable"
        if "--now" in args:
            state[unit]["active"] = verb == "enable"
elif verb == "stop":
    for unit in units:
        state.setdefault(unit, {{}})["active"] = False
json.dump(state, open({str(self.state)!r}, "w"))
""")
        self.path.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def live(root: Path, systemctl: FakeSystemctl) -> tuple[Target, Systemctl]:
    host = Host(str(root))
    target = Target(host, systemd=True, live=True, package_managers=("apt",),
                    systemd_version=Version(252, "the test"))
    return target, Systemctl(host, live=True, binary=str(systemctl.path))


class TestOnALiveSystemd:
    def test_install_reloads_enables_and_starts_then_has_nothing_to_do(self, tmp_path: Path,
                                                                      fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", [])
        fake = FakeSystemctl(tmp_path)
        target, systemctl = live(root, fake)
        settings = Settings(str(fake_binary), "/var/lib/prometheus/node-exporter")
        Installer(target, settings, systemctl, io.StringIO()).run()
        changes = [call for call in fake.calls() if not call.startswith("is-")]
        assert changes == ["daemon-reload", "enable --now udev-drift.timer udev-drift.path"]
        out = io.StringIO()
        Installer(target, settings, systemctl, out).run()
        assert [call for call in fake.calls() if not call.startswith("is-")] == changes
        assert "nothing to do" in out.getvalue()

    def test_a_stopped_timer_is_started_again(self, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", [])
        fake = FakeSystemctl(tmp_path)
        target, systemctl = live(root, fake)
        settings = Settings(str(fake_binary), None)
        Installer(target, settings, systemctl, io.StringIO()).run()
        state = json.loads(fake.state.read_text())
        state["udev-drift.timer"]["active"] = False  # systemctl stop udev-drift.timer
        fake.state.write_text(json.dumps(state))
        Installer(target, settings, systemctl, io.StringIO()).run()
        assert fake.calls()[-1] == "enable --now udev-drift.timer udev-drift.path"

    def test_uninstall_disables_stops_and_reloads(self, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", [])
        before = snapshot(root)
        fake = FakeSystemctl(tmp_path)
        target, systemctl = live(root, fake)
        Installer(target, Settings(str(fake_binary), None), systemctl, io.StringIO()).run()
        Uninstaller(target, systemctl, io.StringIO()).run()
        changes = [call for call in fake.calls() if not call.startswith("is-")]
        assert changes[2:] == ["disable --now udev-drift.timer udev-drift.path udev-drift-serve.service",
                               "stop udev-drift.service", "daemon-reload"]
        assert snapshot(root) == before

    def test_a_failing_systemctl_is_one_line_and_what_was_made_can_be_uninstalled(
            self, tmp_path: Path, fake_binary: Path) -> None:
        root = make_target(tmp_path / "host", [])
        before = snapshot(root)
        fake = FakeSystemctl(tmp_path, fail="enable")
        target, systemctl = live(root, fake)
        with pytest.raises(Exception) as failed:
            Installer(target, Settings(str(fake_binary), None), systemctl, io.StringIO()).run()
        assert getattr(failed.value, "exit_status", None) == 3
        assert "enable --now udev-drift.timer udev-drift.path` failed (exit 1): Failed to enable" in str(failed.value)
        assert (root / MANIFEST).exists()  # recorded before the failure
        Uninstaller(target, Systemctl(Host(str(root)), True, str(FakeSystemctl(tmp_path).path)), io.StringIO()).run()
        assert snapshot(root) == before


class TestTarget:
    def test_what_the_target_has_is_looked_up_under_its_root(self, tmp_path: Path) -> None:
        target = detect(Host(str(make_target(tmp_path / "host", ["dnf", "yum"]))))
        assert (target.systemd, target.live, target.package_managers) == (False, False, ("dnf", "yum"))
        target = detect(Host(str(make_target(tmp_path / "host2", ["systemd", "apt"]))))
        assert (target.systemd, target.live, target.package_managers) == (True, False, ("apt",))

    def test_the_default_binary_is_a_udev_drift_that_exists(self) -> None:
        binary = default_binary()
        assert os.path.isabs(binary) and os.path.basename(binary) == "udev-drift"
        if not os.access(binary, os.X_OK):
            pytest.skip(f"no udev-drift console script beside {sys.executable} or on PATH")

    def test_install_on_the_running_host_needs_root(self, udev_drift, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
        result = udev_drift("install", "--dry-run")
        assert result.status == 2 and "run them as root" in result.err
