"""The README's "First five minutes" path, run as written (under --root) on a host where
the admin added rules by hand."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from tests.conftest import REPO, XEN_RULES, HostTree, Result

VENDOR = '# vendor\nSUBSYSTEM=="block", GROUP="disk"\nKERNEL=="null|zero", MODE="0666"\n'


def five_minutes() -> list[list[str]]:
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("### First five minutes"):]
    block = block[block.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    commands = []
    for line in block.splitlines():
        for command in line.split("#")[0].split("&&"):
            words = shlex.split(command)
            if words and words[0] == "udev-drift":
                commands.append(words[1:])
    return commands


def test_the_first_five_minutes_protect_the_rules_as_they_stand(tree: HostTree,
                                                                 udev_drift: Callable[..., Result]) -> None:
    tree.write("/usr/lib/udev/rules.d/50-udev.rules", VENDOR, dedent=False)
    edited = VENDOR + XEN_RULES.format(disk="sdb") + XEN_RULES.format(disk="sdc")
    tree.write("/etc/udev/rules.d/50-udev.rules", edited, dedent=False)
    commands = five_minutes()
    assert [c[:2] for c in commands] == [["adopt"], ["adopt", "--write"], ["check", "--repair"],
                                         ["check", "--repair"], ["check"], ["install"]]
    printed = udev_drift(*commands[0], "--root", tree.root)
    assert printed.status == 0 and "for_each: [sdb, sdc]" in printed.out
    assert udev_drift(*commands[1], "--root", tree.root).status == 0
    assert tree.read("/etc/udev-drift/policies.d/adopted.yaml") == printed.out
    dry = udev_drift(*commands[2], "--root", tree.root)
    changed = [line.strip() for line in dry.out.splitlines() if line.strip().startswith(("+", "-"))]
    assert changed[2:] == ["+# BEGIN udev-drift adopted", "+# END udev-drift adopted"]
    assert udev_drift(*commands[3], "--root", tree.root).status == 0
    assert udev_drift(*commands[4], "--root", tree.root).status == 0
    assert tree.read("/etc/udev/rules.d/50-udev.rules") == (
        VENDOR + "# BEGIN udev-drift adopted\n" + edited[len(VENDOR):] + "# END udev-drift adopted\n")
