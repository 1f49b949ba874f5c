"""`check` decides drift the way udev applies the whole rule set: a block that a file holds
but udev skips, undoes or never matches is drift with its cause and file:line; harmless
neighbours stay compliant; what cannot be known offline is "effect": "unknown", never
drift. Under --root, on a tree whose /dev/sdb stands for the disk. (The real udevd's
verdict on the same rule files: tests/evaluate/test_issue_cases.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import HostTree

BLOCK_FILE = "/etc/udev/rules.d/50-udev.rules"
# the link rule on every event but remove: a change event keeps the link
BLOCK = 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'
POLICY = """\
version: 1
name: local-sata
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    content: |
      ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"
symlinks:
  - link: /dev/xapi/block/sdb
    target: /dev/sdb
"""


def marked(text: str) -> str:
    return f"# BEGIN udev-drift local-sata\n{text}# END udev-drift local-sata\n"


def host(tree: HostTree, files: dict[str, str], block_at_end: bool = True) -> None:
    tree.write("/dev/sdb", "", dedent=False)
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    for path, text in files.items():
        tree.write(path, text, dedent=False)


def run(tree: HostTree, udev_drift: Any, policy: str = POLICY) -> tuple[int, dict[str, Any], dict[str, Any]]:
    path = tree.policy(policy)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check",
                        "--format", "json", path)
    report = result.json()
    findings = report["policies"][0]["findings"]
    rule = next(f for f in findings if f["kind"] == "rule")
    link = next(f for f in findings if f["kind"] == "symlink")
    return result.status, rule, link


# name -> (files, the rule finding's status, its cause (file, line, why), the link's status)
DRIFTING: dict[str, tuple[dict[str, str], str, tuple[str, int, str], str]] = {
    "a vendor GOTO over the block": (
        {BLOCK_FILE: 'KERNEL=="sd*", GOTO="x_end"\n' + marked(BLOCK) + 'LABEL="x_end"\n'},
        "ineffective", (BLOCK_FILE, 1, "goto"), "not-made"),
    "a later SYMLINK= replaces the list": (
        {BLOCK_FILE: marked(BLOCK), "/etc/udev/rules.d/60-other.rules": 'KERNEL=="sdb", SYMLINK="other/%k"\n'},
        "ineffective", ("/etc/udev/rules.d/60-other.rules", 1, "reset"), "not-made"),
    "an earlier SYMLINK:= makes the list final": (
        {"/etc/udev/rules.d/10-fixed.rules": 'KERNEL=="sdb", SYMLINK:="fixed/%k"\n', BLOCK_FILE: marked(BLOCK)},
        "ineffective", ("/etc/udev/rules.d/10-fixed.rules", 1, "final"), "not-made"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DRIFTING))
def test_a_block_udev_would_not_apply_is_drift_with_its_cause(tree: HostTree, udev_drift: Any, name: str) -> None:
    files, rule_status, (file, line, why), link_status = DRIFTING[name]
    host(tree, files)
    status, rule, link = run(tree, udev_drift)
    assert status == 1
    assert rule["status"] == rule_status and rule["drift"] and rule["effect"] == "no"
    assert rule["cause"]["file"] == file and rule["cause"]["line"] == line and rule["cause"]["why"] == why
    assert rule["cause"]["rule"]  # the text of the rule to look at
    assert f"{file}:{line}" in rule["message"]
    assert link["status"] == link_status and link["drift"] and link["effect"] == "no"
    assert f"{file}:{line}" in link["message"]


SERIAL_POLICY = """\
version: 1
name: local-sata
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    content: |
      ENV{ID_SERIAL}=="WD-1234", SYMLINK+="xapi/block/%k"
symlinks:
  - link: /dev/xapi/block/sdb
    target: /dev/sdb
"""


def test_a_rule_matching_a_property_set_only_by_a_later_file_is_drift(tree: HostTree, udev_drift: Any) -> None:
    host(tree, {
        BLOCK_FILE: marked('ENV{ID_SERIAL}=="WD-1234", SYMLINK+="xapi/block/%k"\n'),
        "/usr/lib/udev/rules.d/60-persistent-storage.rules": 'KERNEL=="sd*", ENV{ID_SERIAL}="WD-1234"\n',
    })
    status, rule, link = run(tree, udev_drift, SERIAL_POLICY)
    assert status == 1
    assert link["status"] == "not-made" and link["cause"]["why"] == "order"
    assert link["cause"]["file"] == "/usr/lib/udev/rules.d/60-persistent-storage.rules"
    assert "ENV{ID_SERIAL} is set only later, by /usr/lib/udev/rules.d/60-persistent-storage.rules:1" \
        in link["message"]


HARMLESS: dict[str, dict[str, str]] = {
    "a GOTO whose LABEL comes before the block": {
        BLOCK_FILE: 'KERNEL=="sd*", GOTO="x_end"\nLABEL="x_end"\n' + marked(BLOCK)},
    "a later SYMLINK+= for the same disk": {
        BLOCK_FILE: marked(BLOCK), "/etc/udev/rules.d/60-other.rules": 'KERNEL=="sdb", SYMLINK+="other/%k"\n'},
    "a later SYMLINK= for another disk": {
        BLOCK_FILE: marked(BLOCK), "/etc/udev/rules.d/60-other.rules": 'KERNEL=="sdc", SYMLINK="other/%k"\n'},
    "a GOTO in another file": {
        "/etc/udev/rules.d/10-vendor.rules": 'KERNEL=="sd*", GOTO="x_end"\nLABEL="x_end"\n', BLOCK_FILE: marked(BLOCK)},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HARMLESS))
def test_harmless_neighbours_stay_compliant(tree: HostTree, udev_drift: Any, name: str) -> None:
    host(tree, HARMLESS[name])
    status, rule, link = run(tree, udev_drift)
    assert status == 0, (rule, link)
    assert rule["status"] == "ok" and rule["effect"] == "yes"
    assert link["status"] == "ok" and link["effect"] == "yes"


def test_what_cannot_be_known_offline_is_unknown_and_never_drift(tree: HostTree, udev_drift: Any) -> None:
    # whether the GOTO jumps depends on a program's output: not known without running it
    host(tree, {BLOCK_FILE: 'PROGRAM=="/usr/bin/is-vendor-disk %k", GOTO="x_end"\n' + marked(BLOCK)
                + 'LABEL="x_end"\n'})
    status, rule, link = run(tree, udev_drift)
    assert status == 0
    assert rule["effect"] == "unknown" and not rule["drift"]
    assert f"the GOTO at {BLOCK_FILE}:1 may jump over it" in rule["effect_reason"]
    assert link["effect"] == "unknown" and not link["drift"]


def test_a_link_no_rule_makes_is_drift_even_while_it_exists(tree: HostTree, udev_drift: Any) -> None:
    # made by hand, or its rule deleted by an update: gone after the next boot
    policy = POLICY.split("rules:")[0] + "symlinks:" + POLICY.split("symlinks:")[1]
    host(tree, {BLOCK_FILE: 'KERNEL=="sdc", SYMLINK+="xapi/block/%k"\n'})
    status, _, link = run_links(tree, udev_drift, policy)
    assert status == 1
    assert link["status"] == "not-made" and link["effect"] == "no" and "cause" not in link
    assert "no rules file has a rule that gives sdb this link" in link["message"]


def test_a_rule_that_names_the_link_but_never_matches_at_add_is_drift(tree: HostTree, udev_drift: Any) -> None:
    # a vendor rule names the link, but only for "change" events: boot and hotplug miss it
    policy = POLICY.split("rules:")[0] + "symlinks:" + POLICY.split("symlinks:")[1]
    host(tree, {BLOCK_FILE: 'ACTION=="change", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'})
    status, _, link = run_links(tree, udev_drift, policy)
    assert status == 1
    assert link["status"] == "not-made" and link["cause"]["why"] == "no-match"
    assert link["cause"]["file"] == BLOCK_FILE and link["cause"]["line"] == 1
    assert 'does not match: ACTION=="change"' in link["message"]


def run_links(tree: HostTree, udev_drift: Any, policy: str) -> tuple[int, None, dict[str, Any]]:
    path = tree.policy(policy)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check",
                        "--format", "json", path)
    return result.status, None, result.json()["policies"][0]["findings"][0]


def test_the_text_report_names_the_cause(tree: HostTree, udev_drift: Any) -> None:
    files, *_ = DRIFTING["a vendor GOTO over the block"]
    host(tree, files)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", tree.policy(POLICY))
    assert result.status == 1
    assert f"is skipped by the GOTO at {BLOCK_FILE}:1" in result.out


def test_repair_leaves_vendor_rules_alone_and_says_what_to_change(tree: HostTree, udev_drift: Any) -> None:
    files, *_ = DRIFTING["a vendor GOTO over the block"]
    host(tree, files)
    before = tree.read(BLOCK_FILE)
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--repair",
                        "--format", "json", tree.policy(POLICY))
    assert result.status == 1
    assert tree.read(BLOCK_FILE) == before
    refused = [a for a in result.json()["actions"] if a["action"] == "refuse"]
    assert any("repair does not edit vendor rules" in a["detail"] for a in refused)
    text = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", tree.policy(POLICY))
    assert "2 need a change by hand" in text.out and "--repair` to put them back" not in text.out


def test_the_metrics_show_the_new_drift(tree: HostTree, udev_drift: Any, tmp_path: Any) -> None:
    files, *_ = DRIFTING["a later SYMLINK= replaces the list"]
    host(tree, files)
    out = tmp_path / "textfile"
    out.mkdir()
    result = udev_drift("check", "--root", tree.root, "--skip-policy-permission-check",
                        "--textfile-dir", str(out), tree.policy(POLICY))
    assert result.status == 1
    metrics = (out / "udev_drift.prom").read_text()
    assert ('udev_drift_item_drifted{item="/etc/udev/rules.d/50-udev.rules block",kind="rule",'
            'policy="local-sata"} 1.0') in metrics
    assert 'udev_drift_item_drifted{item="/dev/xapi/block/sdb",kind="symlink",policy="local-sata"} 1.0' in metrics
    assert 'udev_drift_policy_compliant{policy="local-sata"} 0.0' in metrics


def test_a_device_gone_since_it_was_found_is_known_by_its_name_alone() -> None:
    # hotplug between the enumeration and reading its facts: no failure of the whole run
    from checker.check.named_devices import Device, PolicyDevices
    from checker.host import Host
    from checker.observe.devices import DeviceFinder

    host = Host("/")
    facts = PolicyDevices(host, DeviceFinder(host)).facts(Device("sdzz", "/sys/devices/gone/sdzz"), "add")
    assert facts.kernel == "sdzz" and facts.node.devpath is None
