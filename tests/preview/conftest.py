"""A host tree with the XenServer policy kept, a dpkg database in it, and the command line
run on it: preview first, then the same packages really installed with dpkg --root and
`check` (and `check --repair`, as the post-update hook runs it) on the result."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import XEN_BLOCK, XEN_BLOCK_POLICY, HostTree, Result

BLOCK_FILE = "/etc/udev/rules.d/50-udev.rules"
POLICY = XEN_BLOCK_POLICY + "symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n"

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None,
                                reason="dpkg and dpkg-deb are not installed")


def init_dpkg(tree: HostTree) -> None:
    for directory in ("info", "updates", "triggers"):
        tree.path(f"/var/lib/dpkg/{directory}").mkdir(parents=True, exist_ok=True)
    for name in ("status", "available"):
        tree.path(f"/var/lib/dpkg/{name}").touch()


@pytest.fixture
def xen(tree: HostTree) -> HostTree:
    """The seed host: /dev/sdb, its xapi link, the managed block, the policy, dpkg's database."""
    tree.write("/dev/sdb", "", dedent=False)
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    tree.write(BLOCK_FILE, XEN_BLOCK, dedent=False)
    tree.policy(POLICY)
    init_dpkg(tree)
    return tree


def dpkg_install(tree: HostTree, *debs: Path, conffiles: str = "old") -> None:
    subprocess.run(["dpkg", f"--root={tree.root}", "--force-script-chrootless", "--force-not-root",
                    "--force-depends", "--log=/dev/null", f"--force-conf{conffiles}",
                    *(["--force-confdef"] if conffiles == "old" else []), "-i", *map(str, debs)], check=True, capture_output=True, stdin=subprocess.DEVNULL)


@pytest.fixture
def preview(udev_drift: Callable[..., Result]) -> Callable[..., Result]:
    def run(tree: HostTree, *packages: Any, options: Sequence[str] = ()) -> Result:
        return udev_drift("preview", "--root", tree.root, "--skip-policy-permission-check",
                          "--format", "json", *options, *packages)
    return run


def check(udev_drift: Callable[..., Result], tree: HostTree, repair: bool = False) -> dict[tuple[str, str], str]:
    """(kind, item) -> status after a real check (or check --repair) of the tree."""
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--format", "json",
                        *(["--repair"] if repair else []))
    assert result.status in (0, 1), result.err
    return {(f["kind"], f["item"]): f["status"]
            for policy in json.loads(result.out)["policies"] for f in policy["findings"]}


def agrees(udev_drift: Callable[..., Result], tree: HostTree, document: dict[str, Any]) -> None:
    """The preview said what check says once the packages are installed: what it calls
    overwritten is drift right after the update and gone after the repair; what it calls
    lost is still drift after the repair; everything else is kept."""
    after = check(udev_drift, tree)
    for change in document["changes"]:
        if change["outcome"] == "restored":
            assert after[(change["kind"], change["item"])] == change["status_after"], (change, after)
    repaired = check(udev_drift, tree, repair=True)
    lost = {(c["kind"], c["item"]): c["status_after"] for c in document["changes"] if c["outcome"] == "lost"}
    for key, status in repaired.items():
        assert status == lost.get(key, "ok"), (key, status, lost)
