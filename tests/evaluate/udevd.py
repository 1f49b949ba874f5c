"""The real systemd-udevd 252 as an oracle: one private mount namespace, many rule sets.

A bash loop runs inside `unshare --mount --propagation private` (tmpfs /run and /dev,
a test directory bound over /usr/lib/udev/rules.d and an empty one over the other rules
directories, so the host's rules, database and /dev are never touched). For each rule set
it is given, it copies the files into the rules directory, reloads udevd, triggers an
"add" for each loop device in turn (with a UUID, waiting for it), and prints each device's
database entry and every link under /dev.

Other sessions on this machine trigger devices too, and their events reach this udevd.
Every file given is wrapped in a GOTO that skips it for any other device (so no rule set
makes links for them), and a marker rule copies the trigger's SYNTH_UUID into T_UUID: a
result is taken only when each device's database holds the UUID of our own trigger,
before the links were read and after every event in flight then was done, and retried
otherwise. `Outcome.files` are the
files exactly as udevd read them, for the evaluator to read the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

UDEVD = "/lib/systemd/systemd-udevd"
DEVICES = ("loop6", "loop7")  # trigger order: the last one wins a tie (udev-node.c)
MARKER_FILE = "99-zz-marker.rules"
MARKER = 'ENV{T_UUID}="$env{SYNTH_UUID}"\n'
GUARD_LABEL = "zz_not_ours"


def as_read(files: Mapping[str, str], guard: bool = True) -> dict[str, str]:
    """The rules files as udevd gets them: each skipped for devices other than ours
    (unless `guard` is off: for files whose every rule names our devices)."""
    with_marker = {**files, MARKER_FILE: MARKER}
    if not guard:
        return with_marker
    skip = f'KERNEL!="{"|".join(DEVICES)}", GOTO="{GUARD_LABEL}"\n'
    return {name: skip + text + f'LABEL="{GUARD_LABEL}"\n' for name, text in with_marker.items()}

SCRIPT = r"""
set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/udev/rules.d
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/urandom c 1 9
mknod /dev/kmsg c 1 11
for d in $DEVICES; do mknod /dev/$d b $(cut -d: -f1 /sys/block/$d/dev) $(cut -d: -f2 /sys/block/$d/dev); done
mount --bind "$RULES" /usr/lib/udev/rules.d
mount --bind "$EMPTY" /etc/udev/rules.d
for dir in /usr/local/lib/udev/rules.d /lib/udev/rules.d; do
    if [ -d "$dir" ] && ! [ "$dir" -ef /usr/lib/udev/rules.d ]; then mount --bind "$EMPTY" "$dir"; fi
done
"$UDEVD" --daemon || exit 3
udevadm settle --timeout=10
echo "@@ready"
event() {  # $1: the action; $2: the prefix of the sections printed
    rm -f /run/ran.*
    for d in $DEVICES; do
        echo "@@${2}uuid $d $(udevadm trigger --action=$1 --uuid --settle /sys/block/$d | head -n1)"
    done
    udevadm settle --timeout=10
    for d in $DEVICES; do
        echo "@@${2}db $d"; cat /run/udev/data/b$(cat /sys/block/$d/dev) 2>/dev/null
        echo "@@${2}attrs $d"
        for a in size ro removable range ext_range capability hidden diskseq dev; do
            printf '%s=%s\n' "$a" "$(cat /sys/block/$d/$a)"
        done
    done
    for d in $DEVICES; do echo "@@${2}ran $d"; cat /run/ran.$d 2>/dev/null; done
    echo "@@${2}links"
    find /dev -path /dev/block -prune -o -type l -printf '%P %l\n'
    # an event of another session may have been in flight (links made, database not yet
    # written): wait for it, so that its UUID shows below and the result is retried
    udevadm settle --timeout=10
    for d in $DEVICES; do
        echo "@@${2}again $d"; grep '^E:T_UUID=' /run/udev/data/b$(cat /sys/block/$d/dev) 2>/dev/null
    done
}
while read -r set_dir then; do
    find "$RULES" -mindepth 1 -delete
    cp "$set_dir"/* "$RULES"/ 2>/dev/null
    udevadm control --reload
    event add ""
    # then the same devices' next change (udevadm trigger's default, a watched disk closed
    # after a write): udev recomputes the links from the rules and removes the others
    if [ "$then" != add ]; then event change "change-"; fi
    # and, when asked, its remove (the rules see the database; the links all go): what
    # the programs wrote is what counts, the database is gone
    if [ "$then" = remove ]; then event remove "remove-"; fi
    echo "@@done"
done
udevadm control --exit
"""


def why_not_here() -> str:
    if os.geteuid() != 0:
        return "needs root: a private mount namespace with its own udevd"
    if not (os.path.exists(UDEVD) and shutil.which("udevadm") and shutil.which("unshare")):
        return "needs the real udev (Debian package udev) and unshare"
    version = subprocess.run(["udevadm", "--version"], capture_output=True, text=True).stdout.strip()
    if version != "252":
        return f"needs udev 252 (the semantics the evaluator follows), found {version or 'none'}"
    for device in DEVICES:
        if not os.path.exists(f"/sys/block/{device}"):
            return f"needs the kernel's {device} (modprobe loop max_loop=8)"
    return ""


@dataclass
class DeviceResult:
    links: set[str] = field(default_factory=set)  # S: lines
    properties: dict[str, str] = field(default_factory=dict)  # E: lines
    current_tags: set[str] = field(default_factory=set)  # Q: lines
    tags: set[str] = field(default_factory=set)  # G: lines (every tag, kept across events)
    priority: int = 0  # L: line
    attributes: dict[str, str] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)  # what the RUN programs wrote
    uuid: str = ""
    again: str = ""


@dataclass
class Outcome:
    files: dict[str, str]  # the rules files as udevd read them
    devices: dict[str, DeviceResult]
    dev_links: dict[str, str]  # link under /dev -> its target, as udevd made it
    # after the "add", the same devices' "change" (when asked for): their database entries,
    # what their programs wrote, the links under /dev
    changed: dict[str, DeviceResult] | None = None
    changed_links: dict[str, str] | None = None
    removed: dict[str, DeviceResult] | None = None  # after the change, a remove (when asked for)


def _clean(devices: Mapping[str, DeviceResult]) -> bool:
    """Each device's database holds the UUID of our own trigger, before and after the
    events then in flight were done."""
    return all(r.uuid and f"E:T_UUID={r.uuid}" == r.again and r.properties.get("T_UUID") == r.uuid
               for r in devices.values())


class Udevd:
    """One udevd in one namespace, fed rule sets one after another."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="udev-drift-eval-"))
        (self.tmp / "rules").mkdir()
        (self.tmp / "empty").mkdir()
        self.count = 0
        env = dict(os.environ, RULES=str(self.tmp / "rules"), EMPTY=str(self.tmp / "empty"),
                   UDEVD=UDEVD, DEVICES=" ".join(DEVICES), LC_ALL="C")
        self.process = subprocess.Popen(
            ["timeout", "--kill-after=10", "3600", "unshare", "--mount", "--propagation", "private",
             "bash", "-c", SCRIPT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=env)  # fmt: skip
        line = self._readline()
        if line != "@@ready":
            self.close()
            pytest.fail(f"udevd did not start in the namespace: {line!r}")

    def _readline(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the udevd namespace ended")
        return line.rstrip("\n")

    def run(self, files: Mapping[str, str], tries: int = 300, guard: bool = True,
            change: bool = False, remove: bool = False) -> Outcome:
        """What udevd makes of this rule set (file name -> text) for each device (at "add",
        then at "change" when `change`, then at "remove" when `remove`)."""
        for attempt in range(tries):
            outcome = self._run_once(as_read(files, guard), change or remove, remove)
            if _clean(outcome.devices) and (outcome.changed is None or _clean(outcome.changed)):
                return outcome
            time.sleep(min(2.0, 0.1 * (attempt + 1)))  # another session is triggering: let it pass
        raise RuntimeError("other events kept reaching the loop devices; no clean result")

    def _run_once(self, read: dict[str, str], change: bool = False, remove: bool = False) -> Outcome:
        self.count += 1
        set_dir = self.tmp / f"set-{self.count}"
        set_dir.mkdir()
        for name, text in read.items():
            (set_dir / name).write_text(text)
        assert self.process.stdin is not None
        then = "remove" if remove else "change" if change else "add"
        self.process.stdin.write(f"{set_dir} {then}\n")
        self.process.stdin.flush()
        at_add = {d: DeviceResult() for d in DEVICES}
        at_change = {d: DeviceResult() for d in DEVICES}
        at_remove = {d: DeviceResult() for d in DEVICES}
        links_at_add: dict[str, str] = {}
        links_at_change: dict[str, str] = {}
        links_at_remove: dict[str, str] = {}
        devices, dev_links = at_add, links_at_add
        section, current = "", ""
        while True:
            line = self._readline()
            if line == "@@done":
                break
            if line.startswith("@@"):
                words = line[2:].split(" ")
                section = words[0]
                current = words[1] if len(words) > 1 else ""
                if section.startswith("change-"):
                    section = section.removeprefix("change-")
                    devices, dev_links = at_change, links_at_change
                elif section.startswith("remove-"):
                    section = section.removeprefix("remove-")
                    devices, dev_links = at_remove, links_at_remove
                else:
                    devices, dev_links = at_add, links_at_add
                if section == "uuid":
                    devices[current].uuid = words[2] if len(words) > 2 else ""
                continue
            if section == "db":
                _db_line(devices[current], line)
            elif section == "attrs":
                key, _, value = line.partition("=")
                devices[current].attributes[key] = value
            elif section == "ran":
                devices[current].ran.add(line)
            elif section == "links":
                link, _, target = line.partition(" ")
                dev_links[link] = target
            elif section == "again":
                devices[current].again = line
        shutil.rmtree(set_dir)
        if not change:
            return Outcome(read, at_add, links_at_add)
        return Outcome(read, at_add, links_at_add, at_change, links_at_change, at_remove if remove else None)

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()  # our own process, by its object
            self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _db_line(result: DeviceResult, line: str) -> None:
    kind, _, value = line.partition(":")
    if kind == "S":
        result.links.add(value)
    elif kind == "E":
        key, _, val = value.partition("=")
        result.properties[key] = val
    elif kind == "Q":
        result.current_tags.add(value)
    elif kind == "G":
        result.tags.add(value)
    elif kind == "L":
        result.priority = int(value)


def run_sets(sets: Sequence[Mapping[str, str]], guard: bool = True, change: bool = False,
             remove: bool = False) -> list[Outcome]:
    """Each rule set through one udevd (for tests that need a few cases only)."""
    udevd = Udevd()
    try:
        return [udevd.run(files, guard=guard, change=change, remove=remove) for files in sets]
    finally:
        udevd.close()


# The differential test's figures, shown in the run's summary (conftest.py).
class Tally:
    def __init__(self) -> None:
        self.sets = 0
        self.counts: Counter[str] = Counter()
        # by kind of answer: "add", "add run" (a program in the run list), "change",
        # "change run", "removed" (a link made at add that the change took away, decided),
        # and "add/change competing claims" (links more than one device may claim: who owns
        # them)
        self.kinds: Counter[tuple[str, str]] = Counter()
        # check's verdict for each device the rules surely give a competed link (contest():
        # kept, lost, tie, unknown, maybe); not among the answers above (the link's owner is)
        self.verdicts: Counter[str] = Counter()

    def note(self, decided: bool, kind: str = "add") -> None:
        word = "decided" if decided else "unknown"
        self.counts[word] += 1
        self.kinds[(kind, word)] += 1

    def summary(self) -> str:
        total = self.counts["decided"] + self.counts["unknown"]
        share = self.counts["unknown"] / total if total else 0.0
        said = (f"differential vs udevd 252: {self.sets} rule sets, {total} answers, "
                f"{self.counts['decided']} decided (100% agree), {self.counts['unknown']} "
                f"unknown ({share:.1%})")
        kinds = []
        for kind in dict.fromkeys(k for k, _ in self.kinds):
            decided, unknown = self.kinds[(kind, "decided")], self.kinds[(kind, "unknown")]
            kinds.append(f"{kind} {decided + unknown} ({unknown / max(1, decided + unknown):.1%} unknown)")
        said += "; by kind: " + ", ".join(kinds) if kinds else ""
        if self.verdicts:
            total = sum(self.verdicts.values())
            decided = self.verdicts["kept"] + self.verdicts["lost"]
            said += (f"; check's verdicts on competing claims: {total}, {decided} decided "
                     f"({self.verdicts['lost']} lost, {self.verdicts['kept']} kept: 100% agree), "
                     + ", ".join(f"{self.verdicts[v]} {v}" for v in ("tie", "unknown", "maybe")))
        return said


TALLY = Tally()
