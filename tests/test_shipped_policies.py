"""The policies that ship: each one valid, documented, and findable by an installed tool."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from checker.engine import load_desired
from tests.conftest import REPO, Result

SHIPPED = sorted((REPO / "policies").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_each_shipped_policy_is_valid_and_says_what_it_is_for(path: Path) -> None:
    [policy] = load_desired([str(path)])
    assert policy.description
    assert path.read_text().startswith("#"), "a shipped policy opens with a comment for its reader"
    assert path.name in (REPO / "README.md").read_text(), "every shipped policy is listed in the README"


def test_an_installed_tool_lists_and_prints_its_policies(udev_drift: Callable[..., Result]) -> None:
    listing = udev_drift("policies")
    assert listing.status == 0
    assert listing.out.startswith("xenserver-local-sata  Local SATA disks")
    printed = udev_drift("policies", "xenserver-local-sata")
    assert printed.out == (REPO / "policies/xenserver-local-sata.yaml").read_text()
    missing = udev_drift("policies", "nope")
    assert missing.status == 2 and "no shipped policy named 'nope'" in missing.err
