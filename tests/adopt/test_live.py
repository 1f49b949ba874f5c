"""adopt on a live host: real libudev (umockdev) knows the disks, so the adopted links name
them by serial. The rules directory is a tmpfs in a private mount namespace."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from tests.conftest import XEN_RULES
from tests.udev.harness import Db, run_live

WDC = "WDC_WD40EFRX-68N32N0_WD-WCC7K1234567"


def test_links_on_disks_libudev_knows_are_adopted_by_serial(tmp_path: Path) -> None:
    rules = XEN_RULES.format(disk="sdb")
    setup = ("mount -t tmpfs tmpfs /etc/udev/rules.d\n"
             f"printf '%s' {shlex.quote(rules)} > /etc/udev/rules.d/61-local.rules\n")
    run = run_live(tmp_path, ["adopt"], db={"sdb": Db(["xapi/block/sdb"], {"ID_SERIAL": WDC})},
                   links={"/dev/xapi/block/sdb": "../../sdb"}, setup=setup, rules="")
    assert run.status == 0, run.err
    policy = yaml.safe_load(run.out)
    assert policy["rules"] == [{"file": "/etc/udev/rules.d/61-local.rules", "ensure": "file", "content": rules}]
    assert policy["symlinks"] == [{"link": "/dev/xapi/block/sdb", "device": {"serial": WDC}, "required": False}]
