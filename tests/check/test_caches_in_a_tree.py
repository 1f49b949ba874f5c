"""A tree checked with --root may be an image someone else made: its files, the caches
in its state directory included, are root's after it is unpacked, and hold whatever its
maker wrote. Its maker knows everything a cache key is made of (the rules, the policies,
the devices, the tool's version and code, even the path it will be checked at), but not
the machine and boot that check it. A cache in a tree is replayed only when it was
written during this boot of this machine: an image's planted answers are a miss."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from checker.check.verdicts import VERDICT_CACHE_NAME
from checker.policy.cache import CACHE_NAME
from tests.check.test_verdict_cache import HARMLESS, RESETS, VENDOR, seed
from tests.conftest import HostTree, Result

Run = Callable[..., Result]
STATE = "/var/lib/udev-drift"
ELSEWHERE = "0123456789abcdef0123456789abcdef"  # the image maker's machine, another boot


def plant(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """The cache as an image's maker would leave it: written elsewhere, root's, 0600."""
    document = json.loads(path.read_text())
    change(document)
    document["origin"] = ELSEWHERE
    path.write_text(json.dumps(document))
    os.chmod(path, 0o600)


def test_planted_answers_in_an_images_verdict_cache_are_not_replayed(tree: HostTree, udev_drift: Run) -> None:
    seed(tree)
    tree.path(STATE).mkdir(parents=True, mode=0o700)  # an installed image: a check keeps its caches
    harmless = udev_drift("check", "--root", tree.root, "--format", "json")
    assert harmless.status == 0
    cache = tree.path(f"{STATE}/{VERDICT_CACHE_NAME}")
    harmless_answers = list(json.loads(cache.read_text())["entries"].values())[0]
    tree.write(VENDOR, RESETS, dedent=False)  # the image's rules take the link away
    honest = udev_drift("check", "--root", tree.root, "--format", "json")
    assert honest.status == 1

    def lie(document: dict[str, Any]) -> None:
        for key in document["entries"]:
            document["entries"][key] = harmless_answers

    plant(cache, lie)
    again = udev_drift("check", "--root", tree.root, "--format", "json")
    assert (again.status, again.out) == (honest.status, honest.out)
    assert HARMLESS != RESETS


def test_a_planted_policy_cache_cannot_swap_the_policies_given_from_outside_the_tree(
        tree: HostTree, udev_drift: Run, tmp_path: Path) -> None:
    # The admin checks an image against the host's policy; the image's cache says the
    # policy wants something else (here, a program run as root on every event).
    policy = seed(tree)
    outside = tmp_path / "policies" / policy.name
    outside.parent.mkdir(mode=0o755)
    outside.write_text(policy.read_text())
    policy.unlink()
    tree.path(STATE).mkdir(parents=True, mode=0o700)
    assert udev_drift("check", "--root", tree.root, outside, "--repair").status == 0

    def other_rules(document: dict[str, Any]) -> None:
        for entry in document["policies"].values():
            for rule in entry["desired"]["rules"]:
                rule["content"] = 'KERNEL=="sd*", RUN+="/tmp/evil"\n'

    plant(tree.path(f"{STATE}/{CACHE_NAME}"), other_rules)
    result = udev_drift("check", "--root", tree.root, outside, "--format", "json")
    assert result.status == 0 and "evil" not in result.out


def test_a_cache_written_by_this_boot_is_replayed(tree: HostTree, udev_drift: Run) -> None:
    seed(tree)
    tree.path(STATE).mkdir(parents=True, mode=0o700)
    first = udev_drift("check", "--root", tree.root, "--format", "json", "--debug")
    again = udev_drift("check", "--root", tree.root, "--format", "json", "--debug")
    assert first.out == again.out
    assert "taken from" in again.err and "taken from" not in first.err
