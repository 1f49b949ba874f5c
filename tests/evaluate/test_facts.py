"""Device facts as udev reads them: sysfs attributes (sd_device_get_sysattr_value) and the
kernel's uevent properties."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checker.evaluate.values import Unknown
from checker.observe.udev import device_facts, sysfs_attributes


def test_attributes_are_read_as_udev_reads_them(tmp_path: Path) -> None:
    (tmp_path / "size").write_text("2048\n\n")
    (tmp_path / "model").write_text("VBOX   \n")
    (tmp_path / "queue").mkdir()
    (tmp_path / "target").mkdir()
    os.symlink("../../bus/scsi/drivers/sd", tmp_path / "driver")
    os.symlink("../../target", tmp_path / "device")
    values, unreadable, entries = sysfs_attributes(str(tmp_path))
    assert values == {"size": "2048", "model": "VBOX   ", "driver": "sd"}  # newlines only are dropped
    assert unreadable == {"queue", "target", "device"}  # directories, and links other than driver ...
    assert entries == {"size", "model", "queue", "target", "driver", "device"}


@pytest.mark.skipif(not os.path.exists("/sys/block/loop0"), reason="needs the kernel's loop0")
def test_a_real_block_device() -> None:
    facts = device_facts("/sys/block/loop0", "add")
    assert facts.node.kernel == "loop0" and facts.node.subsystem == "block"
    assert facts.devnum == (7, 0) and facts.devtype == "disk"
    assert facts.property("DEVNAME") == "/dev/loop0" and facts.property("ACTION") == "add"
    assert facts.property("ID_SERIAL") is None  # the kernel's properties are all there for "add"
    assert isinstance(facts.property("SEQNUM"), Unknown)
    assert facts.node.attribute("size") == Path("/sys/block/loop0/size").read_text().strip()
    assert facts.node.attribute("nonexistent") is None
    assert isinstance(facts.node.attribute("queue/rotational"), Unknown)  # not read: unknown
    change = device_facts("/sys/block/loop0", "change")
    assert isinstance(change.property("DISK_MEDIA_CHANGE"), Unknown)  # other events may carry more
    assert change.property("ID_SERIAL") is None
