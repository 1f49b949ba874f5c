"""Benchmarks of `udev-drift check`, as whole processes, against the project's goals.

    python3 benchmarks/run.py [--quick] [--runs N] [--json FILE] [--tool PATH]

Every row is a whole process (startup included), timed from spawn to exit, run several
times, interleaved with the other rows (so a burst of load on a noisy machine hits every
row alike); the median is reported. Each command's exit status is checked on every run,
and each generated host is checked once with `--format json` against what the generator
knows it holds: a broken tool fails the run instead of getting a fast time.

Stdlib only. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hosts import DRIFTS, Expected, GeneratedHost, HostSpec, build_host  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "xenserver-host"
FLOOR_B_IMPORTS = "import pydantic, pyudev, diff_match_patch, prometheus_client, yaml"
RUN_TIMEOUT_S = 600.0

# The promises the project makes (see benchmarks/README.md).
GOAL_EXAMPLE_OVER_FLOOR = 1.5
GOAL_5000_RULES_S = 0.3

BASE = HostSpec(vendor_rules=100, policies=1, devices=10)  # the seed host, and scaling base
SCALING: dict[str, tuple[str, list[int]]] = {
    "vendor_rules": ("rule", [100, 1_000, 5_000, 20_000]),
    "policies": ("policy", [1, 10, 50]),
    "devices": ("device", [10, 1_000, 10_000]),
}


def vary(dimension: str, size: int) -> HostSpec:
    """The base host with one dimension changed."""
    if dimension == "vendor_rules":
        return replace(BASE, vendor_rules=size)
    if dimension == "policies":
        return replace(BASE, policies=size)
    if dimension == "devices":
        return replace(BASE, devices=size)
    raise ValueError(f"unknown dimension {dimension!r}")


# Env vars that would slow every Python process down or stop bytecode caching.
SCRUB_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONDEVMODE", "PYTHONPROFILEIMPORTTIME",
             "PYTHONTRACEMALLOC", "PYTHONMALLOC", "PYTHONVERBOSE", "PYTHONINSPECT")


class HarnessError(Exception):
    """A measured command misbehaved (wrong exit status, wrong report): no number is valid."""


@dataclass
class Case:
    key: str  # stable id, also the JSON key
    label: str  # what the row says
    argv: list[str]
    expect_exit: int
    host: GeneratedHost | None = None  # generated tree, validated with --format json
    samples: list[float] = field(default_factory=list)  # wall seconds
    rss_kib: int = 0  # peak RSS, from one untimed run under RssProbe

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def iqr(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        q = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q[2] - q[0]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "label": self.label, "argv": self.argv, "expect_exit": self.expect_exit,
            "median_s": self.median, "min_s": min(self.samples), "max_s": max(self.samples),
            "iqr_s": self.iqr(), "samples_s": self.samples,
            "peak_rss_kib": self.rss_kib,
        }
        if self.host is not None:
            spec = self.host.spec
            data["host"] = {"vendor_rules": spec.vendor_rules, "policies": spec.policies,
                            "devices": spec.devices, "drift": spec.drift}
        return data


# --- running one process -------------------------------------------------------------

@dataclass
class Outcome:
    seconds: float
    status: int
    stdout: str
    stderr: str


def run_once(argv: Sequence[str], env: dict[str, str], scratch: Path) -> Outcome:
    """Spawn and wait; output goes to files (no pipe to drain, no deadlock)."""
    out_path, err_path = scratch / "stdout", scratch / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        killer = threading.Timer(RUN_TIMEOUT_S, proc.kill)
        killer.start()
        try:
            _, wait_status, _ = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(wait_status)  # reaped here, not by Popen
    return Outcome(seconds, proc.returncode, out_path.read_text(errors="replace"),
                   err_path.read_text(errors="replace"))


# Peak RSS cannot come from the harness's own wait4/RUSAGE_CHILDREN: Linux carries the
# forked parent's RSS into the child's ru_maxrss at exec, so every child would look at
# least as big as this harness (and RUSAGE_CHILDREN is a maximum, so deltas are 0). A
# small process must spawn the command: GNU time, or else a bare `python -S -I`.
_LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


@dataclass
class RssProbe:
    prefix: list[str]  # put before the command; writes KiB to `report`
    report: Path
    method: str

    @classmethod
    def choose(cls, python: list[str], scratch: Path, env: dict[str, str]) -> RssProbe:
        report = scratch / "rss"
        gnu_time = cls(["/usr/bin/time", "-f", "%M", "-o", str(report)], report, "/usr/bin/time -f %M")
        if os.access("/usr/bin/time", os.X_OK):
            done = subprocess.run(gnu_time.prefix + ["true"], env=env, capture_output=True)
            if done.returncode == 0 and report.read_text().strip().isdigit():
                return gnu_time
        return cls(python + ["-S", "-I", "-c", _LAUNCHER, str(report)], report,
                   "wait4 in a bare python -S -I launcher")

    def measure(self, case: Case, env: dict[str, str], scratch: Path) -> None:
        """One untimed run under the probe: the exit status is checked here too."""
        self.report.unlink(missing_ok=True)
        outcome = run_once(self.prefix + case.argv, env, scratch)
        if outcome.status != case.expect_exit:
            raise _fail(case, case.argv, outcome, _status_problem(outcome, case.expect_exit))
        # GNU time adds "Command exited with non-zero status N" before the number.
        text = self.report.read_text().strip() if self.report.exists() else ""
        text = text.splitlines()[-1] if text else ""
        if not text.isdigit():
            raise HarnessError(f"{case.label}: no peak RSS from {self.method}: {text!r}")
        case.rss_kib = int(text)


def _fail(case: Case, argv: Sequence[str], outcome: Outcome, problem: str) -> HarnessError:
    tail = "\n".join(("    " + line) for line in outcome.stderr.strip().splitlines()[-8:])
    return HarnessError(f"{case.label}: {problem}\n  command: {shlex.join(argv)}\n"
                        f"  exit status: {outcome.status}\n"
                        f"  stderr (last lines):\n{tail or '    (empty)'}")


def _status_problem(outcome: Outcome, expected: int) -> str:
    return f"exit status {outcome.status}, expected {expected}"


def measure(case: Case, env: dict[str, str], scratch: Path) -> None:
    outcome = run_once(case.argv, env, scratch)
    if outcome.status != case.expect_exit:
        raise _fail(case, case.argv, outcome, _status_problem(outcome, case.expect_exit))
    case.samples.append(outcome.seconds)


def validate(case: Case, env: dict[str, str], scratch: Path) -> None:
    """Check once that the command does what the row claims (untimed; also warms caches)."""
    if case.host is None:
        outcome = run_once(case.argv, env, scratch)
        if outcome.status != case.expect_exit:
            raise _fail(case, case.argv, outcome, _status_problem(outcome, case.expect_exit))
        return
    argv = case.argv + ["--format", "json"]
    outcome = run_once(argv, env, scratch)
    expected: Expected = case.host.expected
    if outcome.status != expected.exit_status:
        raise _fail(case, argv, outcome, _status_problem(outcome, expected.exit_status))
    try:
        report = json.loads(outcome.stdout)
    except ValueError as error:
        raise _fail(case, argv, outcome, f"stdout is not one JSON document: {error}") from None
    findings = [f for policy in report.get("policies", []) for f in policy.get("findings", [])]
    got = {
        "compliant": report.get("compliant"),
        "policies": len(report.get("policies", [])),
        "rule findings": sum(1 for f in findings if f.get("kind") == "rule"),
        "symlink findings": sum(1 for f in findings if f.get("kind") == "symlink"),
        "drifted (kind, status)": sorted((f.get("kind"), f.get("status")) for f in findings
                                         if f.get("status") != "ok"),
    }
    want = {
        "compliant": expected.exit_status == 0,
        "policies": expected.policies,
        "rule findings": expected.rule_findings,
        "symlink findings": expected.symlink_findings,
        "drifted (kind, status)": sorted(expected.drifted),
    }
    wrong = [f"{key}: got {got[key]!r}, expected {want[key]!r}"
             for key in want if got[key] != want[key]]
    if wrong:
        raise _fail(case, argv, outcome, "the JSON report does not match the generated host: "
                    + "; ".join(wrong))


# --- the machine ---------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("model name", "Hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def interpreter_of(tool: str) -> list[str]:
    """The Python a console script runs on (its shebang), so floors use the same one."""
    try:
        with open(tool, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError as error:
        raise HarnessError(f"--tool {tool}: cannot read it: {error.strerror}") from None
    if not first.startswith("#!"):
        print(f"warning: {tool} has no shebang; floors use {sys.executable}", file=sys.stderr)
        return [sys.executable]
    return shlex.split(first[2:])


def machine_info(python: list[str], env: dict[str, str]) -> dict[str, Any]:
    code = "import sys; print(sys.version.split()[0]); print(sys.executable)"
    probe = subprocess.run(python + ["-c", code], capture_output=True, text=True, env=env,
                           check=True)
    version, executable = probe.stdout.split("\n")[:2]
    return {
        "nproc": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count()),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python_version": version,
        "python_executable": executable,
        "load_average_at_start": list(os.getloadavg()),
    }


# --- building the rows ---------------------------------------------------------------

def build_cases(tool: list[str], python: list[str], trees: Path
                ) -> tuple[list[Case], dict[HostSpec, Case]]:
    cases = [
        Case("floor_a", "floor A: python -c pass", python + ["-c", "pass"], 0),
        Case("floor_b", "floor B: python -c 'import <5 deps>'",
             python + ["-c", FLOOR_B_IMPORTS], 0),
        Case("example", "check examples/xenserver-host (drift)",
             tool + ["check", "--root", str(EXAMPLE)], 1),
    ]
    by_spec: dict[HostSpec, Case] = {}

    def host_case(key: str, label: str, spec: HostSpec) -> Case:
        if spec in by_spec:
            return by_spec[spec]
        host = build_host(trees / key, spec)
        case = Case(key, label, tool + ["check", "--root", str(host.root)],
                    host.expected.exit_status, host)
        by_spec[spec] = case
        cases.append(case)
        return case

    host_case("seed", "check seed host (100 rules, 1 policy, 10 devices)", BASE)
    host_case("rules_5000", "check 5,000-rule vendor file (compliant)",
              HostSpec(5_000, BASE.policies, BASE.devices))
    host_case("rules_5000_block_missing", "check 5,000 rules, every block missing",
              HostSpec(5_000, BASE.policies, BASE.devices, "block-missing"))
    host_case("rules_5000_rule_changed", "check 5,000 rules, one block rule changed",
              HostSpec(5_000, BASE.policies, BASE.devices, "rule-changed"))
    host_case("rules_20000_block_missing", "check 20,000 rules, every block missing",
              HostSpec(20_000, BASE.policies, BASE.devices, "block-missing"))
    host_case("rules_5000_p10_block_missing", "check 5,000 rules, 10 policies, blocks missing",
              HostSpec(5_000, 10, BASE.devices, "block-missing"))
    host_case("seed_link_missing", "check seed host, one /dev/xapi link missing",
              HostSpec(BASE.vendor_rules, BASE.policies, BASE.devices, "link-missing"))
    for dimension, (_, sizes) in SCALING.items():
        for size in sizes:
            spec = vary(dimension, size)
            host_case(f"{dimension}_{size}", f"scaling {dimension}={size}", spec)
    return cases, by_spec


def scaling_rows(by_spec: dict[HostSpec, Case]) -> dict[str, dict[str, Any]]:
    """Per dimension: median per size, growth per unit between steps, ratio to smallest."""
    tables: dict[str, dict[str, Any]] = {}
    for dimension, (unit, sizes) in SCALING.items():
        cases = [by_spec[vary(dimension, size)] for size in sizes]
        t0 = cases[0].median
        rows = []
        for i, (size, case) in enumerate(zip(sizes, cases)):
            growth = None
            if i:
                growth = (case.median - cases[i - 1].median) / (size - sizes[i - 1])
            rows.append({"size": size, "case": case.key, "median_s": case.median,
                         "iqr_s": case.iqr(), "delta_vs_smallest_s": case.median - t0,
                         "growth_per_unit_s": growth, "ratio_to_smallest": case.median / t0,
                         "peak_rss_kib": case.rss_kib})
        tables[dimension] = {"unit": unit, "rows": rows, **_exponent(sizes, cases)}
    return tables


def _exponent(sizes: Sequence[int], cases: Sequence[Case]) -> dict[str, Any]:
    """Growth exponent k of the cost above the smallest case, from the two largest sizes:
    ~1 is linear, ~2 quadratic. Not given when the growth is within the noise."""
    t0 = cases[0].median
    d_mid, d_top = cases[-2].median - t0, cases[-1].median - t0
    noise = max(cases[0].iqr(), cases[-2].iqr(), 0.005)
    if len(cases) < 3 or d_mid <= noise or d_top <= noise:
        return {"exponent": None, "verdict": "growth within noise: no exponent"}
    k = math.log(d_top / d_mid) / math.log((sizes[-1] - sizes[0]) / (sizes[-2] - sizes[0]))
    if k < 1.3:
        verdict = "linear (or better)"
    elif k < 1.8:
        verdict = "between linear and quadratic"
    else:
        verdict = "quadratic or worse"
    return {"exponent": k, "verdict": verdict}


# --- printing ------------------------------------------------------------------------

def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def print_cases(cases: Sequence[Case]) -> None:
    print(f"{'row':<52} {'median s':>9} {'min s':>7} {'iqr ms':>7} {'RSS MiB':>8} {'exit':>4}")
    for case in cases:
        print(f"{case.label:<52} {case.median:>9.3f} {min(case.samples):>7.3f} "
              f"{case.iqr() * 1000:>7.1f} {case.rss_kib / 1024:>8.1f} "
              f"{case.expect_exit:>4}")


def print_scaling(tables: dict[str, dict[str, Any]]) -> None:
    print(f"\nscaling: compliant hosts; base {BASE.vendor_rules} rules, {BASE.policies} policy, "
          f"{BASE.devices} devices; one dimension varied at a time")
    header = (f"{'dimension':<13} {'size':>7} {'median s':>9} {'iqr ms':>7} {'+ms vs 1st':>11} "
              f"{'growth per unit':>18} {'ratio':>6} {'RSS MiB':>8}")
    for dimension, table in tables.items():
        print("\n" + header)
        for row in table["rows"]:
            growth = row["growth_per_unit_s"]
            per_unit = "-" if growth is None else f"{growth * 1e6:.1f} us/{table['unit']}"
            print(f"{dimension:<13} {row['size']:>7,} {row['median_s']:>9.3f} "
                  f"{row['iqr_s'] * 1000:>7.1f} {_ms(row['delta_vs_smallest_s']):>11} "
                  f"{per_unit:>18} {row['ratio_to_smallest']:>6.2f} "
                  f"{row['peak_rss_kib'] / 1024:>8.1f}")
        exponent = table["exponent"]
        shown = "n/a" if exponent is None else f"{exponent:.2f}"
        print(f"{'':<13} growth exponent (two largest sizes, above the smallest): {shown}"
              f" -> {table['verdict']}")


def ratios(by_key: dict[str, Case]) -> list[dict[str, Any]]:
    example, floor_a, floor_b = by_key["example"], by_key["floor_a"], by_key["floor_b"]
    rules_5000 = by_key["rules_5000"]
    return [
        {"name": "example check / import floor", "value": example.median / floor_b.median,
         "goal": GOAL_EXAMPLE_OVER_FLOOR, "unit": "x",
         "note": "check --root examples/xenserver-host over floor B"},
        {"name": "5,000-rule check seconds", "value": rules_5000.median, "goal": GOAL_5000_RULES_S,
         "unit": "s", "note": "whole process, compliant host, 1 policy, 10 devices"},
        {"name": "example check / bare interpreter", "value": example.median / floor_a.median,
         "goal": None, "unit": "x", "note": "for information: over floor A"},
        {"name": "example check - import floor", "value": example.median - floor_b.median,
         "goal": None, "unit": "s", "note": "for information: the tool's own time above floor B"},
    ]


def print_ratios(items: Sequence[dict[str, Any]]) -> bool:
    print("\nratios the project promises")
    all_met = True
    for item in items:
        value = f"{item['value']:.3f} {item['unit']}"
        if item["goal"] is None:
            verdict = "(info)"
        else:
            met = item["value"] <= item["goal"]
            item["met"] = met
            all_met = all_met and met
            verdict = f"goal <= {item['goal']} {item['unit']}: {'MET' if met else 'MISSED'}"
        print(f"  {item['name']:<34} {value:>11}   {verdict}   [{item['note']}]")
    return all_met


# --- main ----------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark `udev-drift check` as whole processes.")
    parser.add_argument("--quick", action="store_true", help="5 runs per row instead of 11")
    parser.add_argument("--runs", type=int, help="runs per row (overrides --quick)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--tool", metavar="PATH",
                        help="an installed `udev-drift` console script (default: python -m checker "
                             "from this repository)")
    parser.add_argument("--check-goals", action="store_true",
                        help="exit 1 when a goal is missed (default: report only)")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 11)
    if runs < 1:
        parser.error("--runs must be at least 1")

    try:
        return _run(args, runs)
    except HarnessError as error:
        print(f"\nbenchmark FAILED: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, runs: int) -> int:
    if args.tool:
        tool = [os.path.abspath(args.tool)]
        python = interpreter_of(tool[0])
    else:
        tool = [sys.executable, "-m", "checker"]
        python = [sys.executable]

    with tempfile.TemporaryDirectory(prefix="udev-drift-bench-") as tmp:
        work = Path(tmp)
        scratch = work / "scratch"
        scratch.mkdir()
        # Bytecode goes to the temp dir (warmed by the validation run), not into the repo.
        env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

        machine = machine_info(python, env)
        rss = RssProbe.choose(python, scratch, env)
        machine["rss_method"] = rss.method
        version = run_once(tool + ["--version"], env, scratch)
        print("udev-drift benchmarks")
        print(f"machine: nproc {machine['nproc']} (cpu_count {machine['cpu_count']}), "
              f"{machine['cpu_model']}, Linux {machine['kernel']}, load at start "
              + " ".join(f"{x:.2f}" for x in machine["load_average_at_start"]))
        print(f"python:  {machine['python_version']} ({machine['python_executable']})")
        print(f"tool:    {shlex.join(tool)} -> {(version.stdout or version.stderr).strip()}")
        print(f"method:  {runs} run{'s' if runs > 1 else ''} per row, interleaved; median wall "
              f"time of the whole process; peak RSS from one untimed run under {rss.method}")

        started = time.perf_counter()
        cases, by_spec = build_cases(tool, python, work / "hosts")
        print(f"hosts:   {len(by_spec)} generated in {time.perf_counter() - started:.1f} s; "
              f"drift kinds: {', '.join(DRIFTS)}")

        for case in cases:  # correctness first: a wrong report never gets a time
            validate(case, env, scratch)
        print(f"checked: {len(cases)} rows exit as expected; generated hosts' JSON reports match")
        for case in cases:  # one untimed warm-up in the measured format, for peak RSS
            rss.measure(case, env, scratch)
        started = time.perf_counter()
        for round_ in range(runs):
            shift = round_ % len(cases)  # rotate the order so no row always runs first
            for case in cases[shift:] + cases[:shift]:
                measure(case, env, scratch)
        print(f"timed:   {runs * len(cases)} runs in {time.perf_counter() - started:.1f} s\n")
        machine["load_average_at_end"] = list(os.getloadavg())

    by_key = {case.key: case for case in cases}
    fixed = [c for c in cases if not c.key.startswith(tuple(SCALING))]
    print_cases(fixed)
    tables = scaling_rows(by_spec)
    print_scaling(tables)
    items = ratios(by_key)
    all_met = print_ratios(items)
    print(f"\nload at end: {' '.join(f'{x:.2f}' for x in machine['load_average_at_end'])}")

    if args.json:
        document = {
            "machine": machine, "tool": tool, "tool_version": version.stdout.strip(),
            "runs": runs, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cases": {case.key: case.to_json() for case in cases},
            "scaling": tables, "ratios": items,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 1 if args.check_goals and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
