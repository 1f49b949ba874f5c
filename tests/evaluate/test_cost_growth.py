"""What an evaluation costs grows no faster than its input.

Each scenario (cost_scenarios.py) is a hostile rule set of size n; it is evaluated at n
and 4n in a child process limited to 1 GiB of address space and 60 s of CPU, and the
least CPU time of three runs and the tracemalloc peak are compared: 4n may cost at most
six times n (linear growth is four, noise and log factors get the rest) plus a small
constant for what does not grow. The sizes are large enough that the constant is small
beside the growing part, and small enough that each test takes a few seconds here.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATIO = 6.0
CPU_SLACK = 0.02  # seconds
MEMORY_SLACK = 256 * 1024  # bytes
LIMIT_CPU = 60  # seconds: beyond that the growth is surely not linear
LIMIT_MEMORY = 1 << 30


@dataclass(frozen=True)
class Cost:
    cpu: float
    peak: float
    failed: str = ""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_MEMORY, LIMIT_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_CPU, LIMIT_CPU))


def cost(scenario: str, n: int) -> Cost:
    child = subprocess.run([sys.executable, "-m", "tests.evaluate.cost_scenarios", scenario, str(n)],
                           capture_output=True, text=True, cwd=REPO, preexec_fn=_limits,
                           env={**os.environ, "PYTHONPATH": REPO}, timeout=4 * LIMIT_CPU)
    if child.returncode != 0:
        tail = (child.stderr.strip().splitlines() or [f"signal {-child.returncode}"])[-1]
        return Cost(float("inf"), float("inf"), f"n={n} did not finish within the limits: {tail}")
    found = json.loads(child.stdout)
    return Cost(found["cpu"], found["peak"])


def assert_linear(scenario: str, n: int) -> None:
    small, large = cost(scenario, n), cost(scenario, 4 * n)
    assert not small.failed and not large.failed, small.failed or large.failed
    figures = (f"{scenario}: n={n}: {small.cpu:.3f} s, {small.peak / 1e6:.2f} MB; "
               f"4n: {large.cpu:.3f} s, {large.peak / 1e6:.2f} MB")
    print(figures)
    assert large.cpu <= RATIO * small.cpu + CPU_SLACK, "CPU time grows super-linearly: " + figures
    assert large.peak <= RATIO * small.peak + MEMORY_SLACK, "memory grows super-linearly: " + figures


# --- matching globs -----------------------------------------------------------------------


def test_globs_with_many_stars_cost_linear_time_in_the_values_they_meet() -> None:
    assert_linear("glob_text", 500)


def test_a_glob_costs_linear_time_in_its_stars() -> None:
    assert_linear("glob_stars", 50)


def test_unknown_value_patterns_with_many_stars_cost_linear_time() -> None:
    assert_linear("unknown_pattern", 300)


# --- values that grow ---------------------------------------------------------------------


def test_a_property_doubled_on_every_line_costs_linear_time_and_memory() -> None:
    """24 such lines took 627 MB, 32 ended in MemoryError: udev refuses a value longer
    than its buffer, and so does the evaluator."""
    assert_linear("doubling", 400)


# --- joins --------------------------------------------------------------------------------


def test_a_chain_of_unknown_programs_setting_properties_costs_linear_time() -> None:
    """5,000 such line triples took `check` 31 s, 20,000 more than 300 s: each join walked
    every property set so far."""
    assert_linear("program_chain", 1000)


def test_a_chain_of_unknown_programs_adding_links_costs_linear_time() -> None:
    assert_linear("link_chain", 700)


def test_slicing_a_chain_of_gotos_for_a_link_costs_linear_time() -> None:
    """The same chain, each line writing what the link's rule reads, sliced as check does:
    every kept line looked at every GOTO of its file (check: 31 s for 5,000 triples)."""
    assert_linear("sliced_chain", 1000)


def test_slicing_rules_that_read_many_properties_costs_linear_time() -> None:
    assert_linear("sliced_reads", 1000)


def test_imports_of_unknown_programs_after_many_properties_cost_linear_time() -> None:
    # each IMPORT{program} may set any property: marking every one unknown again at each
    # import made 4,000 imports after 4,000 properties take 50 s
    assert_linear("import_chain", 500)
