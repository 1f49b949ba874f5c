"""Hostile rule sets whose size grows with n, and what evaluating one costs.

Run as `python -m tests.evaluate.cost_scenarios SCENARIO N` (test_cost_growth.py does, in
a child process with a memory and CPU limit, so that a regression fails the test instead
of filling the machine): the rule set is compiled first (not measured), then evaluated
for one block device (the "sliced" ones: sliced for the wanted link first, as check does); it prints JSON with the least CPU time of a few runs (seconds,
`time.process_time`) and the tracemalloc peak of one more run (bytes).
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable

from checker.evaluate import glob
from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.facts import block_device_facts
from checker.evaluate.slice import slice_rules

WANTED = 'KERNEL=="sdb", SYMLINK+="wanted"\n'


# Values are at most 511 bytes (udev's buffer), rules lines at most 16 KiB: hostile rule
# sets grow in their number of lines, which are many.
VALUE = "a" * 400


def glob_text(n: int) -> str:
    """n values of 400 a's, each tried against a glob with eight stars that cannot match
    it: one regex per pattern backtracked exponentially in the stars."""
    return "".join(f'ENV{{X}}="{VALUE}{i}"\nENV{{X}}=="*a*a*a*a*a*a*a*a*b*", GOTO="skip"\n'
                   for i in range(n)) + WANTED + 'LABEL="skip"\n'


def glob_stars(n: int) -> str:
    """Globs with n stars, against 64 values of 400 a's."""
    pattern = "*a" * n + "*b*"
    return "".join(f'ENV{{X}}="{VALUE}{i}"\nENV{{X}}=="{pattern}", GOTO="skip"\n'
                   for i in range(64)) + WANTED + 'LABEL="skip"\n'


def unknown_pattern(n: int) -> str:
    """No glob in the rules: a PROGRAM's output substituted nine times makes the value
    pattern "*a*a*a*a*a*a*a*a*b*", and joining the world where it ran with the one where
    it did not asks whether the pattern could be the other world's 400 a's (n times)."""
    return "".join(f'ENV{{Y}}="{VALUE}{i}"\n'
                   f'PROGRAM=="/bin/true", ENV{{Y}}="{"%ca" * 8}%cb%c"\n' for i in range(n)) + WANTED


def doubling(n: int) -> str:
    """n lines that each double a property: udev stops at its buffer."""
    return 'ENV{X}="ab"\n' + 'ENV{X}="%E{X}%E{X}"\n' * n + WANTED


def program_chain(n: int) -> str:
    """n line triples, each splitting the evaluation on an unknown PROGRAM, setting a new
    property in one world and jumping, another in the other: every join meets all the
    properties set so far."""
    return "".join(f'KERNEL=="sdb", PROGRAM=="/bin/p{i}", ENV{{P{i}}}="{i}", GOTO="l{i}"\n'
                   f'ENV{{Q{i}}}="{i}"\n'
                   f'LABEL="l{i}"\n' for i in range(n)) + WANTED


def link_chain(n: int) -> str:
    """The same with links, tags and programs: each join meets every member so far."""
    return "".join(f'KERNEL=="sdb", PROGRAM=="/bin/p{i}", SYMLINK+="a/{i}", TAG+="a{i}", GOTO="l{i}"\n'
                   f'SYMLINK+="b/{i}", RUN+="/bin/b{i}"\n'
                   f'LABEL="l{i}"\n' for i in range(n)) + WANTED


def sliced_chain(n: int) -> str:
    """program_chain where every line writes what the wanted link's rule reads, so that a
    slice keeps them all: each kept line asked for the GOTOs that jump over it."""
    return "".join(f'KERNEL=="sdb", PROGRAM=="/bin/p{i}", ENV{{P{i}}}="{i}", ENV{{W}}="x", GOTO="l{i}"\n'
                   f'ENV{{Q{i}}}="{i}", ENV{{W}}="y"\n'
                   f'LABEL="l{i}"\n' for i in range(n)) + 'ENV{W}=="?*", ' + WANTED


def sliced_reads(n: int) -> str:
    """n lines writing properties, then n rules of the wanted link each reading another
    one: a slice looks for each read's writers."""
    return ("".join(f'ENV{{S{i}}}="{i}"\n' for i in range(n))
            + "".join(f'KERNEL=="sdb", ENV{{R{i}}}=="x", SYMLINK+="wanted"\n' for i in range(n)))


def import_chain(n: int) -> str:
    """n properties, then n lines importing what an unknown program prints: each import
    may have set any of them."""
    return ("".join(f'ENV{{S{i}}}="{i}"\n' for i in range(n))
            + 'IMPORT{program}="/bin/probe"\n' * n + WANTED)


SCENARIOS: dict[str, Callable[[int], str]] = {
    "glob_text": glob_text, "glob_stars": glob_stars, "unknown_pattern": unknown_pattern,
    "doubling": doubling, "program_chain": program_chain, "link_chain": link_chain,
    "sliced_chain": sliced_chain, "sliced_reads": sliced_reads, "import_chain": import_chain,
}  # fmt: skip


def measure(scenario: str, n: int, repeat: int = 3) -> dict[str, float]:
    rules = RuleSet.from_texts([("50-cost.rules", SCENARIOS[scenario](n))])
    facts = block_device_facts("sdb", (8, 16), "disk")

    def run() -> None:
        if scenario.startswith("sliced"):  # as check does: the slice for the link, then it
            evaluate(slice_rules(rules, ["wanted"]), facts)
        else:
            evaluate(rules, facts)

    run()  # warm the caches of compiled patterns
    cpu = float("inf")
    for _ in range(repeat):
        glob._ANSWERS.clear()  # each run matches again
        gc.collect()
        start = time.process_time()
        run()
        cpu = min(cpu, time.process_time() - start)
    glob._ANSWERS.clear()
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"cpu": cpu, "peak": peak}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
