"""The Ansible role (ansible/roles/udev_drift) applied to this machine under a temporary root.

ansible-core is installed with pip into a venv under /tmp, once, and kept there for
later runs (UDEV_DRIFT_ANSIBLE_VENV moves it); where it cannot be installed the tests
skip and say why. The playbook runs with `connection: local` and points every path
under a temporary root (`udev_drift_root`, which the role passes to `install --root`);
the tree stands for a systemd host with dpkg.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.install.conftest import make_target, snapshot

ROLES = REPO / "ansible" / "roles"
VENV = Path(os.environ.get("UDEV_DRIFT_ANSIBLE_VENV", "/tmp/udev-drift-ansible-venv"))
ANSIBLE_CORE = "ansible-core>=2.15,<2.20"
PIP_TIMEOUT = 600

POLICY = """\
version: 1
name: ansible-test
description: A drop-in rules file the role's policy asks for
rules:
  - file: /etc/udev/rules.d/61-ansible-test.rules
    ensure: file
    content: |
      ACTION=="add", KERNEL=="sdz", SYMLINK+="ansible-test/%k"
"""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def ansible_playbook() -> Path:
    playbook = VENV / "bin" / "ansible-playbook"
    with locked(VENV.parent / f".{VENV.name}.lock"):  # two test runs must not build it at once
        if not playbook.exists():
            shutil.rmtree(VENV, ignore_errors=True)
            made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
            if made.returncode != 0:
                pytest.skip(f"cannot make a venv for ansible-core: {made.stderr.strip().splitlines()[-1:]}")
            try:
                pip = subprocess.run([str(VENV / "bin/python"), "-m", "pip", "install", "-q",
                                      "--disable-pip-version-check", ANSIBLE_CORE],
                                     capture_output=True, text=True, timeout=PIP_TIMEOUT)
            except subprocess.TimeoutExpired:
                shutil.rmtree(VENV, ignore_errors=True)
                pytest.skip(f"pip install {ANSIBLE_CORE} took more than {PIP_TIMEOUT} s")
            if pip.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                last = (pip.stderr or pip.stdout).strip().splitlines()[-1:]
                pytest.skip(f"ansible-core cannot be installed here (pip install {ANSIBLE_CORE}): {last}")
    return playbook


class Play:
    """One playbook applying the role to localhost, every path under `root`."""

    def __init__(self, playbook: Path, directory: Path, root: Path, role_vars: dict[str, object]) -> None:
        self.playbook = playbook
        self.directory = directory
        self.root = root
        self.file = directory / "play.yml"
        self.file.write_text(textwrap.dedent(f"""\
            - hosts: localhost
              connection: local
              gather_facts: false
              roles:
                - role: udev_drift
                  vars: {json.dumps({"udev_drift_root": str(root), **role_vars})}
            """))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROLES), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_HOME": str(self.directory / "ansible-home"), "ANSIBLE_LOCALHOST_WARNING": "False",
               "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False",
               "ANSIBLE_PYTHON_INTERPRETER": str(self.playbook.parent / "python"),
               "ANSIBLE_REMOTE_TEMP": str(self.directory / "ansible-remote-tmp"),
               "ANSIBLE_LOCAL_TEMP": str(self.directory / "ansible-local-tmp")}
        return subprocess.run([str(self.playbook), "-i", "localhost,", str(self.file), *args],
                              capture_output=True, text=True, timeout=600, cwd=self.directory, env=env)


def recap(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    found = re.search(r"^localhost\s+:\s+(.*)$", done.stdout, re.MULTILINE)
    assert found, done.stdout + done.stderr
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found.group(1))}


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    policy = tmp_path / "controller" / "ansible-test.yaml"
    policy.parent.mkdir()
    policy.write_text(POLICY)
    return policy


@pytest.fixture
def self_contained(tmp_path: Path) -> Path:
    """Stands for the self-contained binary: one file that runs this checkout's udev-drift."""
    binary = tmp_path / "controller" / "udev-drift"
    binary.parent.mkdir(exist_ok=True)
    binary.write_text(f"#!/bin/sh\nexec {sys.executable} -m checker \"$@\"\n")
    binary.chmod(0o755)
    return binary


class TestRole:
    def test_the_role_installs_everything_and_a_second_run_changes_nothing(
            self, ansible_playbook: Path, tmp_path: Path, policy_file: Path, self_contained: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd", "apt"])
        play = Play(ansible_playbook, tmp_path, root, {
            "udev_drift_binary_src": str(self_contained), "udev_drift_policies": [str(policy_file)],
            "udev_drift_serve": True, "udev_drift_serve_listen": "127.0.0.1:19917"})

        first = play.run()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        assert recap(first)["failed"] == 0 and recap(first)["changed"] > 0

        # what landed, under the root
        assert os.access(root / "usr/local/bin/udev-drift", os.X_OK)
        assert (root / "etc/udev-drift/policies.d/ansible-test.yaml").read_text() == POLICY
        service = (root / "etc/systemd/system/udev-drift.service").read_text()
        assert "ExecStart=/usr/local/bin/udev-drift check --repair --quiet --textfile-dir " \
               "/var/lib/prometheus/node-exporter" in service
        assert (root / "etc/systemd/system/timers.target.wants/udev-drift.timer").is_symlink()
        assert (root / "etc/systemd/system/paths.target.wants/udev-drift.path").is_symlink()
        assert (root / "etc/apt/apt.conf.d/80udev-drift").is_file()
        assert (root / "var/lib/udev-drift/install-manifest.json").is_file()
        drop_in = (root / "etc/systemd/system/udev-drift-serve.service.d/listen.conf").read_text()
        assert "serve --listen 127.0.0.1:19917" in drop_in
        assert (root / "etc/systemd/system/multi-user.target.wants/udev-drift-serve.service").is_symlink()
        # the handler checked and repaired with the new policy, metrics included
        assert (root / "etc/udev/rules.d/61-ansible-test.rules").read_text().startswith('ACTION=="add"')
        assert (root / "var/lib/prometheus/node-exporter/udev_drift.prom").is_file()

        before = snapshot(root)
        second = play.run()
        assert second.returncode == 0, second.stdout[-3000:]
        assert recap(second)["changed"] == 0, second.stdout
        assert snapshot(root) == before

        checked = play.run("--check")  # install runs with --dry-run there
        assert checked.returncode == 0 and recap(checked)["changed"] == 0, checked.stdout
        assert snapshot(root) == before

    def test_an_invalid_policy_never_lands(self, ansible_playbook: Path, tmp_path: Path,
                                           policy_file: Path, self_contained: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd"])
        broken = policy_file.parent / "broken.yaml"
        broken.write_text(POLICY.replace("ensure: file", "ensure: sometimes"))
        play = Play(ansible_playbook, tmp_path, root, {
            "udev_drift_binary_src": str(self_contained),
            "udev_drift_policies": [str(policy_file), str(broken)]})
        done = play.run()
        assert done.returncode != 0
        assert "failed to validate" in done.stdout, done.stdout[-3000:]
        assert "at 'rules[0].ensure'" in done.stdout  # udev-drift validate's own words reach the SRE
        assert not (root / "etc/udev-drift/policies.d/broken.yaml").exists()
        # the valid one before it did land; install did not run (the play stopped)
        assert (root / "etc/udev-drift/policies.d/ansible-test.yaml").exists()
        assert not (root / "etc/systemd/system/udev-drift.service").exists()

    def test_without_systemd_the_role_leaves_a_cron_entry_and_no_metrics_when_asked(
            self, ansible_playbook: Path, tmp_path: Path, policy_file: Path, self_contained: Path) -> None:
        root = make_target(tmp_path / "host", ["yum"])
        play = Play(ansible_playbook, tmp_path, root, {
            "udev_drift_binary_src": str(self_contained), "udev_drift_policies": [str(policy_file)],
            "udev_drift_textfile": False})
        fresh = snapshot(root)
        checked = play.run("--check")  # on a fresh host: says what it would do, does nothing
        assert checked.returncode == 0, checked.stdout[-3000:]
        assert recap(checked)["changed"] > 0 and snapshot(root) == fresh
        first = play.run()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        assert "--textfile-dir" not in (root / "etc/cron.d/udev-drift").read_text()
        assert (root / "etc/yum/post-actions/udev-drift.action").is_file()
        assert not (root / "etc/systemd").exists()
        assert not (root / "var/lib/prometheus").exists()
        assert recap(play.run())["changed"] == 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """udev-drift as a wheel, built from a copy of this checkout (a build writes build/)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("checker", "exporters", "policies"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel of udev-drift here: {(built.stderr or built.stdout).strip()[-300:]}")
    [found] = (work / "dist").glob("udev_drift-*.whl")
    return found


class TestRoleWithPip:
    def test_pip_into_a_venv_then_a_second_run_changes_nothing(
            self, ansible_playbook: Path, tmp_path: Path, policy_file: Path, wheel: Path) -> None:
        root = make_target(tmp_path / "host", ["systemd", "apt"])
        play = Play(ansible_playbook, tmp_path, root, {
            "udev_drift_pip_spec": str(wheel), "udev_drift_venv_command": f"{sys.executable} -m venv",
            "udev_drift_policies": [str(policy_file)]})
        first = play.run()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        venv_command = root / "opt/udev-drift/bin/udev-drift"
        assert os.access(venv_command, os.X_OK)
        version = subprocess.run([str(venv_command), "--version"], capture_output=True, text=True, timeout=60)
        assert version.returncode == 0 and version.stdout.startswith("udev-drift ")
        service = (root / "etc/systemd/system/udev-drift.service").read_text()
        assert "ExecStart=/opt/udev-drift/bin/udev-drift check --repair" in service
        assert (root / "etc/udev/rules.d/61-ansible-test.rules").exists()

        second = play.run()
        assert second.returncode == 0 and recap(second)["changed"] == 0, second.stdout[-3000:]
