"""`check`, `explain` and `validate` apply the host's udev (219 or 252) and say which.

What each udev does with these lines is proven against both real udevs in
tests/evaluate/test_udev219_cases.py; here: that the commands choose the right one and
report it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import HostTree, Result

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
POLICY = f"""\
version: 1
name: xen
rules:
  - file: {RULES}
    ensure: lines
    content: |
      ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"
"""
# the policy's rule with a note after it: udev 219 keeps it (the note is a parse error
# after the last key), udev 252 drops the whole line
NOTED = 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k" # passthrough for VM\n'
BANNER_219 = (b"\x7fELF\x02\x01\x01" + b"\0" * 64 + b"\0systemd 219 running in %ssystem mode. "
              b"(+PAM +AUDIT)\0" + b"\0" * 64)


def _tree(tree: HostTree, banner: bytes | None) -> None:
    tree.policy(POLICY)
    tree.write(RULES, NOTED)
    if banner is not None:
        path = tree.path("/usr/lib/systemd/systemd")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(banner)


def test_a_tree_with_systemd_219_is_checked_with_219s_reader_and_says_so(tree: HostTree, udev_drift: Run) -> None:
    _tree(tree, BANNER_219)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    report = json.loads(result.out)
    assert report["udev"] == {"version": 219, "source": '/usr/lib/systemd/systemd: "systemd 219"'}
    assert result.status == 0, result.out  # 219 keeps the rule: the line is there
    text = udev_drift("check", "--root", tree.root)
    assert 'udev 219 semantics (/usr/lib/systemd/systemd: "systemd 219")' in text.out.splitlines()[0]


def test_the_same_tree_read_as_252_is_drift(tree: HostTree, udev_drift: Run) -> None:
    _tree(tree, BANNER_219)
    result = udev_drift("check", "--root", tree.root, "--udev", "252", "--format", "json")
    assert json.loads(result.out)["udev"] == {"version": 252, "source": "--udev 252"}
    assert result.status == 1


def test_a_tree_without_a_version_gets_252_with_a_note(tree: HostTree, udev_drift: Run) -> None:
    _tree(tree, None)
    report = json.loads(udev_drift("check", "--root", tree.root, "--format", "json").out)
    assert report["udev"]["version"] == 252 and report["udev"]["source"] == "default"
    assert "not found" in report["udev"]["note"]


@pytest.mark.parametrize(("udev", "status"), [("252", 0), ("219", 2), ("both", 2)])
def test_validate_refuses_for_219_a_rule_that_219_reads_otherwise(tree: HostTree, udev_drift: Run,
                                                                  udev: str, status: int) -> None:
    policy = tree.policy(POLICY.replace('SYMLINK+="xapi/block/%k"', 'SYMLINK+=e"xapi/block/%k"'))
    result = udev_drift("validate", "--udev", udev, str(policy))
    assert result.status == status, result.err
    if status:
        assert "udev 219 reads these rules otherwise" in result.err
