"""The tool against real libudev, on block devices faked with umockdev, touching nothing
of the host (recipe 3 of shared/recipes/real-udev-in-a-sandbox.md).

Each run is a bash script in a private mount namespace (tests/namespace.py) that
1. mounts a tmpfs on /run and writes the udev database the test asks for into
   /run/udev/data (umockdev 0.17 reads the host's /run/udev/data: never let it);
2. mounts a tmpfs on /dev with real nodes (mknod) of the devices' numbers, and the links
   the test asks for. umockdev does not redirect mkdir or symlink under /dev to its
   testbed (they would land in the host's /dev), and its own links point into its
   temporary directory where no device number is faked: so the file side is this
   private /dev, and umockdev supplies only /sys and libudev's view;
3. runs the command under `umockdev-run -d <description>`, and keeps its exit status,
   stdout and stderr in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.namespace import run_private

DEVICES = Path(__file__).resolve().parent / "devices"


@dataclass
class Db:
    """A device's entry in the udev database: links (relative to /dev) and properties."""

    links: Sequence[str] = ()
    props: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"S:{link}" for link in self.links]
        lines += [f"E:{key}={value}" for key, value in self.props.items()]
        return "\n".join(lines + ["I:1", "V:1"]) + "\n"


@dataclass
class Run:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def findings(self) -> dict[str, dict[str, Any]]:
        """Every finding of every policy, by its path (the link)."""
        return {f["path"]: f for policy in self.json()["policies"] for f in policy["findings"]}


def require_umockdev() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a private mount namespace with its own /run and /dev")
    if shutil.which("umockdev-run") is None:
        pytest.skip("needs umockdev (apt-get install umockdev)")


def nodes_of(description: Path) -> dict[str, tuple[int, int]]:
    """Kernel name -> (major, minor) of each device of a .umockdev description."""
    nodes: dict[str, tuple[int, int]] = {}
    name = None
    for line in description.read_text().splitlines():
        if line.startswith("N: "):
            name = line[3:]
        found = re.fullmatch(r"A: dev=(\d+):(\d+)\\n", line)
        if found and name:
            nodes[name] = (int(found.group(1)), int(found.group(2)))
    return nodes


def run_live(tmp_path: Path, command: Sequence[str], *, db: Mapping[str, Db] = {},
             links: Mapping[str, str] = {}, files: Sequence[str] = (),
             devices: Sequence[str | Path] = ("disks.umockdev",), setup: str = "",
             policy: str | None = None, python: bool = False,
             nodes_from: Sequence[Path] = (), rules: str | None = None) -> Run:
    """Run `$UDEV_DRIFT <command>` (or `python <command>`) under umockdev.

    `policy` is written to tmp/policies/policy.yaml; `{policies}`, `{state}` and `{tmp}` in
    the command stand for tmp/policies, tmp/state and tmp.

    `db` maps kernel names to their database entries, `links` host paths under /dev to
    link targets (made after `setup`, which may mount and add devices, or write why the
    test cannot run here to tmp/skip and exit 0), and `files`
    names regular files to put under /dev. Nodes are made for every device of the
    descriptions that exist before the run, and of `nodes_from` (templates).

    `rules` is a rules file put in /run/udev/rules.d (the namespace's own /run); by default
    the rules that make the database's links (`KERNEL=="sdb", SYMLINK+="..."` for each), as
    a host whose udev made them has: check asks whether udev makes a link again.
    """
    require_umockdev()
    descriptions = [DEVICES / d if not os.path.isabs(d) else Path(d) for d in devices]
    nodes: dict[str, tuple[int, int]] = {}
    for description in [*descriptions, *nodes_from]:
        if description.exists():  # a generated one (see `setup`) is made in the namespace
            nodes.update(nodes_of(description))
    data = tmp_path / "udev-data"
    data.mkdir()
    for name, entry in db.items():
        major, minor = nodes[name]
        (data / f"b{major}:{minor}").write_text(entry.text())
    if policy is not None:
        (tmp_path / "policies").mkdir()
        (tmp_path / "policies" / "policy.yaml").write_text(textwrap.dedent(policy))
    (tmp_path / "state").mkdir()
    q = shlex.quote
    if rules is None:
        rules = "".join(f'KERNEL=="{name}", SYMLINK+="{link}"\n'
                        for name, entry in sorted(db.items()) for link in entry.links)
    lines = [
        "mount -t tmpfs tmpfs /run",
        "mkdir -p /run/udev/data /run/udev/rules.d",
        f"cp -a {q(str(data))}/. /run/udev/data/",
    ]
    if rules:
        (tmp_path / "99-udev-drift-test.rules").write_text(rules)
        lines.append(f"cp {q(str(tmp_path / '99-udev-drift-test.rules'))} /run/udev/rules.d/")
    lines += [
        "mount -t tmpfs -o mode=755 tmpfs /dev",
        "mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/urandom c 1 9",
        "ln -s /proc/self/fd /dev/fd",
    ]
    lines += [f"mknod /dev/{name} b {major} {minor}" for name, (major, minor) in sorted(nodes.items())]
    lines.append(textwrap.dedent(setup))
    for path, target in links.items():
        lines.append(f"mkdir -p {q(os.path.dirname(path))}; ln -s {q(target)} {q(path)}")
    for path in files:
        lines.append(f"mkdir -p {q(os.path.dirname(path))}; echo not a link > {q(path)}")
    places = {"{policies}": str(tmp_path / "policies"), "{state}": str(tmp_path / "state"),
              "{tmp}": str(tmp_path)}
    args = []
    for arg in command:
        for place, value in places.items():
            arg = arg.replace(place, value)
        args.append(q(arg))
    program = q(sys.executable) if python else "$UDEV_DRIFT"
    loads = " ".join(f"-d {q(str(d))}" for d in descriptions)
    out, err, status = (tmp_path / name for name in ("out", "err", "status"))
    lines.append(f"status=0; umockdev-run {loads} -- {program} {' '.join(args)} "
                 f"> {q(str(out))} 2> {q(str(err))} || status=$?; echo $status > {q(str(status))}")
    done = run_private("\n".join(lines))
    if (tmp_path / "skip").exists():  # `setup` found the test impossible here, and wrote why
        pytest.skip((tmp_path / "skip").read_text().strip())
    assert done.returncode == 0 and status.exists(), (done.stdout, done.stderr)
    return Run(int(status.read_text()), out.read_text(), err.read_text())
