"""The harness of the tests that run servers (metrics, serve, install's watch): the example
host, the tool as a process, real servers. A folder's conftest imports the fixtures.

Every server a test starts goes through `servers`, which stops it by its pid at the end of
the test whatever happened (SIGTERM, then SIGKILL), and keeps its output for the failure
message. A test that needs a binary that is not installed skips, saying which package.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, HostTree

PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus",
            "prometheus-node-exporter": "prometheus-node-exporter",
            "prometheus-pushgateway": "prometheus-pushgateway", "openssl": "openssl",
            "amtool": "prometheus-alertmanager"}


def need(binary: str) -> str:
    """The path of `binary`, or skip the test saying what to install."""
    found = shutil.which(binary)
    if found is None:
        pytest.skip(f"{binary} is not installed (apt-get install {PACKAGES.get(binary, binary)})")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool(*args: str, env: dict[str, str] | None = None, umask: int | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """udev-drift as its own process, as cron runs it."""
    def child_setup() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run([sys.executable, "-m", "checker", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "NO_COLOR": "1", **(env or {})},
                          timeout=timeout, preexec_fn=child_setup if umask is not None else None)


def copy_example(root: Path) -> HostTree:
    """A copy of examples/xenserver-host (drifted: block and link missing), policy included."""
    shutil.copytree(REPO / "examples/xenserver-host", root, symlinks=True)
    # state a run with --root examples/xenserver-host may have left there is not the example's
    shutil.rmtree(root / "var", ignore_errors=True)
    policy = root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
    policy.unlink()
    shutil.copy(REPO / "policies/xenserver-local-sata.yaml", policy)
    return HostTree(root)


@pytest.fixture
def example(tmp_path: Path) -> HostTree:
    return copy_example(tmp_path / "host")


@pytest.fixture
def textfile_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "textfile"
    directory.mkdir()
    return directory


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def wait_for(what: str, probe: Callable[[], object], timeout: float = 30.0, every: float = 0.1) -> object:
    """Poll `probe` until it returns something true; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except (OSError, ValueError, KeyError) as error:
            last_error = error
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last_error})")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Servers:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Server] = []

    def start(self, name: str, argv: list[str], cwd: Path | None = None) -> Server:
        log = self.directory / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=cwd or self.directory)
        server = Server(name, process, log)
        self.started.append(server)
        return server

    def stop(self, server: Server, sig: int = signal.SIGTERM, wait: float = 10.0) -> int:
        if server.process.poll() is None:
            os.kill(server.pid, sig)
            try:
                server.process.wait(wait)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGKILL)
                server.process.wait()
        return int(server.process.returncode)

    def stop_all(self) -> None:
        for server in reversed(self.started):
            self.stop(server)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    directory = tmp_path / "servers"
    directory.mkdir()
    running = Servers(directory)
    try:
        yield running
    finally:
        running.stop_all()
