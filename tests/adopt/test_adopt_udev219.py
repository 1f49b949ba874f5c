"""`adopt` reads the host's rules as the host's udev does (`--udev 219|252|auto`), says
which, and writes a policy both udev 252 (the policy loader) and `validate --udev 219`
accept.

What udev 219 does with the host's file is asked of udev 219 itself (`udevadm test` of
the RHEL 7 source, tests/evaluate/udevadm219.py): a rule adopt calls working makes its
link there, a rule adopt leaves out makes none, and the policy's text makes the same links
as the host's lines it stands for.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from checker.rules.parser import parse_rules
from checker.rules.semantics import UDEV_219
from tests.check.test_udev_versions import BANNER_219
from tests.conftest import HostTree, Result
from tests.evaluate.udevadm219 import run_sets_219, skip_unless_here

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
VENDOR = '# vendor rules\nSUBSYSTEM=="block", GROUP="disk"\n'
NOTED = 'ACTION!="remove", KERNEL=="loop6", SYMLINK+="xapi/block/%k" # passthrough for VM\n'
OPTIONS = 'KERNEL=="loop7", OPTIONS+="link_priority=10,watch", SYMLINK+="xapi/block/%k"\n'
E_QUOTED = 'KERNEL=="loop6", SYMLINK+=e"other/%k"\n'
EDITED = VENDOR + NOTED + OPTIONS + E_QUOTED
LINKS_219 = {"xapi/block/loop6", "xapi/block/loop7"}  # what 219 makes of EDITED (asked below)


def _host(tree: HostTree, banner: bytes | None = None) -> None:
    tree.write("/usr/lib/udev/rules.d/50-udev.rules", VENDOR, dedent=False)
    tree.write(RULES, EDITED, dedent=False)
    for disk in ("loop6", "loop7"):
        tree.write(f"/dev/{disk}", "")  # a node in the tree stands for the disk
    if banner is not None:
        tree.path("/usr/lib/systemd").mkdir(parents=True, exist_ok=True)
        tree.path("/usr/lib/systemd/systemd").write_bytes(banner)


def _content(result: Result) -> str:
    [entry] = yaml.safe_load(result.out)["rules"]
    assert entry["ensure"] == "block"
    return str(entry["content"])


def test_on_udev_219_a_rule_with_a_trailing_comment_is_adopted_as_219_reads_it(
        tree: HostTree, udev_drift: Run) -> None:
    _host(tree)
    result = udev_drift("adopt", "--root", tree.root, "--udev", "219")
    assert result.status == 0, result.err
    assert "udev-drift adopt: udev 219 semantics (--udev 219)" in result.err.splitlines()
    assert _content(result) == ('ACTION!="remove", KERNEL=="loop6", SYMLINK+="xapi/block/%k"\n'
                                'KERNEL=="loop7", OPTIONS="watch", OPTIONS="link_priority=10", '
                                'SYMLINK+="xapi/block/%k"\n')
    assert "# The rules were read as udev 219 reads them (--udev 219)" in result.out
    assert "udev 219 ignores '# passthrough for VM' at its end" in result.err
    # the e"..." rule: 219 keeps only its match, which does nothing
    assert ":5: udev 219 reads only 'KERNEL==\"loop6\"' of it" in result.err
    links = {entry["link"]: entry.get("for_each") for entry in yaml.safe_load(result.out)["symlinks"]}
    assert links == {"/dev/xapi/block/{{ item }}": ["loop6", "loop7"]}


def test_on_udev_252_the_same_rules_are_dropped_ones_and_the_e_quoted_one_is_adopted(
        tree: HostTree, udev_drift: Run) -> None:
    _host(tree)
    result = udev_drift("adopt", "--root", tree.root, "--udev", "252")
    assert result.status == 0, result.err
    assert _content(result) == E_QUOTED
    assert ":3: udev drops this rule (trailing text after the last key" in result.err
    assert ":4: udev drops this rule (invalid OPTIONS value" in result.err


@pytest.mark.parametrize(("banner", "version"), [(BANNER_219, 219), (None, 252)])
def test_auto_reads_the_trees_udev_and_says_which(tree: HostTree, udev_drift: Run,
                                                  banner: bytes | None, version: int) -> None:
    _host(tree, banner)
    result = udev_drift("adopt", "--root", tree.root)
    assert result.status == 0, result.err
    said = [line for line in result.err.splitlines() if "semantics" in line]
    assert said and said[0].startswith(f"udev-drift adopt: udev {version} semantics ("), result.err
    assert ("xapi/block" in result.out) is (version == 219)


def test_the_policy_adopted_on_219_validates_for_219_and_check_repairs_it_in_place(
        tree: HostTree, udev_drift: Run) -> None:
    _host(tree, BANNER_219)
    assert udev_drift("adopt", "--root", tree.root, "--write").status == 0
    policy = tree.path("/etc/udev-drift/policies.d/adopted.yaml")
    validated = udev_drift("validate", "--udev", "both", policy)
    assert validated.status == 0, validated.err
    check = ("check", "--root", tree.root, "--skip-policy-permission-check", "--format", "json")
    before = udev_drift(*check).json()
    assert before["udev"] == {"version": 219, "source": '/usr/lib/systemd/systemd: "systemd 219"'}
    statuses = {f["status"] for p in before["policies"] for f in p["findings"] if f["kind"] == "rule"}
    assert statuses == {"damaged"}, before  # the rules stand there unmarked: no second copy
    assert udev_drift(*check, "--repair").status == 0
    repaired = tree.read(RULES)
    # marked where they stood, as udev 219 reads them; the rule 219 reads as a match is left
    assert repaired == (VENDOR + "# BEGIN udev-drift adopted\n" + _content_of(policy) +
                        "# END udev-drift adopted\n" + E_QUOTED)
    assert udev_drift(*check).status == 0


def _content_of(policy: object) -> str:
    with open(str(policy), encoding="utf-8") as handle:
        [entry] = yaml.safe_load(handle)["rules"]
    return str(entry["content"])


@pytest.fixture(scope="module")
def oracle_219() -> Callable[[str], set[str]]:
    skip_unless_here()

    def links(text: str) -> set[str]:
        [outcome] = run_sets_219([{"50-udev.rules": text}])
        return outcome.devices["loop6"].links | outcome.devices["loop7"].links

    return links


def test_udev_219_makes_the_links_of_the_rules_adopt_calls_working_and_not_the_others(
        oracle_219: Callable[[str], set[str]]) -> None:
    assert oracle_219(EDITED) == LINKS_219  # not other/loop6: adopt leaves that rule out
    for line in (NOTED, OPTIONS):
        assert oracle_219(line) & LINKS_219  # each alone makes its link: adopted as working


def test_the_policys_text_makes_in_udev_219_what_the_hosts_lines_make(
        tree: HostTree, udev_drift: Run, oracle_219: Callable[[str], set[str]]) -> None:
    _host(tree)
    content = _content(udev_drift("adopt", "--root", tree.root, "--udev", "219"))
    assert oracle_219(content) == oracle_219(NOTED + OPTIONS) == LINKS_219
    # and udev 252 (the policy's reader) reads the same rules in it
    assert [r.canonical for r in parse_rules(content).rules] == \
        [r.canonical for r in parse_rules(content, UDEV_219).rules]


def test_the_repaired_file_makes_the_same_links_in_udev_219(
        tree: HostTree, udev_drift: Run, oracle_219: Callable[[str], set[str]]) -> None:
    _host(tree, BANNER_219)
    assert udev_drift("adopt", "--root", tree.root, "--write").status == 0
    assert udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", "--repair").status == 0
    assert oracle_219(tree.read(RULES)) == oracle_219(EDITED) == LINKS_219

