"""A wanted link another present disk can also get: udev 252 gives it to the higher
link_priority, and on a tie to the device whose event it handled last. `check --root`
weighs the claims of the tree's other device nodes, found from every rule whose SYMLINK
can make the name. (The real udevd's verdict on the same rules:
tests/evaluate/test_claims_real.py.)"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import HostTree

BLOCK_FILE = "/etc/udev/rules.d/50-udev.rules"
OTHER = "/etc/udev/rules.d/60-other.rules"
EVERY = 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'


def policy(block: str) -> str:
    content = "".join(f"      {line}\n" for line in block.splitlines())
    return (f"version: 1\nname: xen\nrules:\n  - file: {BLOCK_FILE}\n    ensure: block\n    content: |\n"
            f"{content}symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n")


def check(tree: HostTree, udev_drift: Any, other: str, devices: tuple[str, ...] = ("sdb", "sdc"),
          block: str = EVERY) -> tuple[int, dict[str, Any]]:
    for device in devices:
        tree.write(f"/dev/{device}", "", dedent=False)
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    tree.write(BLOCK_FILE, f"# BEGIN udev-drift xen\n{block}# END udev-drift xen\n", dedent=False)
    tree.write(OTHER, other, dedent=False)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--format", "json",
                        tree.policy(policy(block)))
    findings = result.json()["policies"][0]["findings"]
    return result.status, next(f for f in findings if f["kind"] == "symlink")


def test_another_disks_higher_claim_is_drift_naming_the_disk_and_its_rule(tree: HostTree, udev_drift: Any) -> None:
    rule = 'KERNEL=="sdc", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"'
    status, link = check(tree, udev_drift, rule + "\n")
    assert status == 1
    assert link["status"] == "claimed" and link["drift"] and link["effect"] == "no"
    assert link["cause"] == {"file": OTHER, "line": 1, "rule": rule, "why": "claimed", "event": "add"}
    assert link["message"] == (f"at the next add event udev gives it to sdc: sdc claims it (rule at {OTHER}:1) "
                               "with link_priority 100, higher than sdb's 0")
    assert any(d.startswith("to fix: ") for d in link["details"])


def test_a_claim_made_through_a_substitution_counts_too(tree: HostTree, udev_drift: Any) -> None:
    other = ('KERNEL=="sdc", ENV{WHICH}="block/sdb"\n'
             'KERNEL=="sdc", SYMLINK+="xapi/$env{WHICH}", OPTIONS+="link_priority=5"\n')
    status, link = check(tree, udev_drift, other)
    assert status == 1 and link["status"] == "claimed", link
    assert link["cause"]["line"] == 2 and "sdc" in link["message"]


def test_an_equal_claim_is_unknown_because_the_order_of_events_decides(tree: HostTree, udev_drift: Any) -> None:
    status, link = check(tree, udev_drift, 'KERNEL=="sdc", SYMLINK+="xapi/block/sdb"\n')
    assert status == 0
    assert link["status"] == "ok" and link["effect"] == "unknown"
    assert "same link_priority 0" in link["effect_reason"]
    assert "the order of events decides" in link["effect_reason"]


def test_a_lower_claim_leaves_the_link_to_the_disk(tree: HostTree, udev_drift: Any) -> None:
    status, link = check(tree, udev_drift,
                         'KERNEL=="sdc", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=-100"\n')
    assert status == 0
    assert link["status"] == "ok" and link["effect"] == "yes"
    assert any("lower than sdb's 0: sdb keeps it" in d for d in link["details"]), link


def test_the_disks_own_higher_priority_wins(tree: HostTree, udev_drift: Any) -> None:
    block = 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k", OPTIONS+="link_priority=200"\n'
    status, link = check(tree, udev_drift,
                         'KERNEL=="sdc", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"\n', block=block)
    assert status == 0 and link["effect"] == "yes", link


@pytest.mark.parametrize("other", [
    'KERNEL=="sd*", SYMLINK+="xapi/block/%k", OPTIONS+="link_priority=100"\n',  # sdc gets xapi/block/sdc
    'KERNEL=="sdd", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"\n',  # sdd is not present
    'KERNEL=="sdc", ACTION=="remove", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"\n',
])
def test_rules_that_cannot_give_a_present_disk_the_link_change_nothing(
        tree: HostTree, udev_drift: Any, other: str) -> None:
    status, link = check(tree, udev_drift, other)
    assert status == 0 and link["status"] == "ok" and link["effect"] == "yes", link
    assert not any("claims it" in d for d in link.get("details", [])), link


def test_explain_shows_the_competing_claims_with_their_priorities(tree: HostTree, udev_drift: Any) -> None:
    check(tree, udev_drift, 'KERNEL=="sdc", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"\n')
    result = udev_drift("explain", "--root", tree.root, "--format", "json", "/dev/xapi/block/sdb")
    claims = result.json()["events"]["change"]["claims"]
    assert claims == {"claims": [{"device": "sdb", "claims": "yes", "priority": 0, "by": f"{BLOCK_FILE}:2"},
                                 {"device": "sdc", "claims": "yes", "priority": 100, "by": f"{OTHER}:1"}],
                      "verdict": "lost", "by": "sdc"}
    text = udev_drift("explain", "--root", tree.root, "/dev/xapi/block/sdb").out
    assert (f"claims at add: sdb (this device) yes, link_priority 0 by {BLOCK_FILE}:2; sdc yes, "
            f"link_priority 100 by {OTHER}:1 — udev gives it to sdc") in text


def test_explain_shows_no_claims_where_no_other_disk_can_get_the_link(tree: HostTree, udev_drift: Any) -> None:
    check(tree, udev_drift, 'KERNEL=="sdd", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"\n')
    result = udev_drift("explain", "--root", tree.root, "--format", "json", "/dev/xapi/block/sdb")
    assert "claims" not in result.json()["events"]["add"]


def test_on_the_running_host_the_other_disks_are_libudevs_and_their_facts_its_own() -> None:
    # the claims of loop7 on loop6's link, with both devices as libudev reads them (no tree)
    from checker.check.claims import Claims, LinkHeld
    from checker.check.named_devices import PolicyDevices
    from checker.evaluate.engine import RuleSet, evaluate
    from checker.findings import Finding
    from checker.host import Host
    from checker.observe.devices import LiveDevices
    from checker.observe.udev import observe_block_devices

    host = Host("/")
    if not all(os.path.exists(f"/sys/block/{d}") for d in ("loop6", "loop7")):
        pytest.skip("needs the kernel's loop6 and loop7")
    found = PolicyDevices(host, LiveDevices(host, observe_block_devices()))
    present = found.present()
    assert present["loop7"].sys_path is not None and present["loop7"].node is None
    rules = RuleSet.from_texts([
        ("/etc/udev/rules.d/50-udev.rules", 'ACTION!="remove", KERNEL=="loop6", SYMLINK+="xapi/block/%k"\n'),
        # a claim only a device of loop7's real size and number makes
        ("/etc/udev/rules.d/60-other.rules", 'KERNEL=="loop7", ATTR{ro}=="0", ENV{MAJOR}=="7", '
                                             'SYMLINK+="xapi/block/loop6", OPTIONS+="link_priority=100"\n')])
    finding = Finding("p", "symlink", "/dev/xapi/block/loop6", "/dev/xapi/block/loop6", "symlinks[0]",
                      "ok", False, "", effect="yes")
    claims = Claims(rules, found, lambda where: "",
                    lambda device, event: evaluate(rules, found.facts(device, event), trace=False))
    claims.judge([LinkHeld(finding, "xapi/block/loop6", present["loop6"])])
    assert finding.status == "claimed" and finding.effect == "no", finding
    assert finding.cause is not None and finding.cause.file == "/etc/udev/rules.d/60-other.rules"
    assert present["loop7"] in claims.considered
