"""Differential test: the real udev 252 reads the same tricky files, and must agree with us.

Every case of rules_cases.py becomes one rules file. Inside a private mount namespace
(`unshare --mount --propagation private`) a temporary directory is bound over the rules
directories, and tmpfs over /run and /dev, so the host's rules, database and device nodes
are never touched; `udevadm test` loads the rules and logs every line it refuses. The
namespace, and with it every mount, ends with the command. Needs root and udev 252.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from rules_cases import ACCEPTED, DROPPED, FILE_CASES, WARNED

from checker.rules.model import Rule
from checker.rules.parsed import parse_rules
from tests.namespace import udevadm_test

DEVICE = "/sys/class/net/lo"  # every kept case starts with a match that fails for lo

# udev's messages for a line it drops; everything else it logs is a warning or a notice.
FATAL = re.compile(
    r"Invalid key/value pair|Invalid operator for |Invalid attribute for |Invalid key '"
    r"|Failed to parse |Invalid ENV attribute|Ignoring NAME=|Unknown builtin command"
    r"|Line is too long|The line takes no effect any more, dropping"
)
GOTO_IGNORED = "has no matching label, ignoring"  # the GOTO only: the rest of the rule stays
NO_EFFECT = "The line takes no effect, ignoring."
MESSAGE = re.compile(r"/usr/lib/udev/rules\.d/(?P<file>[^:\s]+\.rules):(?P<line>\d+):? (?P<text>.*)")
GAVE_UP = re.compile(r"Failed to read rules file /usr/lib/udev/rules\.d/(?P<file>[^,\s]+\.rules)")



def udev_version() -> str:
    try:
        done = subprocess.run(["udevadm", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def why_not_here() -> str:
    if os.geteuid() != 0:
        return "needs root to make a private mount namespace"
    if shutil.which("unshare") is None or shutil.which("timeout") is None:
        return "needs unshare and timeout (util-linux, coreutils)"
    version = udev_version()
    if version != "252":
        return f"needs udevadm 252 (the version the parser follows), found {version or 'none'}"
    if not Path(DEVICE).exists():
        return f"needs {DEVICE} for udevadm test"
    if not Path("/usr/lib/udev/rules.d").is_dir() or not Path("/etc/udev/rules.d").is_dir():
        return "needs /usr/lib/udev/rules.d and /etc/udev/rules.d to mount over"
    return ""


pytestmark = pytest.mark.skipif(bool(why_not_here()), reason=why_not_here() or "runs")


Cases = dict[str, str]  # file name -> text


def all_cases() -> Cases:
    cases: Cases = {}
    for index, text in enumerate(ACCEPTED):
        cases[f"10-accepted-{index:03d}.rules"] = text + "\n"
    for index, (text, _) in enumerate(WARNED):
        cases[f"20-warned-{index:03d}.rules"] = text + "\n"
    for index, (text, _) in enumerate(DROPPED):
        cases[f"30-dropped-{index:03d}.rules"] = text + "\n"
    for name, text, _, _, _ in FILE_CASES:
        cases[f"40-file-{name}.rules"] = text
    return cases


class UdevLog:
    """What `udevadm test` said about each file."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.read: set[str] = set()
        self.fatal: dict[str, set[int]] = {}
        self.no_effect: dict[str, set[int]] = {}
        self.goto_ignored: dict[str, set[int]] = {}
        self.gave_up: set[str] = set()
        for line in output.splitlines():
            self._note(line)

    def _note(self, line: str) -> None:
        if "Reading rules file: /usr/lib/udev/rules.d/" in line:
            self.read.add(line.rsplit("/", 1)[1].strip())
        gave_up = GAVE_UP.search(line)
        if gave_up:
            self.gave_up.add(gave_up["file"])
            return
        message = MESSAGE.search(line)
        if not message:
            return
        number = int(message["line"])
        if GOTO_IGNORED in message["text"]:
            self.goto_ignored.setdefault(message["file"], set()).add(number)
        if FATAL.search(message["text"]):
            self.fatal.setdefault(message["file"], set()).add(number)
        elif message["text"].startswith(NO_EFFECT):
            self.no_effect.setdefault(message["file"], set()).add(number)


def run_udev(cases: Cases, device: str = DEVICE) -> UdevLog:
    with tempfile.TemporaryDirectory(prefix="udev-drift-") as rules:
        for name, text in cases.items():
            Path(rules, name).write_bytes(text.encode("utf-8", "surrogateescape"))
        done = udevadm_test(rules, device)
    # udevadm test may fail after loading the rules (it then runs them on lo); the loading is
    # what is compared, and every file must have been read
    return UdevLog(done.stdout + done.stderr)


@pytest.fixture(scope="module")
def udev() -> UdevLog:
    log = run_udev(all_cases())
    missing = set(all_cases()) - log.read
    assert not missing, f"udevadm test did not read {sorted(missing)[:5]}:\n{log.output[-3000:]}"
    return log


# What we say that udev logs nothing about: it never reached the line.
SILENT = ("udev never reads", "the file ends inside a continuation")


def goto_ignored(rules: list[Rule]) -> set[int]:
    """The lines whose GOTO finds no LABEL: udev ignores the GOTO (and drops the rule only
    when it does nothing else)."""
    return {r.end_line for r in rules
            if "has no LABEL" in (r.problem or "") or any("has no LABEL" in w for w in r.warnings)}


def we_log(rules: list[Rule]) -> tuple[set[int], set[int], bool]:
    fatal = {
        r.end_line
        for r in rules
        if r.problem is not None
        and not r.problem.startswith(SILENT)
        and "stops reading this file there" not in r.problem
        and "never links its GOTOs" not in r.problem
    }
    no_effect = {r.end_line for r in rules if any("takes no effect" in w for w in r.warnings)}
    gave_up = any("stops reading this file there" in (r.problem or "") for r in rules)
    return fatal, no_effect, gave_up


@pytest.mark.parametrize("name", sorted(all_cases()))
def test_udev_252_and_the_parser_agree_on_which_lines_are_dropped(name: str, udev: UdevLog) -> None:
    rules = parse_rules(all_cases()[name]).rules
    fatal, no_effect, gave_up = we_log(rules)
    assert udev.fatal.get(name, set()) == fatal
    assert udev.no_effect.get(name, set()) == no_effect
    assert udev.goto_ignored.get(name, set()) == goto_ignored(rules)
    assert (name in udev.gave_up) == gave_up


def test_the_host_rules_directories_are_untouched_by_the_test(udev: UdevLog) -> None:
    # the namespace bound our files over the host's; nothing of ours may be left there
    for directory in ("/etc/udev/rules.d", "/usr/lib/udev/rules.d", "/run/udev/rules.d"):
        path = Path(directory)
        if path.is_dir():
            assert not [p for p in path.iterdir() if p.name.startswith(("10-accepted", "40-file"))]


# Random rules built from near-valid pieces: most are dropped for one reason, some are kept.
# Each is wrapped in a GOTO over it, so that udev applies nothing to the device.
FUZZ_KEYS = [
    "ACTION", "DEVPATH", "KERNEL", "KERNELS", "NAME", "SYMLINK", "SUBSYSTEM", "SUBSYSTEMS",
    "DRIVER", "DRIVERS", "ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "TAG", "TAGS", "TEST",
    "PROGRAM", "RESULT", "OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT",
    "OPTIONS", "Kernel", "FOO", "",
]  # fmt: skip
FUZZ_ATTRS = [None, None, None, "", "x", "program", "builtin", "file", "db", "cmdline", "parent",
              "arch", "virt", "selinux", "0644", "abc", "ACTION", "ID_X", "device/x", "%k", " 644"]  # fmt: skip
FUZZ_OPS = ["==", "!=", "=", "+=", "-=", ":="]
FUZZ_VALUES = [
    "", "sda", "?*", "%k", "$kernel", "bus", "watch", "nowatch", "db_persist", "string_escape=x",
    "static_node=tty", "link_priority=10", "link_priority=10,watch", "link_priority=09",
    "log_level=debug", "log_level=8", "last_rule", "path_id", "p", "net_driver", "/bin/x",
    "0660", "abc", 'say "hi"', "x\\", "$attr{", "é",
]  # fmt: skip


def fuzz_value(rnd: random.Random) -> str:
    value = rnd.choice(FUZZ_VALUES)
    roll = rnd.random()
    if roll < 0.08:
        return "'" + value + "'"
    if roll < 0.2:
        escape = rnd.choice(["", "\\x41", "\\q", "\\x00", "\\u00e9", "\\s"])
        return 'e"' + value.replace("\\", "\\\\").replace('"', '\\"') + escape + '"'
    return '"' + value.replace('"', '\\"') + '"'


def fuzz_rule(rnd: random.Random) -> str:
    tokens = ['KERNEL=="zz-no-such"'] if rnd.random() < 0.5 else []
    for _ in range(rnd.randint(1, 4)):
        attr = rnd.choice(FUZZ_ATTRS)
        head = rnd.choice(FUZZ_KEYS) + ("" if attr is None else "{" + attr + "}")
        space = rnd.choice(["", "", " "])
        tokens.append(head + space + rnd.choice(FUZZ_OPS) + space + fuzz_value(rnd))
    rnd.shuffle(tokens)
    line = "".join(rnd.choice([", ", ",", " ", "", "\t"]) + token for token in tokens)
    if rnd.random() < 0.1:
        line += rnd.choice([" # note", ",", " \\ ", "'"])
    # one physical line that never continues into the LABEL of the wrapper
    return line.rstrip("\\")


def fuzz_cases(count: int, seed: int) -> Cases:
    rnd = random.Random(seed)
    cases: Cases = {}
    for index in range(count):
        line = fuzz_rule(rnd)
        extra = rnd.choice(["", 'LABEL="sda"\n', 'LABEL=""\n']) if "GOTO" in line else ""
        text = 'GOTO="zzz_udev_drift_skip"\n' + line + "\n" + extra + 'LABEL="zzz_udev_drift_skip"\n'
        cases[f"50-fuzz-{index:04d}.rules"] = text
    return cases


def test_udev_252_and_the_parser_agree_on_random_near_valid_rules() -> None:
    cases = fuzz_cases(400, seed=252)
    log = run_udev(cases)
    disagreements = []
    kept = 0
    for name, text in sorted(cases.items()):
        assert name in log.read, name
        rules = parse_rules(text).rules
        kept += all(rule.problem is None for rule in rules)
        fatal, no_effect, _ = we_log(rules)
        if (log.fatal.get(name, set()), log.no_effect.get(name, set())) != (fatal, no_effect):
            disagreements.append(text.splitlines()[1])
    assert disagreements == []
    assert kept >= 10  # the table must try udev on kept rules too, not only on broken ones


# --- what udev applies of a rule whose GOTO finds no LABEL --------------------------------
LOST_GOTO = (
    'KERNEL=="lo", GOTO="nowhere", ENV{UDEV_DRIFT_PROBE_A}="kept"\n'  # the GOTO is ignored
    'KERNEL=="lo", GOTO="nowhere-either"\n'  # nothing else to do: dropped
    'KERNEL=="lo", ENV{UDEV_DRIFT_PROBE_B}="after"\n'
)


def test_udev_ignores_a_lost_goto_but_applies_the_rest_of_its_rule() -> None:
    log = run_udev({"50-lost-goto.rules": LOST_GOTO})
    assert "UDEV_DRIFT_PROBE_A=kept" in log.output and "UDEV_DRIFT_PROBE_B=after" in log.output
    assert log.goto_ignored.get("50-lost-goto.rules") == {1, 2}
    assert log.fatal.get("50-lost-goto.rules") == {2}
    rules = parse_rules(LOST_GOTO).rules
    assert [r.problem is None for r in rules] == [True, False, True]
    assert goto_ignored(list(rules)) == {1, 2}


def test_an_absent_policy_sees_a_banned_rule_whose_goto_is_lost(tmp_path: Path) -> None:
    # udev runs the program of such a rule, so a policy that bans it must see it
    from checker.cli import main

    banned = 'KERNEL=="lo", RUN+="/usr/local/bin/wipe-disk %k", GOTO="end"'
    log = run_udev({"50-vendor.rules": banned + "\n"})
    assert "run: '/usr/local/bin/wipe-disk lo'" in log.output, log.output[-2000:]
    root = tmp_path / "host"
    (root / "etc/udev/rules.d").mkdir(parents=True)
    (root / "etc/udev/rules.d/50-vendor.rules").write_text(banned + "\n")
    policy = tmp_path / "ban.yaml"
    policy.write_text("version: 1\nname: ban-wipe\nrules:\n  - file: /etc/udev/rules.d/50-vendor.rules\n"
                      f"    ensure: absent\n    content: |\n      {banned}\n")
    assert main(["check", "--root", str(root), "--skip-policy-permission-check", str(policy)]) == 1


def test_udev_reads_subsystem_bus_and_class_as_subsystem() -> None:
    # so the line selection of lines/absent entries must find a wanted SUBSYSTEM=="subsystem"
    # rule written =="bus" (tests/rules/test_rules_select.py)
    if not Path("/sys/bus/pci").exists():
        pytest.skip("needs /sys/bus/pci, a device of the subsystem 'subsystem'")
    rules = ('SUBSYSTEM=="bus", ENV{UDEV_DRIFT_PROBE_BUS}="1"\n'
             'SUBSYSTEM=="class", ENV{UDEV_DRIFT_PROBE_CLASS}="1"\n')
    log = run_udev({"50-bus.rules": rules}, device="/sys/bus/pci")
    assert "SUBSYSTEM=subsystem" in log.output
    assert "UDEV_DRIFT_PROBE_BUS=1" in log.output and "UDEV_DRIFT_PROBE_CLASS=1" in log.output
    parsed = parse_rules(rules).rules
    assert {rule.canonical.split(",")[0] for rule in parsed} == {'SUBSYSTEM=="subsystem"'}


def test_udev_ignores_an_unknown_owner_and_applies_the_rest_of_the_rule() -> None:
    # what `check` warns of (checker/check/load_warnings.py): the name, not the rule, is ignored
    rules = 'KERNEL=="lo", OWNER="udev-drift-no-such-user", ENV{UDEV_DRIFT_PROBE_OWNER}="1"\n'
    log = run_udev({"50-owner.rules": rules})
    assert "Unknown user 'udev-drift-no-such-user', ignoring" in log.output
    assert "UDEV_DRIFT_PROBE_OWNER=1" in log.output
    assert "50-owner.rules" not in log.fatal and parse_rules(rules).rules[0].problem is None
