"""Shared test helpers: a host tree under a temporary --root, and the CLI run in-process."""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import settings

from checker.cli import main

# HYPOTHESIS_PROFILE=thorough runs ten times the examples of the default profile.
settings.register_profile("thorough", max_examples=2000, deadline=None)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])

REPO = Path(__file__).resolve().parents[1]


@dataclass
class HostTree:
    """A fake host: absolute host paths are written under `root`."""

    root: Path

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def write(self, host_path: str, text: str, *, dedent: bool = True) -> Path:
        target = self.path(host_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((textwrap.dedent(text) if dedent else text).encode("utf-8", "surrogateescape"))
        return target

    def read(self, host_path: str) -> str:
        return self.path(host_path).read_bytes().decode("utf-8", "surrogateescape")

    def link(self, host_path: str, target: str) -> Path:
        where = self.path(host_path)
        where.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, where)
        return where

    def policy(self, text: str, name: str = "policy.yaml") -> Path:
        return self.write(f"/etc/udev-drift/policies.d/{name}", text)

    def snapshot(self) -> dict[str, Any]:
        """Every entry of the tree with its type, content or link target: to prove nothing changed."""
        seen: dict[str, Any] = {}
        for directory, dirs, files in os.walk(self.root):
            for name in dirs + files:
                full = Path(directory, name)
                key = str(full.relative_to(self.root))
                if full.is_symlink():
                    seen[key] = ("link", os.readlink(full))
                elif full.is_dir():
                    seen[key] = ("dir",)
                else:
                    seen[key] = ("file", full.read_bytes(), full.stat().st_mode)
        return seen


@pytest.fixture
def tree(tmp_path: Path) -> HostTree:
    root = tmp_path / "host"
    root.mkdir()
    return HostTree(root)


@dataclass
class Result:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def udev_drift(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the command line in this process, as a user would type it."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit:  # argparse exits on usage errors and --help
            status = int(exit.code or 0)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return run


XEN_RULES = (
    'ACTION=="add", KERNEL=="{disk}", SYMLINK+="xapi/block/%k", '
    "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
    'ACTION=="remove", KERNEL=="{disk}", '
    "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
)
# The shipped policy's form of them: the link on every event but remove (a change event
# removes a link made only at add), the program on add.
XEN_EVERY_EVENT_RULES = (
    'ACTION!="remove", KERNEL=="{disk}", SYMLINK+="xapi/block/%k"\n'
    'ACTION=="add", KERNEL=="{disk}", '
    "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
    'ACTION=="remove", KERNEL=="{disk}", '
    "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
)
# Those rules for sdb as a policy with one managed block, and the block it makes.
XEN_BLOCK_POLICY = (
    "version: 1\nname: xen\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n    ensure: block\n"
    "    content: |\n" + "".join(f"      {line}\n" for line in XEN_EVERY_EVENT_RULES.format(disk="sdb").splitlines())
)
XEN_BLOCK = "# BEGIN udev-drift xen\n" + XEN_EVERY_EVENT_RULES.format(disk="sdb") + "# END udev-drift xen\n"
