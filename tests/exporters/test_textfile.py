"""The textfile way out: DIR/udev_drift.prom, whole at every moment, 0644, lint-clean.

Run as its own process where the process matters (umask, what gets imported).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from checker.exporters import textfile
from checker.safe_files.atomic import WriteError
from tests.conftest import REPO, HostTree
from tests.servers import need, tool


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestFile:
    def test_mode_is_0644_under_umask_077(self, example: HostTree, textfile_dir: Path) -> None:
        done = tool("check", "--root", str(example.root), "--textfile-dir", str(textfile_dir), umask=0o077)
        assert done.returncode == 1, done.stderr
        assert mode(textfile_dir / "udev_drift.prom") == 0o644
        # the state directory the same run created is private, as it should be
        assert mode(example.path("/var/lib/udev-drift")) == 0o700

    def test_a_file_someone_made_0600_is_replaced_by_a_0644_one(self, example: HostTree,
                                                                textfile_dir: Path) -> None:
        old = textfile_dir / "udev_drift.prom"
        old.write_text("# old\n")
        old.chmod(0o600)
        done = tool("check", "--root", str(example.root), "--textfile-dir", str(textfile_dir), umask=0o077)
        assert done.returncode == 1
        assert mode(old) == 0o644 and "udev_drift_run_success 1.0" in old.read_text()

    def test_written_to_a_temporary_name_not_ending_in_prom_then_renamed_with_fsyncs(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        renames: list[tuple[str, str]] = []
        synced: list[int] = []
        real_rename, real_fsync = os.rename, os.fsync

        def rename(src: str, dst: str, **kw: int) -> None:
            renames.append((src, dst))
            assert os.listdir(tmp_path) == [src]  # the whole text is there before the rename
            assert (tmp_path / src).read_bytes() == b"x 1\n"
            real_rename(src, dst, **kw)

        def fsync(fd: int) -> None:
            synced.append(fd)
            real_fsync(fd)

        monkeypatch.setattr(textfile.os, "rename", rename)
        monkeypatch.setattr(textfile.os, "fsync", fsync)
        textfile.write_textfile(str(tmp_path), b"x 1\n")
        [(src, dst)] = renames
        assert dst == "udev_drift.prom" and not src.endswith(".prom") and src.startswith(".")
        assert len(synced) == 2  # the file before the rename, the directory after it
        assert os.listdir(tmp_path) == ["udev_drift.prom"]

    def test_a_failed_write_leaves_no_temporary_file_and_says_so_in_one_line(self, tmp_path: Path) -> None:
        (tmp_path / "udev_drift.prom").mkdir()  # rename over a directory fails
        with pytest.raises(WriteError) as raised:
            textfile.write_textfile(str(tmp_path), b"x 1\n")
        assert "udev_drift.prom: cannot write the metrics" in str(raised.value)
        assert os.listdir(tmp_path) == ["udev_drift.prom"]

    def test_a_textfile_that_cannot_be_written_is_exit_3_in_one_line(self, example: HostTree,
                                                                     textfile_dir: Path) -> None:
        (textfile_dir / "udev_drift.prom").mkdir()
        done = tool("check", "--root", str(example.root), "--textfile-dir", str(textfile_dir))
        assert done.returncode == 3
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert "cannot write the metrics" in done.stderr


class TestPromtool:
    @pytest.mark.parametrize("case", ["drifted", "repaired", "failed"])
    def test_promtool_check_metrics_has_no_complaint(self, case: str, example: HostTree,
                                                     textfile_dir: Path) -> None:
        promtool = need("promtool")
        args = ["check", "--root", str(example.root), "--textfile-dir", str(textfile_dir)]
        if case == "repaired":
            args.append("--repair")
        if case == "failed":
            example.policy("version: 1\nname: broken\nrules: [\n", "broken.yaml")
        tool(*args)
        text = (textfile_dir / "udev_drift.prom").read_bytes()
        linted = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert linted.returncode == 0 and linted.stdout == b"" and linted.stderr == b"", \
            (linted.stdout + linted.stderr).decode()


class TestImports:
    PROBE = ("import sys\nfrom checker.cli import main\nstatus = main(sys.argv[1:])\n"
             "print('prometheus_client' in sys.modules, status, file=sys.stderr)\n")

    def probe(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-c", self.PROBE, *args], capture_output=True, text=True,
                              cwd=REPO, timeout=60)
        return done.stderr.strip().splitlines()[-1]

    def test_a_plain_check_does_not_import_prometheus_client(self, example: HostTree) -> None:
        assert self.probe("check", "--root", str(example.root)) == "False 1"

    def test_a_repair_without_metrics_does_not_import_it_either(self, example: HostTree) -> None:
        assert self.probe("check", "--root", str(example.root), "--repair") == "False 0"

    def test_nor_a_check_that_writes_the_textfile(self, example: HostTree, textfile_dir: Path) -> None:
        # its ~35 ms import would be most of the cost of writing the metrics
        assert self.probe("check", "--root", str(example.root), "--textfile-dir", str(textfile_dir)) == "False 1"
        assert (textfile_dir / "udev_drift.prom").exists()

    def test_a_push_does(self, example: HostTree, textfile_dir: Path) -> None:
        probe = self.probe("check", "--root", str(example.root), "--pushgateway", "http://127.0.0.1:1")
        assert probe == "True 1"

    def test_importtime_agrees(self, example: HostTree) -> None:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "checker", "check", "--root",
                               str(example.root)], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert done.returncode == 1
        assert re.search(r"\|\s+checker\.engine$", done.stderr, re.M)  # the probe works: the check's modules show
        assert "prometheus_client" not in done.stderr


class TestTheDirectory:
    """Debian's /var/lib/prometheus belongs to the prometheus user, who can swap the
    node-exporter directory beneath it for a link: root must never follow it to write."""

    def service_user_tree(self, tmp_path: Path) -> tuple[Path, Path]:
        prometheus = tmp_path / "var/lib/prometheus"
        elsewhere = tmp_path / "etc/cron.d"
        prometheus.mkdir(parents=True)
        elsewhere.mkdir(parents=True)
        os.chown(prometheus, 65534, 65534)  # the service user's, as Debian makes it
        return prometheus, elsewhere

    @pytest.mark.parametrize("where", ["last", "parent"])
    def test_a_link_in_the_textfile_path_is_not_followed_and_the_run_goes_on(
            self, example: HostTree, tmp_path: Path, where: str) -> None:
        prometheus, elsewhere = self.service_user_tree(tmp_path)
        if where == "last":  # the service user swapped node-exporter for a link
            (prometheus / "node-exporter").symlink_to(elsewhere)
            given = prometheus / "node-exporter"
        else:  # or a directory above it
            (tmp_path / "var/lib/prom-link").symlink_to(elsewhere)
            (elsewhere / "node-exporter").mkdir()
            given = tmp_path / "var/lib/prom-link/node-exporter"
        done = tool("check", "--root", str(example.root), "--repair", "--textfile-dir", str(given))
        assert done.returncode == 0, done.stderr  # repaired all the same
        assert done.stderr.count("\n") == 1 and "WARNING" in done.stderr and "symbolic link" in done.stderr
        assert not list(elsewhere.rglob("udev_drift.prom"))
        assert tool("check", "--root", str(example.root)).returncode == 0

    def test_a_missing_textfile_directory_is_a_warning_and_the_repair_still_runs(
            self, example: HostTree, tmp_path: Path) -> None:
        done = tool("check", "--root", str(example.root), "--repair", "--textfile-dir", str(tmp_path / "renamed"))
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("\n") == 1 and "WARNING" in done.stderr and "no such directory" in done.stderr
        assert tool("check", "--root", str(example.root)).returncode == 0

    def test_a_textfile_directory_reached_without_links_is_written(self, example: HostTree, tmp_path: Path) -> None:
        prometheus, _ = self.service_user_tree(tmp_path)
        (prometheus / "node-exporter").mkdir()
        done = tool("check", "--root", str(example.root), "--textfile-dir", str(prometheus / "node-exporter"))
        assert done.returncode == 1 and done.stderr == ""
        assert (prometheus / "node-exporter/udev_drift.prom").is_file()

    def test_uninstall_does_not_follow_a_link_to_remove_the_textfile(self, tmp_path: Path) -> None:
        from checker.cli import main

        root = tmp_path / "host"
        for directory in ("etc/systemd/system", "var/lib/prometheus/node-exporter", "srv/victim"):
            (root / directory).mkdir(parents=True)
        binary = tmp_path / "udev-drift"
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
        assert main(["install", "--root", str(root), "--binary", str(binary), "--textfile-dir",
                     "/var/lib/prometheus/node-exporter"]) == 0
        victim = root / "srv/victim/udev_drift.prom"
        victim.write_text("someone else's file\n")
        (root / "var/lib/prometheus/node-exporter").rmdir()
        (root / "var/lib/prometheus/node-exporter").symlink_to("../../../srv/victim")
        main(["uninstall", "--root", str(root)])
        assert victim.read_text() == "someone else's file\n"
