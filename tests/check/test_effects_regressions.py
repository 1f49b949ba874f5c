"""Regressions found by attacking `check`'s effects and `explain`. Every "udev makes it"
below was seen on the real udevd 252
with loop6 (tests/evaluate/udevd.py), except the cciss kernel name and %s on the parent,
which follow udev's naming and udev-rules.c's FORMAT_SUBST_ATTR."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.facts import DeviceFacts, NodeFacts
from checker.evaluate.slice import slice_rules
from checker.evaluate.values import Tri
from tests.conftest import HostTree
from tests.evaluate.test_slice import loop6

POLICY = """\
version: 1
name: local-sata
symlinks:
  - link: /dev/xapi/block/sdb
    target: /dev/sdb
"""
RULES = "/etc/udev/rules.d/50-a.rules"


def _link_status(tree: HostTree, udev_drift: Any, files: dict[str, str], policy: str = POLICY,
                 node: str = "/dev/sdb", link: str = "/dev/xapi/block/sdb") -> str:
    tree.write(node, "", dedent=False)
    tree.link(link, "../.." + node.removeprefix("/dev"))
    for path, text in files.items():
        tree.write(path, text, dedent=False)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check",
                        "--format", "json", tree.policy(policy))
    findings = result.json()["policies"][0]["findings"]
    return str(next(f for f in findings if f["kind"] == "symlink")["status"])


# slice.py: ENV{DEVLINKS} reads the links (sd-device regenerates the property), ENV{TAGS}
# and ENV{CURRENT_TAGS} the tags; the slice drops the SYMLINK+= / TAG+= lines they read.
def test_env_devlinks_reads_links_added_by_an_earlier_rule(tree: HostTree, udev_drift: Any) -> None:
    files = {RULES: 'KERNEL=="sdb", SYMLINK+="disk/foo"\n',
             "/etc/udev/rules.d/60-b.rules": 'ENV{DEVLINKS}=="?*", SYMLINK+="xapi/block/%k"\n'}
    assert _link_status(tree, udev_drift, files) == "ok"


@pytest.mark.parametrize("prop", ["TAGS", "CURRENT_TAGS"])
def test_env_tags_reads_tags_added_by_an_earlier_rule(prop: str) -> None:
    rules = RuleSet.from_texts([("10-a.rules", 'KERNEL=="loop6", TAG+="tg1"\n'),
                                ("20-b.rules", f'ENV{{{prop}}}=="*tg1*", SYMLINK+="t/b"\n')])
    facts = loop6()  # database tags known (none): TAG== is decided
    assert evaluate(rules, facts).link("t/b") is Tri.YES
    assert evaluate(slice_rules(rules, links=["t/b"]), facts).link("t/b") is Tri.YES


# engine/_split_links + LinkMakers: udev makes /dev/<path simplified>: "/t/x" and "t//x"
# are the link t/x (udevd 252: SYMLINK+="/t/%k" and "t/$env{NOPE}/%k" give /dev/t/loop6).
@pytest.mark.parametrize("value", ["/xapi/block/%k", "xapi/block/$env{NOPE}/%k", "xapi//block/%k"])
def test_a_link_udev_simplifies_to_the_wanted_one_is_made(tree: HostTree, udev_drift: Any, value: str) -> None:
    assert _link_status(tree, udev_drift, {RULES: f'KERNEL=="sdb", SYMLINK+="{value}"\n'}) == "ok"


# effects.PolicyDevices.for_symlink: the kernel name is the node's basename; /dev/cciss/c0d0
# is the device cciss!c0d0 (udev turns '!' into '/' for the node)
def test_a_cciss_node_is_the_kernel_name_with_a_bang(tree: HostTree, udev_drift: Any) -> None:
    policy = POLICY.replace("/dev/sdb", "/dev/cciss/c0d0").replace("block/sdb", "block/disk0")
    files = {RULES: 'KERNEL=="cciss!c0d0", SYMLINK+="xapi/block/disk0"\n'}
    assert _link_status(tree, udev_drift, files, policy, "/dev/cciss/c0d0", "/dev/xapi/block/disk0") == "ok"


# slice._value_reads: %s{attr} falls back to the parent the last parent keys selected
# (event->dev_parent, kept across lines): it reads "parent" too
def test_attr_substitution_reads_the_parent_an_earlier_line_selected() -> None:
    parent = NodeFacts("0:0:0:0", "scsi", "sd", "/devices/h/0:0:0:0",
                       MappingProxyType({"vendor": "ATA"}), attributes_complete=True)
    node = NodeFacts("sdb", "block", None, "/devices/h/0:0:0:0/block/sdb",
                     MappingProxyType({"size": "1"}), attributes_complete=True, devname="/dev/sdb")
    facts = DeviceFacts("add", node, "disk", (8, 16), parents=(parent,), parents_complete=True)
    rules = RuleSet.from_texts([("10-a.rules", 'KERNEL=="sdb", KERNELS=="0:0:0:0", ENV{X}="1"\n'),
                                ("20-b.rules", 'KERNEL=="sdb", SYMLINK+="t/%s{vendor}"\n')])
    assert evaluate(rules, facts).link("t/ATA") is Tri.YES
    assert evaluate(slice_rules(rules, links=["t/ATA"]), facts).link("t/ATA") is Tri.YES


# trace.find_target / PolicyDevices.by_kernel: a top-level link (/dev/lnk -> sdc) is
# traced as a device named "lnk"
def test_explain_of_a_top_level_link_traces_its_device(tree: HostTree, udev_drift: Any) -> None:
    tree.write("/dev/sdc", "", dedent=False)
    tree.link("/dev/lnk", "sdc")
    tree.write(RULES, 'KERNEL=="sdc", SYMLINK+="lnk"\n', dedent=False)
    result = udev_drift("explain", "--root", tree.root, "--format", "json", "lnk")
    assert result.status == 0
    assert result.json()["device"] == "sdc"
