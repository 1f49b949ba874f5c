"""Bounded work for any input: a small policy cannot expand into millions of rules, YAML
cannot make the loader do arithmetic on huge numbers, and a rules file with one enormous
line costs memory in proportion to its size (udev itself stops at 16 KiB a line).

The limits are measured in child processes: time with a deadline, memory as the peak
resident set size the kernel reports (getrusage of the child)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import REPO, HostTree

GOOD = """\
version: 1
name: x
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: lines
    content: |
      KERNEL=="sdb", SYMLINK+="x"
"""


# The child is started by a small launcher, not by pytest: a forked child's peak RSS counts
# the memory of the process it was forked from (Linux keeps the high-water mark across
# exec), and by the end of a full test run pytest holds hundreds of MiB.
LAUNCHER = """
import os, subprocess, sys, time
report, timeout, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
start = time.monotonic()
child = subprocess.Popen(command)
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    if time.monotonic() - start > timeout:
        child.kill()
        pid, status, usage = os.wait4(child.pid, 0)
        break
    time.sleep(0.02)
with open(report, "w") as handle:
    handle.write(f"{time.monotonic() - start} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_check(root: Path, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """(the finished run, its seconds, its peak RSS in MiB, as wait4() reports the child's)."""
    command = [sys.executable, "-m", "checker", "check", "--root", str(root), "--repair"]
    with tempfile.NamedTemporaryFile("r") as report:
        done = subprocess.run([sys.executable, "-c", LAUNCHER, report.name, str(timeout), *command],
                              cwd=REPO, capture_output=True, text=True, timeout=timeout + 30)
        seconds, rss_kib = report.read().split()
    return (subprocess.CompletedProcess(command, done.returncode, done.stdout, done.stderr),
            float(seconds), int(rss_kib) // 1024)


def test_a_for_each_that_expands_too_far_is_refused_early(tree: HostTree) -> None:
    # 3,000 items x 1,000 rules: 3 million rules from an 84 KB file (took minutes and GBs).
    items = ", ".join(f"d{i}" for i in range(3000))
    lines = "".join(f'      KERNEL=="{{{{ item }}}}", ENV{{X{j}}}="{j}"\n' for j in range(1000))
    path = tree.policy("version: 1\nname: bomb\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n"
                       f"    ensure: lines\n    for_each: [{items}]\n    content: |\n{lines}")
    before = tree.snapshot()
    done, seconds, _ = run_check(tree.root)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"udev-drift: {path}:6:") and "expands to more than 100,000 rules" in done.stderr
    assert seconds < 10
    assert tree.snapshot() == before


def test_a_for_each_that_expands_too_many_bytes_is_refused(tree: HostTree) -> None:
    # Few rules, but each of 16 KiB: 2,000 x 10 KB is 20 MB of rules text.
    items = ", ".join(f"d{i}" for i in range(2000))
    value = "v" * 10_000
    tree.policy("version: 1\nname: wide\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n"
                f"    ensure: lines\n    for_each: [{items}]\n    content: |\n"
                f'      KERNEL=="{{{{ item }}}}", ENV{{X}}="{value}"\n')
    done, _, _ = run_check(tree.root)
    assert done.returncode == 2 and "expands to more than 16 MiB" in done.stderr, done.stderr


def test_yaml_base_60_numbers_cost_no_time(tree: HostTree) -> None:
    # YAML 1.1 reads 1:59:59 as a base-60 number: 300,000 such digits took 25 s of bignum
    # arithmetic before validation could refuse them.
    for text in (GOOD.replace("version: 1", "version: 1" + ":59" * 300_000),
                 GOOD.replace("version: 1", "version: !!int 1" + ":59" * 300_000),
                 GOOD.replace("version: 1", "version: !!float 1" + ":59" * 300_000 + ".5")):
        path = tree.policy(text)
        done, seconds, _ = run_check(tree.root)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"udev-drift: {path}:1:"), done.stderr
        assert seconds < 5, seconds


def test_a_huge_integer_is_a_policy_error_with_its_line(tree: HostTree) -> None:
    for text, expected in ((GOOD.replace("version: 1", "version: " + "9" * 5000), "at 'version'"),
                           (GOOD.replace("version: 1", "version: !!int " + "9" * 5000), "decimal integer")):
        path = tree.policy(text)
        done, _, _ = run_check(tree.root)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"udev-drift: {path}:1:") and expected in done.stderr, done.stderr


def test_a_16_mib_line_in_a_rules_file_costs_little_memory(tree: HostTree) -> None:
    # udev stops reading a file at a line of 16 KiB; this one took 660 MB (2 GB with other
    # text) to tell.
    tree.policy(GOOD)
    rules = tree.path("/etc/udev/rules.d/50-udev.rules")
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text('KERNEL=="sdb", SYMLINK+="x"\n' + 'KERNEL=="sdb", ' * (16 * 1024 * 1024 // 15) + "\n"
                     + 'KERNEL=="sdc", SYMLINK+="y"\n')
    done, seconds, rss = run_check(tree.root)
    assert done.returncode in (0, 1), done.stderr
    assert rss < 200, f"{rss} MiB"
    assert seconds < 20
