"""Which present devices some rule could give a link, found before anything is evaluated:
a superset of the devices whose claims `check` weighs (the evaluator decides each)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from checker.evaluate.claimers import LinkClaimers, Present, kernel_number
from checker.evaluate.engine import RuleSet
from checker.evaluate.slice import LinkMakers
from tests.evaluate.test_differential import rule_sets

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


# --- indexed for the asked links only ------------------------------------------------

LINKS = ("t/a", "t/b", "t/loop6", "t/final", "both", "t/c", "t/7_6", "t/x%y", "t/$x", "t/1")  # the rule sets'
_ASKED_TEXT = ('KERNEL=="vd1", SYMLINK+="vendor/disk1 xapi/block/%k"\n'
               'KERNEL=="vd*", SYMLINK+="xapi/block/%k"\n'
               'SYMLINK+="$env{X}/y", OPTIONS+="string_escape=none"\n'
               'KERNEL=="vd2", SYMLINK+="other/%k"\n'
               'SYMLINK+="xapi//block/./vd3"\n')


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(rule_sets)
def test_indexes_for_the_asked_links_answer_as_the_whole_ones(files: dict[str, str]) -> None:
    rules = RuleSet.from_texts(sorted(files.items()) + [("/etc/udev/rules.d/70-z.rules", _ASKED_TEXT)])
    kernels = ["loop6", "vd1", "vd2", "vd3", "sdb"]
    for asked in (["t/a"], ["both", "/dev/xapi/block/vd1"], ["vendor/disk1", "other/vd2"], list(LINKS)):
        makers, all_makers = LinkMakers(rules, asked), LinkMakers(rules)
        claimers, all_claimers = LinkClaimers(rules, asked), LinkClaimers(rules)
        for link in asked:
            for kernel in kernels:
                assert makers.could_give(kernel, link) == all_makers.could_give(kernel, link), (link, kernel)
            assert claimers.kernels(link, kernels) == all_claimers.kernels(link, kernels), link
        present = Present(kernels)
        assert claimers.kernels_for(asked, present) == all_claimers.kernels_for(asked, present)


def test_a_line_that_names_no_asked_link_is_not_indexed() -> None:
    rules = RuleSet.from_texts([("/etc/udev/rules.d/70-z.rules", _ASKED_TEXT)])
    asked = LinkClaimers(rules, ["other/vd2"])
    assert set(asked._exact) == {"other/vd2"} and set(LinkClaimers(rules)._exact) == {"other/vd2", "xapi/block/vd1"}
    assert not LinkMakers(rules, ["other/vd2"])._by_kernel.get(("vendor", "vd1"))
    assert LinkMakers(rules)._by_kernel.get(("vendor", "vd1"))
