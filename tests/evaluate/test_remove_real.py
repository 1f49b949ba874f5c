"""On "remove" udev reads the device's database before the rules run (systemd 252's
event_execute_rules_on_remove()): ENV== and SYMLINK== see what the last event left. The
real udevd 252 shows it on loop6; the evaluator decides it when the facts hold the
database, and says unknown when they do not."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri
from checker.observe.udev import device_facts
from tests.evaluate.udevd import UDEVD, why_not_here

pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")

RULES = """\
ACTION=="add", KERNEL=="loop6", ENV{T_X}="1", SYMLINK+="t/x"
ACTION=="remove", KERNEL=="loop6", ENV{T_X}=="1", RUN+="/bin/sh -c 'echo env >> /run/ran.%k'"
ACTION=="remove", KERNEL=="loop6", SYMLINK=="t/x", RUN+="/bin/sh -c 'echo link >> /run/ran.%k'"
ACTION=="remove", KERNEL=="loop6", RUN+="/bin/sh -c 'echo plain >> /run/ran.%k'"
"""
SCRIPT = r"""
set -eu
mount -t tmpfs tmpfs /run; mkdir -p /run/udev/rules.d
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/urandom c 1 9
mknod /dev/kmsg c 1 11; mknod /dev/loop6 b 7 6
mount --bind "$RULES" /usr/lib/udev/rules.d
mount --bind "$EMPTY" /etc/udev/rules.d
"$UDEVD" --daemon
trap 'udevadm control --exit' EXIT
udevadm settle --timeout=10
udevadm trigger --action=add --settle /sys/block/loop6
rm -f /run/ran.loop6
udevadm trigger --action=remove --settle /sys/block/loop6
udevadm settle --timeout=10
for _ in $(seq 25); do grep -qs plain /run/ran.loop6 && break; sleep 0.2; done  # RUN runs in order: plain is last
cat /run/ran.loop6 || true
udevadm trigger --action=add --settle /sys/block/loop6
"""


def test_remove_sees_the_database_in_udevd_and_in_the_evaluator() -> None:
    with tempfile.TemporaryDirectory(prefix="udev-drift-remove-") as tmp:
        rules, empty = Path(tmp, "rules"), Path(tmp, "empty")
        rules.mkdir()
        empty.mkdir()
        (rules / "50-t.rules").write_text(RULES)
        env = dict(os.environ, RULES=str(rules), EMPTY=str(empty), UDEVD=UDEVD, LC_ALL="C")
        done = subprocess.run(["timeout", "--kill-after=10", "120", "unshare", "--mount", "--propagation",
                               "private", "bash", "-c", SCRIPT],
                              capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"env", "link", "plain"}  # the real udevd
    ruleset = RuleSet.from_texts([("50-t.rules", RULES)])
    facts = device_facts("/sys/block/loop6", "remove")
    unknown = evaluate(ruleset, facts)
    commands = {word: f"/bin/sh -c 'echo {word} >> /run/ran.loop6'" for word in ("env", "link", "plain")}
    assert unknown.runs(commands["plain"]) is Tri.YES
    assert unknown.runs(commands["env"]) is Tri.UNKNOWN and unknown.runs(commands["link"]) is Tri.UNKNOWN
    from checker.records import replace

    known = evaluate(ruleset, replace(facts, db_properties={"T_X": "1"}, db_links=frozenset({"t/x"})))
    assert all(known.runs(command) is Tri.YES for command in commands.values())
