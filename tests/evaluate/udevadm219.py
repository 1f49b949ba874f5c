"""udev 219 (RHEL 7, the dom0s of XenServer 8 and XCP-ng 8) as an oracle: its own
`udevadm test`, built from the vendored source (`.ci/run` builds it into
.cache/udevadm-219; UDEVADM_219 names another), in one private mount namespace.

For each rule set the bash loop inside `unshare --mount --propagation private` gets, it
copies the files into a directory bound over /etc/udev/rules.d (the other rules
directories and /etc/udev/udev.conf are bound to empty ones), gives /dev and /run fresh
tmpfs mounts, runs `udevadm test --action=add` on each loop device in turn, and prints
each device's database entry, the `run:` lines of its test and every link under /dev.

`udevadm test` 219 really makes the links and writes the database (so the second device
sees the first one's claims on a link, as udevd would), and it lists the RUN commands it
would run, expanded as udevd 219 expands them (after the last rule), without running
them: RUN answers are compared with that list. It runs PROGRAM and IMPORT{program}.
A test that does not end in 1.5 s (one takes 40 ms) is killed and its set left out, counted: udev 219
loops for ever making a link whose name ends in '/' (`SYMLINK+="t/$env{UNSET}"`: node_symlink()
retries symlink() while it fails with ENOENT, and mkdir_parents() never makes the
directory it wants), so on a real host that event hangs its worker until udevd kills it.
Its builtins would read this machine's hwdb: no rule set here uses them. No other
session's events reach it (no daemon), so no guard is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.evaluate.udevd import DEVICES, DeviceResult, Oracle, Outcome, Tally, device_line

REPO = Path(__file__).resolve().parents[2]
CACHED = REPO / ".cache" / "udevadm-219" / "udevadm"


def udevadm_219() -> str | None:
    """The udevadm 219 binary: $UDEVADM_219, else the one `.ci/run` built into .cache."""
    named = os.environ.get("UDEVADM_219")
    if named:
        return named if os.access(named, os.X_OK) else None
    return str(CACHED) if os.access(CACHED, os.X_OK) else None


def why_not_here() -> str:
    if os.geteuid() != 0:
        return "needs root: udevadm test 219 makes links, so only in a private mount namespace"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux)"
    binary = udevadm_219()
    if binary is None:
        return ("needs udevadm 219: run `bash ../shared/tools/build-udevadm-219 .cache/udevadm-219` "
                "(as .ci/run does) or set UDEVADM_219")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    if version != "219":
        return f"{binary} is udevadm {version or '?'}, not 219"
    for device in DEVICES:
        if not os.path.exists(f"/sys/block/{device}"):
            return f"needs the kernel's {device} (modprobe loop max_loop=8)"
    return ""


def skip_unless_here() -> None:
    """Skip, with the reason, where udev 219 cannot run; in CI (UDEV_DRIFT_REQUIRE_UDEV_219=1,
    set by .ci/run after building it) fail instead, so that the 219 tests never silently
    stop running."""
    reason = why_not_here()
    if not reason:
        return
    if os.environ.get("UDEV_DRIFT_REQUIRE_UDEV_219") == "1":
        pytest.fail(f"UDEV_DRIFT_REQUIRE_UDEV_219 is set, but: {reason}")
    pytest.skip(reason)


SCRIPT = r"""
set -u
mount --bind "$RULES" /etc/udev/rules.d
mount --bind "$EMPTY" /usr/lib/udev/rules.d
for dir in /lib/udev/rules.d /usr/local/lib/udev/rules.d; do
    if [ -d "$dir" ] && ! [ "$dir" -ef /usr/lib/udev/rules.d ]; then mount --bind "$EMPTY" "$dir"; fi
done
mount --bind "$EMPTY_FILE" /etc/udev/udev.conf
fresh() {
    mountpoint -q /run && umount -l /run
    mount -t tmpfs tmpfs /run
    mkdir -p /run/udev/rules.d
    mountpoint -q /dev && umount -l /dev
    mount -t tmpfs -o mode=755 tmpfs /dev
    mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/urandom c 1 9
    mknod /dev/kmsg c 1 11
    for d in $DEVICES; do mknod /dev/$d b $(cut -d: -f1 /sys/block/$d/dev) $(cut -d: -f2 /sys/block/$d/dev); done
}
echo "@@ready"
while read -r set_dir action; do
    find "$RULES" -mindepth 1 -delete
    cp "$set_dir"/* "$RULES"/ 2>/dev/null
    fresh
    for d in $DEVICES; do
        for a in $action; do
            echo "@@test $d $a"
            timeout -s KILL 1.5 "$UDEVADM" test --action=$a /sys/block/$d >/run/test.out 2>/dev/null
            [ $? -eq 137 ] && echo "@@hung $d"
            grep "^run: '" /run/test.out || true
        done
    done
    for d in $DEVICES; do
        echo "@@db $d"; cat /run/udev/data/b$(cat /sys/block/$d/dev) 2>/dev/null
        echo "@@attrs $d"
        for a in size ro removable range ext_range capability hidden diskseq dev; do
            printf '%s=%s\n' "$a" "$(cat /sys/block/$d/$a)"
        done
    done
    echo "@@links"
    find /dev -path /dev/block -prune -o -type l -printf '%P %l\n'
    echo "@@done"
done
"""


class Udevadm219(Oracle):
    """One namespace fed rule sets one after another; `run()` as Udevd.run() answers."""

    name = "the udevadm 219 namespace"

    def __init__(self) -> None:
        binary = udevadm_219()
        assert binary is not None, why_not_here()
        super().__init__("udev-drift-219-")
        (self.tmp / "empty.conf").write_text("")
        self.hung: tuple[str, ...] = ()  # devices whose last test never ended (killed after 1.5 s)
        self._start(SCRIPT, {"EMPTY_FILE": str(self.tmp / "empty.conf"), "UDEVADM": binary})

    def run(self, files: Mapping[str, str], actions: Sequence[str] = ("add",)) -> Outcome:
        """What udev 219 makes of this rule set for each device after `actions` (each
        device's events in turn, in one database: add then change removes stale links).
        `ran` holds the RUN commands of the last action, as udevd 219 would run them."""
        set_dir = self._write_set(files, " ".join(actions))
        devices = {d: DeviceResult() for d in DEVICES}
        dev_links: dict[str, str] = {}
        hung: list[str] = []
        for words, line in self._report():
            section, current = words[0], words[1] if len(words) > 1 else ""
            if line is None:
                if section == "test":
                    devices[current].ran = set()  # the last action's list
                elif section == "hung":
                    hung.append(current)
            elif section == "test":
                devices[current].ran.add(line[len("run: '"):-1])
            else:  # udev 219's database has no Q: lines; its G: lines are the current tags
                device_line(section, current, line, devices, dev_links, current_tags="G")
        shutil.rmtree(set_dir)
        self.hung = tuple(hung)
        return Outcome(dict(files), devices, dev_links)


def run_sets_219(sets: Sequence[Mapping[str, str]], actions: Sequence[str] = ("add",)) -> list[Outcome]:
    oracle = Udevadm219()
    try:
        return [oracle.run(files, actions) for files in sets]
    finally:
        oracle.close()


class Tally219(Tally):
    """The 219 differential's figures; answers udevadm test 219 cannot give are counted."""

    def __init__(self) -> None:
        super().__init__()
        self.left_out: dict[str, int] = {}

    def leave_out(self, why: str) -> None:
        self.left_out[why] = self.left_out.get(why, 0) + 1

    def summary(self) -> str:
        total = self.counts["decided"] + self.counts["unknown"]
        share = self.counts["unknown"] / total if total else 0.0
        left = "; ".join(f"{n} left out: {why}" for why, n in sorted(self.left_out.items())) or "none left out"
        return (f"differential vs udevadm test 219: {self.sets} rule sets, {total} answers, "
                f"{self.counts['decided']} decided (100% agree), {self.counts['unknown']} "
                f"unknown ({share:.1%}); {left}")


class SameSetsTally(Tally):
    def summary(self) -> str:
        return super().summary().replace("differential vs udevd 252", "differential vs udevd 252, "
                                         "on the sets given to udev 219 too")


TALLY_219 = Tally219()
TALLY_252_SAME_SETS = SameSetsTally()
