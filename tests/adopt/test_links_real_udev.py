"""The links adopt reads off a rule are the links the real udevd 252 makes from it.

`udevadm test --action=add` runs the rules on a real block device of this machine (a
loop device) inside a private mount namespace, with a temporary directory bound over the
rules directories and a tmpfs over /dev and /run: the host's rules and /dev are never
touched. It logs each link it makes; adopt must name the same ones.
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from pathlib import Path

import pytest

from checker.adopt.links import links_of
from checker.rules.parsed import parse_rules
from tests.namespace import require_namespaces, udevadm_test

DEVICE = "/sys/class/block/loop0"
MADE = re.compile(r"Successfully created symlink '([^']+)' to '/dev/loop0'")
RULES = (
    'ACTION=="add", KERNEL=="loop0", SYMLINK+="xapi/block/%k", RUN+="/bin/true %k"\n'
    'KERNEL=="loop0", SYMLINK+="/extra//%k vm/$kernel-disk"\n'
    'KERNEL=="loop0", SUBSYSTEM=="block", SYMLINK+="by-name/local-%k"\n'
)


def udev_links(rules: str) -> set[str]:
    require_namespaces()
    if not Path(DEVICE).exists():
        pytest.skip(f"needs {DEVICE} for udevadm test")
    with tempfile.TemporaryDirectory(prefix="udev-drift-") as tmp:
        Path(tmp, "61-adopted.rules").write_text(rules)
        done = udevadm_test(tmp, DEVICE)
    made = {posixpath.normpath(link) for link in MADE.findall(done.stdout + done.stderr)}
    assert made, done.stdout + done.stderr
    return made - {"/dev/block/7:0"}  # udev's own link by device number


def test_the_links_adopt_names_are_the_links_udev_makes() -> None:
    ours: set[str] = set()
    for rule in parse_rules(RULES).rules:
        ours.update(link for link, kernel in links_of(rule, []))
    assert ours == udev_links(RULES) == {"/dev/xapi/block/loop0", "/dev/extra/loop0", "/dev/vm/loop0-disk",
                                         "/dev/by-name/local-loop0"}
