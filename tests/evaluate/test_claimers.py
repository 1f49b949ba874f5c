"""Which present devices some rule could give a link, found before anything is evaluated:
a superset of the devices whose claims `check` weighs (the evaluator decides each)."""

from __future__ import annotations

import pytest

from checker.evaluate.claimers import LinkClaimers, Present, kernel_number
from checker.evaluate.engine import RuleSet

PRESENT = Present(["sda", "sdb", "sdc", "sd5", "sd15", "loop7", "dm-0"])


def claimers(text: str) -> LinkClaimers:
    return LinkClaimers(RuleSet.from_texts([("/etc/udev/rules.d/60-x.rules", text)]))


@pytest.mark.parametrize(("rule", "link", "kernels"), [
    ('KERNEL=="sdc", SYMLINK+="xapi/block/sdb"', "xapi/block/sdb", {"sdc"}),  # a literal name
    ('KERNEL=="sdd", SYMLINK+="xapi/block/sdb"', "xapi/block/sdb", set()),  # sdd is not present
    ('KERNEL=="sd*", SYMLINK+="xapi/block/%k"', "xapi/block/sdb", {"sdb"}),  # %k read off the link
    ('KERNEL=="sd*", SYMLINK+="xapi/block/$kernel"', "xapi/block/sdb", {"sdb"}),
    ('KERNEL=="sd[0-9]*", SYMLINK+="l%n"', "l5", {"sd5"}),  # %n: the kernel's trailing digits
    ('KERNEL=="sd*", SYMLINK+="xapi/$env{WHICH}"', "xapi/block/sdb", {"sda", "sdb", "sdc", "sd5", "sd15"}),
    ('SYMLINK+="$env{VG}/$env{LV}"', "xapi/block/sdb", {"sda", "sdb", "sdc", "sd5", "sd15", "loop7", "dm-0"}),
    ('KERNEL=="loop*", SYMLINK+="other/%k"', "xapi/block/sdb", set()),  # never that name
    ('KERNEL=="sdc", SYMLINK+="a b xapi/block/sdb"', "xapi/block/sdb", {"sdc"}),  # one of several words
    # a literal kernel and %k (or %n) make exactly one name: the link of another disk is not it
    ('KERNEL=="sdb", SYMLINK+="xapi/block/%k"', "xapi/block/sdb", {"sdb"}),
    ('KERNEL=="sdc", SYMLINK+="xapi/block/%k"', "xapi/block/sdb", set()),
    ('KERNEL=="sd15", SYMLINK+="l%n-x"', "l15-x", {"sd15"}),
    ('KERNEL=="sd15", SYMLINK+="l%n-x"', "l5-x", set()),
])
def test_the_devices_a_rule_could_give_the_link(rule: str, link: str, kernels: set[str]) -> None:
    found = claimers(rule + "\n")
    assert found.kernels(link, PRESENT) == kernels
    assert found.kernels_for([link, "unrelated/x"], PRESENT) == kernels


def test_kernel_numbers_are_what_percent_n_gives() -> None:
    assert [kernel_number(k) for k in ("sd15", "sda", "sda1", "123", "nvme0n1")] == ["15", "", "1", "", "1"]
