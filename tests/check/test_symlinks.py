"""Symlink entries on the file system: present, a link, resolving to the device's node."""

from __future__ import annotations

from typing import Callable

from tests.conftest import HostTree, Result

Run = Callable[..., Result]


def policy(device: str = "target: /dev/sdb", required: bool = False) -> str:
    return ("version: 1\nname: links\nsymlinks:\n  - link: /dev/xapi/block/sdb\n"
            f"    {device}\n    required: {'true' if required else 'false'}\n")


def run(tree: HostTree, udev_drift: Run, text: str) -> tuple[int, dict]:
    # the rule that makes the link, as on a host whose udev made it: check asks whether
    # udev makes it again at the next event
    tree.write("/etc/udev/rules.d/50-local.rules", 'KERNEL=="sd*", SYMLINK+="xapi/block/sdb"\n')
    tree.policy(text)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    [item] = result.json()["policies"][0]["findings"]
    return result.status, item


def test_a_relative_link_to_the_node_is_kept(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    status, item = run(tree, udev_drift, policy())
    assert (status, item["kind"], item["status"]) == (0, "symlink", "ok")
    assert item["message"].startswith("-> ../../sdb")


def test_an_absolute_link_resolves_inside_the_root(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    tree.link("/dev/xapi/block/sdb", "/dev/sdb")
    assert run(tree, udev_drift, policy())[0] == 0


def test_a_missing_link_names_the_device_that_is_there(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    status, item = run(tree, udev_drift, policy())
    assert (status, item["status"]) == (1, "missing")
    assert item["message"] == "missing (device /dev/sdb is present as /dev/sdb)"


def test_a_link_to_another_disk_is_wrong_target(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    tree.write("/dev/sdc", "")
    tree.link("/dev/xapi/block/sdb", "../../sdc")
    status, item = run(tree, udev_drift, policy())
    assert (status, item["status"]) == (1, "wrong-target")
    assert item["message"] == "points to /dev/sdc instead of /dev/sdb"


def test_a_dangling_link_is_drift(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    tree.link("/dev/xapi/block/sdb", "../../sdx")
    assert run(tree, udev_drift, policy())[1]["status"] == "dangling"


def test_a_regular_file_or_directory_where_the_link_should_be_is_drift(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    tree.write("/dev/xapi/block/sdb", "")
    status, item = run(tree, udev_drift, policy())
    assert (status, item["status"]) == (1, "not-a-link")
    assert item["message"] == "a regular file stands where the link should be"


def test_an_unplugged_disk_is_absent_and_not_drift_unless_required(tree: HostTree, udev_drift: Run) -> None:
    status, item = run(tree, udev_drift, policy())
    assert (status, item["status"], item["drift"]) == (0, "absent", False)
    tree.policy(policy(required=True))
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert result.status == 1
    assert result.json()["policies"][0]["findings"][0]["drift"] is True


def test_a_device_named_by_serial_is_found_through_by_id(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdc", "")
    tree.link("/dev/disk/by-id/ata-WDC_WD40EFRX_WD-WCC7K1234567", "../../sdc")
    tree.link("/dev/disk/by-id/ata-WDC_WD40EFRX_WD-WCC7K1234567-part1", "../../sdc1")
    tree.link("/dev/xapi/block/sdb", "../../sdc")
    status, item = run(tree, udev_drift, policy("device: {serial: WDC_WD40EFRX_WD-WCC7K1234567}"))
    assert status == 0, item
    assert "serial WDC_WD40EFRX_WD-WCC7K1234567 is present as /dev/sdc" in item["message"]


def test_a_device_named_by_wwn_that_moved_makes_the_old_link_wrong(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/dev/sdb", "")
    tree.write("/dev/sdc", "")
    tree.link("/dev/disk/by-id/wwn-0x50014ee2b5c4f1a2", "../../sdc")
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    status, item = run(tree, udev_drift, policy("device: {wwn: '0x50014ee2b5c4f1a2'}"))
    assert (status, item["status"]) == (1, "wrong-target")
