"""End to end with the real systemd-udevd, in a private mount namespace on a loop device
standing in for the XenServer host's sdb: the rules are missing, `--repair` writes them,
reloads, triggers and settles, and the link is there and known to the udev database.

The host's own /dev, /run and rules directories are never touched: the namespace gets a
tmpfs /run and /dev with only the nodes udevd needs, and empty directories bound over
the rules directories (recipe 1 of shared/recipes/real-udev-in-a-sandbox.md).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.namespace import run_private

UDEVD = "/lib/systemd/systemd-udevd"
POLICY = """\
version: 1
name: loop-as-sdb
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    content: |
      ACTION!="remove", KERNEL=="loop0", SYMLINK+="xapi/block/%k"
      ACTION=="add", KERNEL=="loop0", RUN+="/bin/sh -c 'echo %k >> /run/ran.txt'"
      ACTION=="remove", KERNEL=="loop0", RUN+="/bin/sh -c 'echo removed %k >> /run/ran.txt'"
symlinks:
  - link: /dev/xapi/block/loop0
    target: /dev/loop0
    required: true
"""
VENDOR = 'KERNEL=="null|zero", MODE="0666"\n'


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    if not (os.path.exists(UDEVD) and shutil.which("udevadm")):
        pytest.skip("needs the real udev (Debian package udev)")
    if not os.path.exists("/sys/block/loop0"):
        pytest.skip("needs the kernel's loop0 device (modprobe loop)")
    for name in ("etc-rules", "lib-rules", "policies", "state"):
        (tmp_path / name).mkdir()
    (tmp_path / "etc-rules/50-udev.rules").write_text(VENDOR)
    (tmp_path / "policies/loop.yaml").write_text(POLICY)
    return tmp_path


def script(sandbox: Path, body: str) -> str:
    return textwrap.dedent(f"""\
        mount -t tmpfs tmpfs /run
        mkdir -p /run/udev/rules.d
        mount -t tmpfs -o mode=755 tmpfs /dev
        mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5
        mknod -m 666 /dev/urandom c 1 9; mknod /dev/kmsg c 1 11; mknod /dev/loop0 b 7 0
        mount --bind {sandbox}/lib-rules /usr/lib/udev/rules.d
        mount --bind {sandbox}/etc-rules /etc/udev/rules.d
        {UDEVD} --daemon
        trap 'udevadm control --exit || pkill -f "{UDEVD} --daemon" || true' EXIT
        udevadm settle --timeout=10
        run() {{ $UDEV_DRIFT check {sandbox}/policies --state-dir {sandbox}/state "$@"; }}
    """) + textwrap.dedent(body)


def test_repair_writes_the_rules_and_udev_makes_the_link(sandbox: Path) -> None:
    done = run_private(script(sandbox, """\
        run --format json > /run/before.json || echo "before exit $?"
        run --repair --format json > /run/repair.json || echo "repair exit $?"
        run --repair --format json > /run/again.json || echo "again exit $?"
        echo "link: $(readlink /dev/xapi/block/loop0)"
        echo "database: $(grep '^S:' /run/udev/data/b7:0 | tr '\\n' ' ')"
        echo "ran: $(cat /run/ran.txt)"
        echo "json: $(cat /run/before.json | tr -d '\\n')"
        echo "json: $(cat /run/repair.json | tr -d '\\n')"
        echo "json: $(cat /run/again.json | tr -d '\\n')"
    """))
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert "before exit 1" in out and "repair exit" not in out and "again exit" not in out
    assert "link: ../../loop0" in out
    assert "database: S:xapi/block/loop0" in out
    assert "ran: loop0" in out
    before, repaired, again = (json.loads(line[6:]) for line in out.splitlines() if line.startswith("json: "))
    assert before["compliant"] is False
    statuses = {f["path"]: f["status"] for f in before["policies"][0]["findings"]}
    assert statuses == {"/etc/udev/rules.d/50-udev.rules": "missing", "/dev/xapi/block/loop0": "missing"}
    assert repaired["compliant"] is True and repaired["repaired"] is True
    commands = [a["command"][1:] for a in repaired["actions"] if a["action"] == "run"]
    assert commands == [["control", "--reload"], ["trigger", "--action=add", "--sysname-match=loop0"],
                        ["settle", "--timeout=30"]]
    # A second repair finds nothing to do: no write, no udevadm call.
    assert again["compliant"] is True and again["actions"] == []
    assert (sandbox / "etc-rules/50-udev.rules").read_text().startswith(VENDOR)


def test_a_link_made_by_hand_to_the_wrong_node_is_put_right_by_a_trigger(sandbox: Path) -> None:
    done = run_private(script(sandbox, """\
        run --repair > /dev/null
        mknod /dev/loop1 b 7 1
        ln -sfn ../../loop1 /dev/xapi/block/loop0
        run --format json > /run/wrong.json || true
        run --repair --format json > /run/fixed.json || echo "repair exit $?"
        echo "link: $(readlink /dev/xapi/block/loop0)"
        echo "json: $(cat /run/wrong.json | tr -d '\\n')"
        echo "json: $(cat /run/fixed.json | tr -d '\\n')"
    """))
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert "repair exit" not in out and "link: ../../loop0" in out
    wrong, fixed = (json.loads(line[6:]) for line in out.splitlines() if line.startswith("json: "))
    [link] = [f for f in wrong["policies"][0]["findings"] if f["kind"] == "symlink"]
    assert link["status"] == "wrong-target"
    assert [a["command"][1:] for a in fixed["actions"] if a["action"] == "run"] == [
        ["trigger", "--action=add", "--sysname-match=loop0"], ["settle", "--timeout=30"]]
