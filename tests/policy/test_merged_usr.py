"""One file, two names: on a merged-/usr host /lib is a link to usr/lib. Policies that
contradict each other about one file are refused however they spell it; and a repair
that would undo the previous run's repair (two policy sets taking turns) stops and says
so, instead of flipping the file (and, through udev-drift.path, reloading udev) for ever."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import HostTree, Result

Run = Callable[..., Result]
RULE = 'KERNEL=="sdb", SYMLINK+="xapi/block/%k"'


def policy(name: str, file: str, ensure: str) -> str:
    return (f"version: 1\nname: {name}\nrules:\n  - file: {file}\n    ensure: {ensure}\n"
            f"    content: |\n      {RULE}\n")


@pytest.fixture
def merged(tree: HostTree) -> HostTree:
    tree.path("/usr/lib/udev/rules.d").mkdir(parents=True)
    tree.link("/lib", "usr/lib")
    return tree


@pytest.mark.parametrize("exists", [True, False])
def test_present_and_absent_through_two_names_of_one_file_conflict(merged: HostTree, udev_drift: Run,
                                                                   exists: bool) -> None:
    if exists:
        merged.write("/usr/lib/udev/rules.d/60-x.rules", "")
    merged.policy(policy("keep", "/lib/udev/rules.d/60-x.rules", "block"), "a.yaml")
    merged.policy(policy("drop", "/usr/lib/udev/rules.d/60-x.rules", "absent"), "b.yaml")
    before = merged.snapshot()
    result = udev_drift("check", "--root", merged.root, "--repair")
    assert result.status == 2 and result.out == "", result.err
    assert result.err.count("\n") == 1
    assert ("ensures absent a rule that keep rules[0] ensures present in /usr/lib/udev/rules.d/60-x.rules "
            "(the same file as /lib/udev/rules.d/60-x.rules)") in result.err
    assert merged.snapshot() == before


def test_a_file_owned_whole_is_owned_under_its_other_name_too(merged: HostTree, udev_drift: Run) -> None:
    merged.write("/usr/lib/udev/rules.d/60-x.rules", "")
    merged.policy(policy("whole", "/usr/lib/udev/rules.d/60-x.rules", "file"), "a.yaml")
    merged.policy(policy("other", "/lib/udev/rules.d/60-x.rules", "lines"), "b.yaml")
    result = udev_drift("check", "--root", merged.root)
    assert result.status == 2 and "is owned whole (ensure: file) by policy whole" in result.err


def test_two_names_of_distinct_files_do_not_conflict(tree: HostTree, udev_drift: Run) -> None:
    # Without the link, /lib and /usr/lib are two directories (udev reads both).
    tree.policy(policy("keep", "/lib/udev/rules.d/60-x.rules", "block"), "a.yaml")
    tree.policy(policy("drop", "/usr/lib/udev/rules.d/60-x.rules", "absent"), "b.yaml")
    assert udev_drift("check", "--root", tree.root).status == 1


def test_a_conflict_is_found_when_the_policies_come_from_the_cache(merged: HostTree, udev_drift: Run,
                                                                   tmp_path: Path) -> None:
    # Validated and cached before the link appeared: the conflict is judged on the host as it is.
    lib = tmp_path / "host/lib"
    lib.unlink()
    (tmp_path / "host/lib/udev/rules.d").mkdir(parents=True)
    merged.policy(policy("keep", "/lib/udev/rules.d/60-x.rules", "block"), "a.yaml")
    merged.policy(policy("drop", "/usr/lib/udev/rules.d/60-x.rules", "absent"), "b.yaml")
    assert udev_drift("check", "--root", merged.root, "--repair").status == 0
    (tmp_path / "host/lib/udev/rules.d/60-x.rules").unlink()
    (tmp_path / "host/lib/udev/rules.d").rmdir()
    (tmp_path / "host/lib/udev").rmdir()
    lib.rmdir()
    lib.symlink_to("usr/lib")
    result = udev_drift("check", "--root", merged.root)
    assert result.status == 2 and "the same file as" in result.err


@pytest.mark.parametrize(("ensure", "flips_allowed"), [("lines", 1), ("block", 2)])
def test_a_repair_that_would_undo_the_last_one_stops_and_names_both(tree: HostTree, udev_drift: Run,
                                                                   tmp_path: Path, ensure: str,
                                                                   flips_allowed: int) -> None:
    # Two policy sets that disagree, each used by its own service: each repair would put
    # back what the other wrote, for ever. (A block leaves its empty markers behind when
    # its rule is removed: the flip is exact from the second round on.)
    rules = "/etc/udev/rules.d/60-x.rules"
    tree.write(rules, "# vendor\n")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "p.yaml").write_text(policy("keep", rules, ensure))
    (second / "p.yaml").write_text(policy("drop", rules, "absent"))
    turns = [first, second] * 3
    for number, turn in enumerate(turns):
        before = tree.read(rules)
        result = udev_drift("check", "--root", tree.root, "--repair", turn)
        if number < flips_allowed:
            assert result.status == 0 and tree.read(rules) != before, result.out
            continue
        assert result.status == 1, result.out
        assert tree.read(rules) == before, "the file was flipped back"
        assert "would undo the repair the last run made" in result.out
        mine, theirs = ("keep", "drop") if turn == first else ("drop", "keep")
        assert f"policy {theirs} (rules[0])" in result.out and f"policy {mine} (rules[0])" in result.out
        break
    else:
        pytest.fail("the file flipped on every run")


def test_a_repair_after_someone_else_reverted_the_file_is_no_undo(tree: HostTree, udev_drift: Run) -> None:
    rules = "/etc/udev/rules.d/60-x.rules"
    tree.write(rules, "# vendor\n")
    tree.policy(policy("keep", rules, "block"))
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    tree.write(rules, "# vendor\n")  # a package update put its file back
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    assert RULE in tree.read(rules)
