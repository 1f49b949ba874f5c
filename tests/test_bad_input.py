"""The catalogue of bad input: each case gets exit 2 or 3 (or a warning where the run can
honestly go on), one clear line naming what was wrong, no traceback, and every file as
it was. Cases that need real mounts or a live udevadm are in tests/repair/test_faults.py
and test_live_udevadm_faults below."""

from __future__ import annotations

import json
import os
import re
import resource
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, HostTree, Result
from tests.namespace import run_private

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
GOOD = """\
version: 1
name: xen
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    for_each: [sdb]
    content: |
      ACTION!="remove", KERNEL=="{{ item }}", SYMLINK+="xapi/block/%k"
symlinks:
  - link: /dev/xapi/block/sdb
    target: /dev/sdb
"""
OTHER = GOOD.replace("name: xen", "name: other")
ANCHORS = "a: &a [" + ",".join(['"x"'] * 9) + "]\n" + "".join(
    f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdef", "bcdefg"))

# (case id, policy text or bytes, expected exit, text expected in the one line)
POLICY_CASES = [
    ("malformed-yaml", "version: 1\nname: [x\n", 2, "invalid YAML"),
    ("tab-indentation", "version: 1\nrules:\n\t- file: x\n", 2, "invalid YAML"),
    ("rules-wrong-type", "version: 1\nname: x\nrules: 7\n", 2, "at 'rules'"),
    ("for-each-mapping", GOOD.replace("for_each: [sdb]", "for_each: {a: 1}"), 2, "at 'rules[0].for_each'"),
    ("unknown-top-key", GOOD + "colour: blue\n", 2, "unknown key 'colour'"),
    ("unknown-symlink-key", GOOD.replace("target: /dev/sdb", "target: /dev/sdb\n    mode: 0660"), 2, "unknown key 'mode'"),
    ("empty-file", "", 2, "the file is empty"),
    ("only-comments", "# nothing here\n", 2, "the file is empty"),
    ("two-documents", GOOD + "---\n" + GOOD, 2, "invalid YAML"),
    ("binary", b"version: 1\x00\x01\x02", 2, "binary file"),
    ("not-utf8", b"version: 1\nname: caf\xe9\n", 2, "not valid UTF-8"),
    ("huge", "# " + "x" * (1024 * 1024 + 10) + "\n", 2, "larger than 1024 KiB"),
    ("version-2", GOOD.replace("version: 1", "version: 2"), 2, "at 'version'"),
    ("bad-name", GOOD.replace("name: xen", "name: Xen Host"), 2, "at 'name'"),
    ("version-true", GOOD.replace("version: 1", "version: true"), 2, "at 'version'"),
    ("version-float", GOOD.replace("version: 1", "version: 1.0"), 2, "at 'version'"),
    ("version-hex", GOOD.replace("version: 1", "version: 0x1"), 2, "at 'version'"),
    ("version-octal", GOOD.replace("version: 1", "version: 0o1"), 2, "at 'version'"),
    ("version-huge", GOOD.replace("version: 1", "version: " + "9" * 5000), 2, "at 'version'"),
    ("version-base-60", GOOD.replace("version: 1", "version: 1" + ":59" * 1000), 2, "at 'version'"),
    ("name-huge", GOOD.replace("name: xen", "name: " + "x" * 1000 * 1000), 2, "at 'name'"),
    ("name-too-long", GOOD.replace("name: xen", "name: " + "x" * 65), 2, "at most 64 characters"),
    ("duplicate-key", GOOD.replace("version: 1\n", "version: 1\nversion: 1\n"), 2, "key given twice"),
    ("missing-content", GOOD.replace("    content: |\n      ACTION!=\"remove\", KERNEL==\"{{ item }}\", SYMLINK+=\"xapi/block/%k\"\n", ""), 2, "required key 'content'"),
    ("single-quotes", GOOD.replace('SYMLINK+="xapi/block/%k"', "SYMLINK+='xapi'"), 2, "udev would drop this rule"),
    ("trailing-comment", GOOD.replace('SYMLINK+="xapi/block/%k"', 'SYMLINK+="x" # note'), 2, "udev would drop this rule"),
    ("unknown-udev-key", GOOD.replace('SYMLINK+=', 'SYMLYNK+='), 2, "udev would drop this rule"),
    ("marker-in-content", GOOD.replace("      ACTION", "      # END udev-drift xen\n      ACTION"), 2, "marker line"),
    ("unknown-placeholder", GOOD.replace("{{ item }}", "{{ disk }}"), 2, "unknown placeholder"),
    ("item-without-for-each", GOOD.replace("    for_each: [sdb]\n", ""), 2, "no for_each"),
    ("for-each-without-item", GOOD.replace("{{ item }}", "sdb"), 2, "appears nowhere"),
    ("for-each-duplicates", GOOD.replace("[sdb]", "[sdb, sdb]"), 2, "more than once"),
    ("for-each-empty", GOOD.replace("[sdb]", "[]"), 2, "at least one item"),
    ("relative-file", GOOD.replace("file: /etc/udev", "file: etc/udev"), 2, "absolute path"),
    ("dotdot-file", GOOD.replace("/etc/udev/rules.d/50", "/etc/udev/rules.d/../50"), 2, "'..'"),
    ("nul-in-path", GOOD.replace("file: /etc/udev/rules.d/50-udev.rules", 'file: "/etc/udev/rules.d/50\\0.rules"'), 2, "NUL"),
    ("not-rules-suffix", GOOD.replace("50-udev.rules", "50-udev.conf"), 2, "must end in .rules"),
    ("outside-rules-dirs", GOOD.replace("/etc/udev/rules.d/50-udev.rules", "/etc/cron.d/x.rules"), 2, "rules directories"),
    ("link-outside-dev", GOOD.replace("link: /dev/xapi", "link: /etc/xapi"), 2, "under /dev/"),
    ("target-and-device", GOOD.replace("target: /dev/sdb", "target: /dev/sdb\n    device: {serial: X}"), 2, "exactly one of target or device"),
    ("two-identities", GOOD.replace("target: /dev/sdb", "device: {serial: X, wwn: Y}"), 2, "exactly one of serial"),
    ("same-link-twice", GOOD + "  - link: /dev/xapi/block/sdb\n    target: /dev/sdc\n", 2, "already given"),
    ("alias-bomb", GOOD + ANCHORS, 2, "more than 100,000 values"),
    ("deep-nesting", GOOD + "deep: " + "[" * 200 + "]" * 200 + "\n", 2, "nested deeper"),
    ("no-entries", "version: 1\nname: x\n", 2, "at least one entry"),
    ("top-level-list", "- a\n- b\n", 2, "expected a mapping"),
]


@pytest.mark.parametrize(("case", "policy", "status", "expected"), POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_a_bad_policy_is_refused_in_one_line_and_nothing_changes(
        tree: HostTree, udev_drift: Run, case: str, policy: str | bytes, status: int, expected: str) -> None:
    path = tree.path("/etc/udev-drift/policies.d/bad.yaml")
    path.parent.mkdir(parents=True)
    path.write_bytes(policy if isinstance(policy, bytes) else policy.encode())
    tree.write(RULES, 'KERNEL=="x", GROUP="disk"\n')
    before = tree.snapshot()
    result = udev_drift("check", "--root", tree.root, "--repair")
    assert result.status == status, result.err
    assert "Traceback" not in result.err and result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.err
    assert lines[0].startswith(f"udev-drift: {path}")
    assert tree.snapshot() == before


@pytest.mark.parametrize("option", [
    ("check", "--lock-timeout", "nan"), ("check", "--lock-timeout", "inf"), ("check", "--lock-timeout", "-1"),
    ("check", "--udevadm-timeout", "nan"), ("check", "--udevadm-timeout", "0"),
    ("serve", "--interval", "1e-300"), ("serve", "--interval", "nan"), ("serve", "--interval", "inf"),
    ("serve", "--lock-timeout", "nan"),
], ids=lambda option: " ".join(option))
def test_seconds_that_are_not_a_sane_duration_are_usage_errors(tree: HostTree, udev_drift: Run,
                                                              option: tuple[str, str, str]) -> None:
    # nan waits for ever, 1e-300 busy-loops, inf never times out.
    command, name, value = option
    tree.policy(GOOD)
    before = tree.snapshot()
    result = udev_drift(command, "--root", tree.root, f"{name}={value}")
    assert result.status == 2 and result.out == ""
    assert f"argument {name}: " in result.err and "seconds" in result.err, result.err
    assert tree.snapshot() == before


@pytest.mark.parametrize(("case", "second", "expected"), [
    ("same-name", GOOD, "already used by"),
    ("present-and-absent", OTHER.replace("ensure: block", "ensure: absent"), "ensures absent a rule"),
    ("two-owners", GOOD.replace("ensure: block", "ensure: file").replace("name: xen", "name: a")
     + "", "owned whole"),
])
def test_policies_that_contradict_each_other_are_refused(tree: HostTree, udev_drift: Run, case: str,
                                                         second: str, expected: str) -> None:
    first = GOOD if case != "two-owners" else GOOD.replace("ensure: block", "ensure: file").replace("name: xen", "name: b")
    tree.policy(first, "a.yaml")
    tree.policy(second, "b.yaml")
    result = udev_drift("check", "--root", tree.root, "--repair")
    assert result.status == 2 and expected in result.err and "Traceback" not in result.err


def test_paths_that_do_not_exist_are_usage_errors(tree: HostTree, udev_drift: Run, tmp_path: Path) -> None:
    missing = udev_drift("check", "--root", tree.root, tmp_path / "nope.yaml")
    assert missing.status == 2 and missing.err == f"udev-drift: {tmp_path}/nope.yaml: no such policy file or directory\n"
    (tmp_path / "empty").mkdir()
    empty = udev_drift("check", "--root", tree.root, tmp_path / "empty")
    assert empty.status == 2 and "no policy files" in empty.err


# -- the host's side -------------------------------------------------------------------------

@pytest.fixture
def host(tree: HostTree) -> HostTree:
    tree.policy(GOOD)
    tree.write("/dev/sdb", "")
    return tree


def test_a_huge_rules_file_is_refused_with_exit_3(host: HostTree, udev_drift: Run) -> None:
    path = host.path(RULES)
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        handle.truncate(65 * 1024 * 1024)
    result = udev_drift("check", "--root", host.root, "--repair")
    assert result.status == 3 and result.err.count("\n") == 1 and "larger than 64 MiB" in result.err
    assert path.stat().st_size == 65 * 1024 * 1024


def test_a_non_utf8_rules_file_is_repaired_byte_for_byte_outside_the_block(host: HostTree, udev_drift: Run) -> None:
    vendor = b'# caf\xe9 \xff\xfe\nKERNEL=="x", GROUP="d\xe9sk"\n'
    path = host.path(RULES)
    path.parent.mkdir(parents=True)
    path.write_bytes(vendor)
    report = udev_drift("check", "--root", host.root, "--format", "json")
    diff = report.json()["policies"][0]["findings"][0]["diff"]
    assert "# caf\udce9 \udcff\udcfe" in diff, "the JSON keeps the bytes, as \\udcXX escapes"
    assert "�" in udev_drift("check", "--root", host.root, "--color", "never").out
    assert udev_drift("check", "--root", host.root, "--repair").status == 0
    assert path.read_bytes().startswith(vendor)


def test_a_rules_file_with_nul_bytes_is_read_as_udev_reads_it(host: HostTree, udev_drift: Run) -> None:
    path = host.path(RULES)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'KERNEL=="x", GROUP="disk"\x00garbage\x00\x01\x02\n')
    result = udev_drift("check", "--root", host.root, "--format", "json")
    assert result.status == 1 and "Traceback" not in result.err


def test_a_rule_line_longer_than_udev_reads_is_drift_with_the_reason(host: HostTree, udev_drift: Run) -> None:
    long = 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k", ENV{X}="' + "y" * 17000 + '"\n'
    host.write(RULES, "# BEGIN udev-drift xen\n" + long + "# END udev-drift xen\n")
    result = udev_drift("check", "--root", host.root, "--format", "json")
    [rule, _] = result.json()["policies"][0]["findings"]
    assert result.status == 1 and rule["status"] == "changed"
    assert any("16384" in detail or "16,384" in detail or "never reads" in detail for detail in rule["details"])


def test_a_missing_rules_directory_is_created_by_a_repair(host: HostTree, udev_drift: Run) -> None:
    assert udev_drift("check", "--root", host.root, "--repair").status == 0
    assert stat.S_IMODE(host.path("/etc/udev/rules.d").stat().st_mode) == 0o755


def test_a_fifo_where_the_rules_file_should_be_is_drift_and_never_opened(host: HostTree, udev_drift: Run) -> None:
    path = host.path(RULES)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # opening it would block the run forever
    result = udev_drift("check", "--root", host.root, "--repair", "--format", "json")
    assert result.status == 1
    assert result.json()["policies"][0]["findings"][0]["status"] == "not-a-file"


@pytest.mark.parametrize(("make", "status"), [
    (lambda t: t.link("/dev/xapi/block/sdb", "../../nothing"), "dangling"),
    (lambda t: t.write("/dev/xapi/block/sdb", "notes"), "not-a-link"),
    (lambda t: t.path("/dev/xapi/block/sdb").mkdir(parents=True), "not-a-link"),
])
def test_wrong_things_where_a_link_should_be_are_named(host: HostTree, udev_drift: Run, make: Callable[[HostTree], object], status: str) -> None:
    host.write(RULES, "# BEGIN udev-drift xen\n" + 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n' + "# END udev-drift xen\n")
    make(host)
    result = udev_drift("check", "--root", host.root, "--format", "json")
    assert result.status == 1
    assert result.json()["policies"][0]["findings"][1]["status"] == status


def test_a_corrupt_state_file_is_set_aside_with_a_warning(host: HostTree, udev_drift: Run) -> None:
    state = host.path("/var/lib/udev-drift")
    state.mkdir(parents=True)
    (state / "fingerprints.json").write_text("{not json")
    result = udev_drift("check", "--root", host.root, "--repair")
    assert result.status == 0
    assert "unreadable state" in result.err and "set aside" in result.err and "Traceback" not in result.err
    assert any(p.name.startswith("fingerprints.json.corrupt-") for p in state.iterdir())


def test_a_state_directory_that_cannot_be_made_is_exit_3(host: HostTree, udev_drift: Run) -> None:
    host.write("/var/lib/udev-drift", "a file, not a directory\n")
    before = host.snapshot()
    result = udev_drift("check", "--root", host.root, "--repair")
    assert result.status == 3 and result.err.count("\n") == 1 and "state directory" in result.err
    assert host.snapshot() == before


def test_a_lock_left_by_a_dead_run_does_not_block(host: HostTree, udev_drift: Run) -> None:
    state = host.path("/var/lib/udev-drift")
    state.mkdir(parents=True)
    (state / "lock").write_text("999999\n")  # the pid of a run that died; no flock is held
    assert udev_drift("check", "--root", host.root, "--repair", "--lock-timeout", "1").status == 0


# -- the report: what a rules file or a policy holds is shown, never obeyed by the terminal ----

HOSTILE_LINE = "# \x1b]0;pwned\x07 \x1b[2J\x1b[1A\r\u202e gone\x9b31m\n"
OUR_COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # the report's own colours: SGR only


def _only_our_colours(text: str) -> str:
    return OUR_COLOURS.sub("", text)


@pytest.mark.parametrize("color", ["never", "always"])
@pytest.mark.parametrize("mode", [["check"], ["check", "--repair"], ["check", "--repair", "--dry-run"]])
def test_escape_sequences_in_a_rules_file_are_shown_not_obeyed(host: HostTree, udev_drift: Run, color: str,
                                                               mode: list[str]) -> None:
    host.write(RULES, 'KERNEL=="sda", GROUP="disk"\n' + HOSTILE_LINE + 'KERNEL=="sdz", GROUP="disk"\n')
    host.write(RULES + ".rpmsave", HOSTILE_LINE)
    out = udev_drift(*mode, "--root", host.root, "--color", color).out
    plain = _only_our_colours(out)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", plain), repr(plain)
    assert "\\x1b]0;pwned\\x07 \\x1b[2J" in plain  # visible, as escapes
    if color == "never":
        assert "\\u202e gone\\x9b31m" in plain


def test_the_json_report_keeps_the_exact_text(host: HostTree, udev_drift: Run) -> None:
    host.write(RULES, HOSTILE_LINE)
    report = udev_drift("check", "--root", host.root, "--format", "json").json()
    diff = report["policies"][0]["findings"][0]["diff"]
    assert "# \x1b]0;pwned\x07 \x1b[2J\x1b[1A" in diff and "\u202e gone\x9b31m" in diff


def test_policy_values_with_newlines_do_not_split_report_lines(tree: HostTree, udev_drift: Run) -> None:
    tree.policy(GOOD.replace("target: /dev/sdb", 'target: "/dev/sdb\\n  \u2713 rule  /etc/fake  ok"')
                + '  - link: "/dev/xapi/bl\\nock/sdc"\n    device: {serial: "X\\n  \u2713 link fake\\e]0;t\\a"}\n')
    tree.write("/dev/sdb", "")
    result = udev_drift("check", "--root", tree.root, "--color", "never")
    if result.status == 2:  # refused as a bad policy: one line, and nothing in it obeyed either
        assert result.err.count("\n") == 1 and "\x1b" not in result.err
        return
    lines = result.out.splitlines()
    assert not any(line.startswith("  \u2713 rule  /etc/fake") or line.startswith("ock/sdc") for line in lines), lines
    assert "\x1b" not in result.out and "\x07" not in result.out
    assert any("/dev/sdb\\n  \u2713 rule  /etc/fake  ok" in line for line in lines), lines


# -- corrupt state: wrong shapes, numbers too big, nesting, things that are not files ----------

STATE = "/var/lib/udev-drift"
DRIFTED = 'KERNEL=="sda", GROUP="disk"\n'  # a rules file without the policy's block: drift
A_PRINT = {"inode": 1, "device": 2, "mtime": 3.0, "size": 4, "sha256": "0" * 64}
DEEP = "[" * 100_000 + "]" * 100_000

BAD_STATE = [
    ("prints-list", "fingerprints.json", json.dumps({RULES: [1, 2]})),
    ("prints-string-inode", "fingerprints.json", json.dumps({RULES: {**A_PRINT, "inode": "x", "sha256": 5}})),
    ("prints-top-list", "fingerprints.json", "[1, 2]"),
    ("prints-deep", "fingerprints.json", DEEP),
    ("prints-deep-inside", "fingerprints.json", json.dumps({RULES: "X"}).replace('"X"', DEEP)),
    ("metrics-1e999", "metrics.json", '{"last_success": 1e999, "policies": {"xen": {"repairs": {"rule": 1e999}}}}'),
    ("metrics-big-int", "metrics.json", '{"policies": {"xen": {"repairs": {"rule": 1' + "0" * 4000 + "}}}}"),
    ("metrics-5000-digits", "metrics.json", '{"last_success": 1' + "0" * 5000 + "}"),
    ("metrics-nan", "metrics.json", '{"last_success": NaN}'),
    ("metrics-deep", "metrics.json", '{"loaded": ' + DEEP + "}"),
]


@pytest.mark.parametrize(("name", "text"), [case[1:] for case in BAD_STATE], ids=[case[0] for case in BAD_STATE])
def test_state_of_the_wrong_shape_is_set_aside_with_one_warning(host: HostTree, udev_drift: Run, tmp_path: Path,
                                                               name: str, text: str) -> None:
    host.write(RULES, DRIFTED)
    state = host.path(STATE)
    state.mkdir(parents=True)
    (state / name).write_text(text)
    (tmp_path / "prom").mkdir()
    plain = udev_drift("check", "--root", host.root)  # a plain check reads fingerprints too
    assert plain.status == 1 and "Traceback" not in plain.err
    result = udev_drift("check", "--root", host.root, "--repair", "--textfile-dir", tmp_path / "prom")
    assert result.status == 0, result.err
    warned = [line for line in (plain.err + result.err).splitlines() if "set aside" in line]
    assert len(warned) == 1 and name in warned[0], plain.err + result.err
    assert any(p.name.startswith(f"{name}.corrupt-") for p in state.iterdir())
    assert udev_drift("check", "--root", host.root, "--repair", "--textfile-dir", tmp_path / "prom").err == ""


def _limited() -> None:
    # A run that reads /dev/zero for ever must fail the test, not fill the machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _run_apart(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-m", "checker", *args], capture_output=True, text=True,
                              cwd=REPO, timeout=timeout, preexec_fn=_limited, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"udev-drift {' '.join(args)} hung for {timeout:g} s")


@pytest.mark.parametrize("name", ["fingerprints.json", "metrics.json", "policy-cache.json", "verdict-cache.json", "lock", "metrics.lock"])
@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "directory"])
def test_a_state_name_that_is_not_a_regular_file_is_set_aside(host: HostTree, tmp_path: Path, name: str,
                                                              kind: str) -> None:
    host.write(RULES, DRIFTED)
    state = host.path(STATE)
    state.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(state / name)  # opening it to read would wait for a writer for ever
    elif kind == "link-to-dev-zero":
        os.symlink("/dev/zero", state / name)  # reading it would never end
    else:
        (state / name).mkdir()
    (tmp_path / "prom").mkdir()
    plain = _run_apart("check", "--root", str(host.root))
    assert plain.returncode == 1 and "Traceback" not in plain.stderr, plain.stderr
    done = _run_apart("check", "--root", str(host.root), "--repair", "--textfile-dir", str(tmp_path / "prom"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert all("set aside" in line for line in (plain.stderr + done.stderr).splitlines()), plain.stderr + done.stderr
    assert (state / name).is_file() or not (state / name).exists()
    assert not (state / name).is_symlink()
    assert any(p.name.startswith(f"{name}.corrupt-") for p in state.iterdir())


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "directory"])
def test_a_package_leftover_that_is_not_a_regular_file_is_never_read(host: HostTree, tmp_path: Path,
                                                                     kind: str) -> None:
    host.write(RULES, DRIFTED)
    leftover = host.path(RULES + ".rpmsave")
    if kind == "fifo":
        os.mkfifo(leftover)  # reading it would wait for a writer for ever
    elif kind == "link-to-dev-zero":
        os.symlink("/dev/zero", leftover)
    else:
        leftover.mkdir()
    for args in (["check"], ["check", "--repair"]):
        done = _run_apart(*args, "--root", str(host.root), "--format", "json")
        assert done.returncode in (0, 1) and done.stderr == "", done.stderr
    assert leftover.exists() or leftover.is_symlink()  # left as found


def test_a_package_leftover_is_still_named_when_it_is_a_file(host: HostTree, udev_drift: Run) -> None:
    host.write(RULES, DRIFTED)
    host.write(RULES + ".rpmsave", 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n')
    result = udev_drift("check", "--root", host.root, "--format", "json")
    details = result.json()["policies"][0]["findings"][0]["details"]
    assert any("50-udev.rules.rpmsave beside it still holds 1" in detail for detail in details), details


# -- udevadm missing, failing, hanging: on a "live" host in a private namespace ----------------

def test_live_udevadm_faults(tmp_path: Path) -> None:
    """Rules directories are bound over in a private mount namespace, so the live path runs
    without touching the host; udevadm is replaced by missing, failing and hanging ones."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy/p.yaml").write_text(GOOD.replace("symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n", ""))
    (tmp_path / "fail").write_text("#!/bin/sh\necho 'Failed to send reload request: Connection refused' >&2\nexit 1\n")
    (tmp_path / "hang").write_text("#!/bin/sh\nexec sleep 60\n")
    os.chmod(tmp_path / "fail", 0o755)
    os.chmod(tmp_path / "hang", 0o755)
    script = textwrap.dedent(f"""\
        mount --bind {tmp_path}/rules /etc/udev/rules.d
        for udevadm in {tmp_path}/missing {tmp_path}/fail {tmp_path}/hang; do
            rm -f /etc/udev/rules.d/50-udev.rules
            set +e
            $UDEV_DRIFT check {tmp_path}/policy --repair --state-dir {tmp_path}/state \\
                --udevadm $udevadm --udevadm-timeout 1 > /dev/null 2> {tmp_path}/err
            status=$?
            echo "$(basename $udevadm) exit $status lines $(wc -l < {tmp_path}/err): $(cat {tmp_path}/err)"
            set -e
        done
    """)
    done = run_private(script)
    assert done.returncode == 0, done.stderr
    results = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert results["missing"].startswith("exit 3 lines 1:") and "not found" in results["missing"]
    assert results["fail"].startswith("exit 3 lines 1:") and "Connection refused" in results["fail"]
    assert results["hang"].startswith("exit 3 lines 1:") and "no answer after 1 s" in results["hang"]
    assert "Traceback" not in done.stdout


def test_a_failed_reload_is_remembered_and_retried_by_the_next_repair(tmp_path: Path) -> None:
    """udevadm fails `control --reload` once. The file is written, the run exits 3; the
    next plain check says the reload is still owed, and the next repair runs it (and the
    trigger) again, then forgets it."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy/p.yaml").write_text(GOOD.replace("symlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n", ""))
    log = tmp_path / "calls"
    (tmp_path / "udevadm").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1" = verify ] && exit 1
        [ "$1" = --version ] && echo 252 && exit 0  # asked by --udev auto: not a call this test counts
        echo "$*" >> {log}
        if [ "$1" = control ] && [ ! -e {tmp_path}/failed-once ]; then
            touch {tmp_path}/failed-once
            echo 'Failed to send reload request: Connection refused' >&2
            exit 1
        fi
        exit 0
    """))
    os.chmod(tmp_path / "udevadm", 0o755)
    run = f"$UDEV_DRIFT check {tmp_path}/policy --state-dir {tmp_path}/state --udevadm {tmp_path}/udevadm"
    script = textwrap.dedent(f"""\
        mount --bind {tmp_path}/rules /etc/udev/rules.d
        set +e
        {run} --repair > /dev/null 2> {tmp_path}/err1; echo "first $?"
        {run} > /dev/null 2> {tmp_path}/err2; echo "check $?"
        : > {log}
        {run} --repair --format json > {tmp_path}/retry.json 2> {tmp_path}/err3; echo "retry $?"
        cp {log} {tmp_path}/retried; : > {log}
        {run} --repair > /dev/null 2> {tmp_path}/err4; echo "after $?"
    """)
    done = run_private(script)
    assert done.returncode == 0, done.stderr
    statuses = dict(line.split() for line in done.stdout.splitlines())
    assert statuses == {"first": "3", "check": "0", "retry": "0", "after": "0"}, \
        [(tmp_path / f"err{n}").read_text() for n in range(1, 5)]
    assert "Connection refused" in (tmp_path / "err1").read_text()
    owed = (tmp_path / "err2").read_text()
    assert owed.count("\n") == 1 and "pending" in owed and "control --reload" in owed
    retried = (tmp_path / "retried").read_text().splitlines()
    assert retried[0] == "control --reload" and retried[1].startswith("trigger ") and retried[2].startswith("settle")
    actions = json.loads((tmp_path / "retry.json").read_text())["actions"]
    assert [a["command"][1:3] for a in actions] == [["control", "--reload"], ["trigger", "--action=change"],
                                                    ["settle", "--timeout=30"]]
    assert all("retr" in a["detail"] for a in actions)
    assert (tmp_path / "err3").read_text() == "" and (tmp_path / "err4").read_text() == ""
    assert (tmp_path / "calls").read_text() == ""  # nothing owed any more, nothing to do


def test_warnings_and_errors_show_control_characters_as_escapes(host: HostTree, udev_drift: Run) -> None:
    state = host.path(STATE)
    state.mkdir(parents=True)
    (state / "fingerprints.json").write_text("{\"\x1b]0;pwned\x07\": ")  # the warning quotes json's complaint
    host.write(RULES, DRIFTED)
    named = host.path("/etc/udev/rules.d/\x1b[2J")
    os.mkfifo(named)
    result = udev_drift("check", "--root", host.root)
    bad = udev_drift("check", "--root", host.root, host.path("/etc/udev-drift/\x1b[2Jmissing.yaml"))
    assert bad.status == 2 and "\\x1b[2Jmissing" in bad.err
    assert not re.search("[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]", result.err + bad.err), repr(result.err + bad.err)


@pytest.mark.parametrize("breaker", ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_a_line_breaking_character_in_a_policy_never_splits_the_error_line(
        tree: HostTree, udev_drift: Run, breaker: str) -> None:
    # str.splitlines() breaks at each of these: the message was cut there, and its second
    # half printed as a line of its own.
    escaped = json.dumps(breaker + 'KERNEL=="sda", ENV{A}="1"')
    path = tree.policy("version: 1\nname: vt\nrules:\n  - file: /etc/udev/rules.d/50-x.rules\n"
                       f"    ensure: block\n    content: {escaped}\n")
    for command in (("validate", path), ("check", "--root", tree.root, path)):
        result = udev_drift(*command)
        assert result.status == 2 and result.out == "", result.err
        assert result.err.count("\n") == 1 and result.err.endswith("KERNEL'\n"), repr(result.err)
        assert breaker not in result.err and "unknown key" in result.err
