"""adopt on every file of Debian's rules corpus, edited as an admin would edit it.

Each vendor file goes to /usr/lib/udev/rules.d of a tree and an edited copy to
/etc/udev/rules.d: one or two rules added (in one place, or in two), and vendor rules
re-spaced, re-quoted, reordered or split over lines in ways udev reads identically.
adopt must find exactly the added rules (no vendor rule taken for an addition, none
missed); the adopted policy's first repair adds nothing but the two marker lines; after
it `check` is compliant; taking the added rules away and repairing gives the adopted
file back byte for byte (with its markers); a second adopt prints the same policy.
"""

from __future__ import annotations

import difflib
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from checker.policy.expand import substitute
from checker.rules.parser import parse_rules
from tests.adopt.corpus_edits import Edited, corpus_files, edit
from tests.conftest import HostTree, Result

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".cache" / "rules-corpus"
FILES = corpus_files(CORPUS) if CORPUS.is_dir() else []
SKIP = "bash scripts/fetch-rules-corpus: the corpus is not in .cache/rules-corpus"
POLICY = "/etc/udev-drift/policies.d/adopted.yaml"

Run = Callable[..., Result]


def adopted_rules(policy_text: str, ensure: set[str]) -> list[str]:
    """Canonical forms of the rules the policy's entries of these modes hold, expanded."""
    policy = yaml.safe_load(policy_text)
    found = []
    for entry in policy.get("rules", []):
        if entry["ensure"] not in ensure:
            continue
        for item in entry.get("for_each") or [None]:
            text = substitute(entry["content"], None if item is None else str(item))
            found += [rule.canonical for rule in parse_rules(text).rules]
    return found


def place(tree: HostTree, path: Path, seed: int, *, places: int) -> tuple[str, Edited]:
    name = path.name
    vendor = path.read_bytes().decode("utf-8", "surrogateescape")
    edited = edit(vendor, seed, places=places, reformat=True)
    tree.write(f"/usr/lib/udev/rules.d/{name}", vendor, dedent=False)
    tree.write(f"/etc/udev/rules.d/{name}", edited.text, dedent=False)
    return f"/etc/udev/rules.d/{name}", edited


def marker_only(before: str, after: str) -> list[str]:
    """The lines a change added, failing if it removed or changed any."""
    added = []
    for line in difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)):
        assert not line.startswith("- "), f"the repair removed or changed {line!r}"
        if line.startswith("+ "):
            added.append(line[2:])
    return added


@pytest.mark.skipif(not FILES, reason=SKIP)
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_rules_added_in_one_place_are_adopted_as_a_block_that_the_repair_only_marks(
        path: Path, tree: HostTree, udev_drift: Run) -> None:
    rules, edited = place(tree, path, zlib.crc32(path.name.encode()), places=1)
    root = ("--root", tree.root)
    first = udev_drift("adopt", *root)
    assert first.status == 0, first.err
    assert sorted(adopted_rules(first.out, {"block"})) == sorted(edited.added)
    assert adopted_rules(first.out, {"lines", "file", "absent"}) == []
    # No reformatted vendor rule is taken for a change or a deletion either.
    assert "vendor rule" not in first.err, first.err
    assert udev_drift("adopt", *root, "--include-removals").out == first.out
    assert udev_drift("adopt", *root).out == first.out  # the same host, the same policy

    tree.write(POLICY, first.out, dedent=False)
    check = ("--root", tree.root, "--skip-policy-permission-check")
    assert udev_drift("check", *check, "--repair").status == 0
    marked = tree.read(rules)
    assert marker_only(edited.text, marked) == ["# BEGIN udev-drift adopted\n", "# END udev-drift adopted\n"]
    assert udev_drift("check", *check).status == 0
    # Protected now: adopting again finds nothing new.
    assert udev_drift("adopt", *root).status == 1

    # Round trip: the added rules taken away, the repair puts back exactly what was there.
    lines = marked.splitlines(keepends=True)
    begin = lines.index("# BEGIN udev-drift adopted\n")
    end = lines.index("# END udev-drift adopted\n")
    tree.write(rules, "".join(lines[:begin + 1] + lines[end:]), dedent=False)
    assert udev_drift("check", *check).status == 1
    assert udev_drift("check", *check, "--repair").status == 0
    assert tree.read(rules) == marked


@pytest.mark.skipif(not FILES, reason=SKIP)
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_rules_added_in_two_places_are_adopted_as_lines_and_nothing_is_rewritten(
        path: Path, tree: HostTree, udev_drift: Run) -> None:
    rules, edited = place(tree, path, zlib.crc32(path.name.encode()) + 1, places=2)
    root = ("--root", tree.root)
    first = udev_drift("adopt", *root)
    assert first.status == 0, first.err
    kinds = {"block"} if len(edited.added_lines) == 1 else {"lines"}
    assert sorted(adopted_rules(first.out, kinds)) == sorted(edited.added)
    assert adopted_rules(first.out, {"block", "lines", "file", "absent"} - kinds) == []
    assert "vendor rule" not in first.err, first.err
    assert udev_drift("adopt", *root).out == first.out

    tree.write(POLICY, first.out, dedent=False)
    check = ("--root", tree.root, "--skip-policy-permission-check")
    assert udev_drift("check", *check, "--repair").status == 0
    if kinds == {"lines"}:
        assert tree.read(rules) == edited.text  # already as the policy wants
    assert udev_drift("check", *check).status == 0
