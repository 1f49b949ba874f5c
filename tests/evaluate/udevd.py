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
from collections.abc import Iterator, Mapping, Sequence
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
    # each set starts as at boot: no database entry, no link the set before left (its
    # links and tags would otherwise decide this set's answers: a "t" link of the last
    # set kept "t/a/x" from being made, once, and hypothesis could not replay it)
    for d in $DEVICES; do rm -f /run/udev/data/b$(cat /sys/block/$d/dev); done
    rm -rf /run/udev/links /run/udev/tags
    find /dev -mindepth 1 -type l ! -path '/dev/block/*' -delete
    find /dev -mindepth 1 -depth -type d -empty ! -path /dev/block -delete
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


class Oracle:
    """A bash loop in a private mount namespace, fed a rule set's directory (and what to do)
    a line at a time; it answers "@@ready" once, then for each set a report in sections
    ("@@NAME [DEVICE [WORD]]" opens one) that "@@done" ends. Udevd and udevadm 219's
    Udevadm219 differ in their script and in the sections they read."""

    name = "the namespace"

    def __init__(self, prefix: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        for folder in ("rules", "empty"):
            (self.tmp / folder).mkdir()
        self.count = 0

    def _start(self, script: str, env: Mapping[str, str]) -> None:
        env = dict(os.environ, RULES=str(self.tmp / "rules"), EMPTY=str(self.tmp / "empty"),
                   DEVICES=" ".join(DEVICES), LC_ALL="C", **env)
        self.process = subprocess.Popen(
            ["timeout", "--kill-after=10", "3600", "unshare", "--mount", "--propagation", "private",
             "bash", "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            errors="surrogateescape", env=env)  # fmt: skip
        line = self._readline()
        if line != "@@ready":
            self.close()
            pytest.fail(f"{self.name} did not start: {line!r}")

    def _readline(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ended")
        return line.rstrip("\n")

    def _write_set(self, files: Mapping[str, str], then: str) -> Path:
        """The set's files in a directory of their own, named to the loop with `then`."""
        self.count += 1
        set_dir = self.tmp / f"set-{self.count}"
        set_dir.mkdir()
        for name, text in files.items():
            (set_dir / name).write_bytes(text.encode("utf-8", "surrogateescape"))
        assert self.process.stdin is not None
        self.process.stdin.write(f"{set_dir} {then}\n")
        self.process.stdin.flush()
        return set_dir

    def _report(self) -> Iterator[tuple[list[str], str | None]]:
        """(the words of the section's "@@" line, None) as a section opens, then
        (those words, the line) for each of its lines, up to "@@done"."""
        words = [""]
        while (line := self._readline()) != "@@done":
            if line.startswith("@@"):
                words = line[2:].split(" ")
                yield words, None
            else:
                yield words, line

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()  # our own process, by its object
            self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def device_line(section: str, current: str, line: str, devices: Mapping[str, DeviceResult],
                dev_links: dict[str, str], current_tags: str = "Q") -> None:
    """A line of the sections both oracles report: a device's database entry (`current_tags`:
    the kind of line that holds its current tags), its attributes, the links under /dev."""
    if section == "db":
        _db_line(devices[current], line, current_tags)
    elif section == "attrs":
        key, _, value = line.partition("=")
        devices[current].attributes[key] = value
    elif section == "links":
        link, _, target = line.partition(" ")
        dev_links[link] = target


class Udevd(Oracle):
    """One udevd in one namespace, fed rule sets one after another."""

    name = "the udevd namespace"

    def __init__(self) -> None:
        super().__init__("udev-drift-eval-")
        self._start(SCRIPT, {"UDEVD": UDEVD})

    # other sessions' events on loop6/loop7 are waited out for about two minutes (a run
    # alone, as in CI, sees none; more would only make a real failure slow to say so)
    def run(self, files: Mapping[str, str], tries: int = 60, guard: bool = True,
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
        set_dir = self._write_set(read, "remove" if remove else "change" if change else "add")
        at_add = {d: DeviceResult() for d in DEVICES}
        at_change = {d: DeviceResult() for d in DEVICES}
        at_remove = {d: DeviceResult() for d in DEVICES}
        links_at_add: dict[str, str] = {}
        links_at_change: dict[str, str] = {}
        links_at_remove: dict[str, str] = {}
        # "@@change-db sdX" is the change event's "@@db sdX"
        phases = {"change": (at_change, links_at_change), "remove": (at_remove, links_at_remove)}
        for words, line in self._report():
            phase, _, section = words[0].rpartition("-")
            devices, dev_links = phases.get(phase, (at_add, links_at_add))
            current = words[1] if len(words) > 1 else ""
            if line is None:
                if section == "uuid":
                    devices[current].uuid = words[2] if len(words) > 2 else ""
            elif section == "ran":
                devices[current].ran.add(line)
            elif section == "again":
                devices[current].again = line
            else:
                device_line(section, current, line, devices, dev_links)
        shutil.rmtree(set_dir)
        if not change:
            return Outcome(read, at_add, links_at_add)
        return Outcome(read, at_add, links_at_add, at_change, links_at_change, at_remove if remove else None)

def _db_line(result: DeviceResult, line: str, current_tags: str = "Q") -> None:
    """udev 252's database: S: links, L: priority, E: properties, Q: current tags, G: every
    tag; udev 219's has no Q: and its G: lines are the current tags."""
    kind, _, value = line.partition(":")
    if kind == "S":
        result.links.add(value)
    elif kind == "E":
        key, _, val = value.partition("=")
        result.properties[key] = val
    elif kind == current_tags:
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
