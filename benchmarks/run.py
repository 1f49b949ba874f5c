"""Benchmarks of `udev-drift check`, as whole processes, against the project's goals.

    python3 benchmarks/run.py [--quick] [--runs N] [--json FILE] [--tool PATH] [--no-ansible]

Every row is a whole process (startup included), timed from spawn to exit, run several
times, interleaved with the other rows (so a burst of load on a noisy machine hits every
row alike); the median is reported. Each command's exit status is checked on every run,
and each generated host is checked once with `--format json` against what the generator
knows it holds: a broken tool fails the run instead of getting a fast time. `check
--repair` runs on the seed host, compliant (a no-op) and drifted (a fresh copy of the tree
before every run, made outside the timed region); rows marked warm run on a tree where an
earlier `check --repair` left its state (the policy cache). The baseline is what an admin runs
today: `ansible-playbook --check` with `blockinfile` + `stat` on the same trees
(benchmarks/ansible_baseline.py; ansible-core in the benchmark's own cached venv), its
PLAY RECAP checked on every run.

Stdlib only. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import operator
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ansible_baseline  # noqa: E402
from ansible_baseline import Ansible, AnsibleUnavailable  # noqa: E402
from hosts import (  # noqa: E402
    DRIFTS,
    VENDOR_FILE,
    Expected,
    GeneratedHost,
    HostSpec,
    build_host,
    kernel_name,
    plan_policies,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "xenserver-host"
FLOOR_B_IMPORTS = "import pydantic, pyudev, diff_match_patch, prometheus_client, yaml"
# What a run that validates policies cannot avoid: YAML, and pydantic building and using
# one model (a trivial one). `import pydantic` alone (in floor B) is lazy and imports
# almost nothing of it; the first model imports the schema machinery.
FLOOR_C_IMPORTS = ("import yaml; from pydantic import create_model; "
                   "create_model('M', x=(int, 1)).model_validate({'x': 2})")
RUN_TIMEOUT_S = 600.0

# The promises the project makes (see benchmarks/README.md).
GOAL_EXAMPLE_OVER_FLOOR = 1.5
GOAL_5000_RULES_S = 0.3
GOAL_SEED_VS_ANSIBLE = 8.0  # Ansible's --check takes at least 8x the seed check
GOAL_SEED_OVER_FLOOR = 1.3
GOAL_SEED_RSS_MIB = 40.0
GOAL_LARGE_S = 1.0
# The verdict cache (answers of the rule set kept in the state directory)
GOAL_HIT_OVER_FLOOR_A = 3.0  # the installed seed check, nothing changed, over floor A
GOAL_SEED_MISS_OVER_FLOOR_B = 0.65  # the same after one vendor rule changed, over floor B
GOAL_LARGE_HIT_OVER_FLOOR_B = 2.0  # 20,000 rules + 10,000 devices, nothing changed
GOAL_LARGE_MISS_OVER_FLOOR_B = 5.0  # the same after one vendor rule changed
GOAL_5000_RULES_NEW_S = 0.25
GOAL_SEED_RSS_NEW_MIB = 35.0

BASE = HostSpec(vendor_rules=100, policies=1, devices=10)  # the seed host, and scaling base
BASE_DRIFTED = replace(BASE, drift="block-missing")  # the seed host after a vendor update
LARGE = HostSpec(vendor_rules=20_000, policies=1, devices=10_000)  # the combined large host
STATE_DIR = "var/lib/udev-drift"  # the tool's state under --root
POLICY_CACHE = "policy-cache.json"  # what a state-writing run leaves for the runs after it
VERDICT_CACHE = "verdict-cache.json"  # the rule set's answers, left by the same runs
CHANGED_RULE = 'KERNEL=="bench-none", SUBSYSTEM=="block", ENV{BENCH_CHANGED}="1"\n'
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
    group: str = "tool"  # "floor", "tool" or "ansible"
    env_extra: dict[str, str] = field(default_factory=dict)  # on top of the common env
    prepare: Callable[[], None] | None = None  # before every run, untimed (fresh tree copy)
    setup: Callable[[dict[str, str], Path], None] | None = None  # once, before validation
    tree: Path | None = None  # the tree the command acts on (when not `host.root`)
    unchanged: bool = False  # the validation run must leave `tree` as it was (var/ aside)
    repaired: list[tuple[str, str]] | None = None  # --repair row: (kind, was) it must repair
    after: GeneratedHost | None = None  # `tree` must then check as this compliant host
    recap_changed: int | None = None  # Ansible row: `changed=` its PLAY RECAP must show

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, **self.env_extra} if self.env_extra else env

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
        if self.prepare is not None:
            data["fresh_copy_each_run"] = True
        if self.setup is not None:
            data["warm_state"] = True  # an earlier `check --repair` left its state dir
        if self.recap_changed is not None:
            data["recap_changed"] = self.recap_changed
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
        if case.prepare is not None:
            case.prepare()
        outcome = run_once(self.prefix + case.argv, case.environment(env), scratch)
        _check_outcome(case, case.argv, outcome)
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


def _check_outcome(case: Case, argv: Sequence[str], outcome: Outcome) -> None:
    """What every run of the row must show: its exit status, and for Ansible its recap."""
    if outcome.status != case.expect_exit:
        raise _fail(case, argv, outcome, _status_problem(outcome, case.expect_exit))
    if case.recap_changed is not None:
        problem = ansible_baseline.recap_problem(outcome.stdout, case.recap_changed)
        if problem:
            raise _fail(case, argv, outcome, problem)


def measure(case: Case, env: dict[str, str], scratch: Path) -> None:
    if case.prepare is not None:
        case.prepare()  # outside the timed region
    outcome = run_once(case.argv, case.environment(env), scratch)
    _check_outcome(case, case.argv, outcome)
    case.samples.append(outcome.seconds)


def validate(case: Case, tool: list[str], env: dict[str, str], scratch: Path) -> None:
    """Check once that the command does what the row claims (untimed; also warms caches)."""
    if case.setup is not None:
        case.setup(env, scratch)
    if case.prepare is not None:
        case.prepare()
    before = snapshot(case.tree) if case.unchanged and case.tree is not None else None
    if case.repaired is not None and case.host is not None:
        # A repair must report the host compliant, having repaired exactly the drift.
        _validate_report(case, case.argv + ["--format", "json"], compliant(case.host.expected),
                         case.environment(env), scratch, repaired=case.repaired)
    elif case.host is not None:
        _validate_report(case, case.argv + ["--format", "json"], case.host.expected,
                         case.environment(env), scratch)
    else:
        outcome = run_once(case.argv, case.environment(env), scratch)
        _check_outcome(case, case.argv, outcome)
    if before is not None and case.tree is not None:
        changed = sorted(set(before.items()) ^ set(snapshot(case.tree).items()))
        if changed:
            names = sorted({name for name, _ in changed})
            raise HarnessError(f"{case.label}: changed the tree it must leave alone: "
                               + ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
    if case.after is not None and case.tree is not None:
        # What the row wrote must be what the tool calls compliant, block for block.
        _validate_report(case, tool + ["check", "--root", str(case.tree), "--format", "json"],
                         compliant(case.after.expected), env, scratch)
        problem = block_problem(case.tree, case.after.spec)
        if problem:
            raise HarnessError(f"{case.label}: {problem}")


def compliant(expected: Expected) -> Expected:
    """What the same host reports once every drift is repaired."""
    return replace(expected, exit_status=0, drifted=[])


def _validate_report(case: Case, argv: list[str], expected: Expected, env: dict[str, str],
                     scratch: Path, repaired: list[tuple[str, str]] | None = None) -> None:
    outcome = run_once(argv, env, scratch)
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
    if repaired is not None:
        got["repaired (kind, was)"] = sorted((f.get("kind"), f.get("was")) for f in findings
                                             if f.get("was"))
        got["report says repaired"] = report.get("repaired")
        want["repaired (kind, was)"] = sorted(repaired)
        want["report says repaired"] = bool(repaired)
    wrong = [f"{key}: got {got[key]!r}, expected {want[key]!r}"
             for key in want if got[key] != want[key]]
    if wrong:
        raise _fail(case, argv, outcome, "the JSON report does not match the generated host: "
                    + "; ".join(wrong))


def snapshot(root: Path) -> dict[str, str]:
    """Every file and link of a tree (var/, the tool's state, aside): content hash or target."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != "var"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "-> " + os.readlink(path)
            else:
                out[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def block_problem(root: Path, spec: HostSpec) -> str | None:
    """None when each policy's managed block in the vendor file, between its markers, is
    exactly the content the generator expands it to."""
    text = (root / VENDOR_FILE.lstrip("/")).read_text(encoding="utf-8")
    for plan in plan_policies(spec):
        begin, end = f"# BEGIN udev-drift {plan.name}\n", f"# END udev-drift {plan.name}\n"
        if text.count(begin) != 1 or text.count(end) != 1:
            return (f"{VENDOR_FILE}: markers of {plan.name}: {text.count(begin)} BEGIN, "
                    f"{text.count(end)} END, expected one of each")
        inside = text.split(begin, 1)[1].split(end, 1)[0]
        if inside != plan.block_content():
            return f"{VENDOR_FILE}: the block of {plan.name} is not the policy's content"
    return None


def warm_state(tool: list[str], source: Path, tree: Path, label: str,
               then: Callable[[Path], None] | None = None) -> Callable[[dict[str, str], Path], None]:
    """A setup step: `tree` becomes a copy of `source` on which `check --repair` ran once,
    as on a host where the tool ran before: its state dir holds fingerprints and the policy
    cache (keyed by the policy files' absolute paths: the tree must stay where it is, or be
    copied back to the same place). `then(tree)` runs after, e.g. to bring drift back."""
    def setup(env: dict[str, str], scratch: Path) -> None:
        if tree.exists():
            shutil.rmtree(tree)
        shutil.copytree(source, tree, symlinks=True)
        argv = tool + ["check", "--root", str(tree), "--repair"]
        outcome = run_once(argv, env, scratch)
        if outcome.status != 0:
            raise HarnessError(f"{label}: setting up the state dir: {shlex.join(argv)} exited "
                               f"{outcome.status}: {outcome.stderr.strip()[-500:]}")
        if not (tree / STATE_DIR / POLICY_CACHE).is_file():
            raise HarnessError(f"{label}: `check --repair` left no {STATE_DIR}/{POLICY_CACHE}: "
                               "this warm row would time the cold path")
        if then is not None:
            then(tree)
    return setup


def installed_state(tool: list[str], source: Path, tree: Path, label: str,
                    exit_status: int) -> Callable[[dict[str, str], Path], None]:
    """A setup step: `tree` becomes a copy of `source` as on a host where the tool is
    installed (its state dir made, as `install` makes it) and has run once: that first
    plain `check` left the policy cache, so the timed runs are the ones after it."""
    def setup(env: dict[str, str], scratch: Path) -> None:
        if tree.exists():
            shutil.rmtree(tree)
        shutil.copytree(source, tree, symlinks=True)
        (tree / STATE_DIR).mkdir(parents=True, mode=0o700)
        argv = tool + ["check", "--root", str(tree)]
        outcome = run_once(argv, env, scratch)
        if outcome.status != exit_status:
            raise HarnessError(f"{label}: the first check: {shlex.join(argv)} exited "
                               f"{outcome.status}, expected {exit_status}: "
                               f"{outcome.stderr.strip()[-500:]}")
        if not (tree / STATE_DIR / POLICY_CACHE).is_file():
            raise HarnessError(f"{label}: the first `check` left no {STATE_DIR}/{POLICY_CACHE}: "
                               "this warm row would time the cold path")
    return setup


def one_rule_changed(tool: list[str], source: Path, tree: Path, label: str, exit_status: int
                     ) -> tuple[Callable[[dict[str, str], Path], None], Callable[[], None]]:
    """A setup and a prepare step: an installed host (as installed_state) on which one
    vendor rule then changed; before every run the verdict cache is put back as the run
    before the change left it, so that every timed run is a miss of the verdict cache
    (the policy cache still warm)."""
    saved = tree.parent / f"{tree.name}.{VERDICT_CACHE}"
    installed = installed_state(tool, source, tree, label, exit_status)

    def setup(env: dict[str, str], scratch: Path) -> None:
        installed(env, scratch)
        if not (tree / STATE_DIR / VERDICT_CACHE).is_file():
            raise HarnessError(f"{label}: the first `check` left no {STATE_DIR}/{VERDICT_CACHE}")
        shutil.copy2(tree / STATE_DIR / VERDICT_CACHE, saved)
        with open(tree / VENDOR_FILE.lstrip("/"), "a", encoding="utf-8") as handle:
            handle.write(CHANGED_RULE)

    def prepare() -> None:
        shutil.copy2(saved, tree / STATE_DIR / VERDICT_CACHE)
    return setup, prepare


def fresh_copy(source: Path, target: Path) -> Callable[[], None]:
    """A prepare step: the row's tree becomes a new copy of `source` (links kept)."""
    def prepare() -> None:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)
    return prepare


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
        Case("floor_a", "floor A: python -c pass", python + ["-c", "pass"], 0, group="floor"),
        Case("floor_b", "floor B: python -c 'import <5 deps>'",
             python + ["-c", FLOOR_B_IMPORTS], 0, group="floor"),
        Case("floor_c", "floor C: python -c '<yaml + one pydantic model>'",
             python + ["-c", FLOOR_C_IMPORTS], 0, group="floor"),
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

    seed = host_case("seed", "check seed host (100 rules, 1 policy, 10 devices)", BASE)
    seed_drifted = host_case("seed_block_missing", "check seed host, block missing", BASE_DRIFTED)
    assert seed.host is not None and seed_drifted.host is not None
    # Warm rows: the tree of an installed host where the tool ran before (its state dir
    # holds the policy cache, with which a run skips YAML and pydantic): every run after
    # the first, as the timer, the boot and the package hooks run it.
    warm_tree = trees / "seed_warm"
    cases.append(Case("seed_warm", "check seed host, warm (installed: after 1st run)",
                      tool + ["check", "--root", str(warm_tree)], 0, seed.host,
                      setup=installed_state(tool, seed.host.root, warm_tree, "seed_warm", 0),
                      tree=warm_tree, unchanged=True))
    # The same installed host after one vendor rule changed: the verdict cache misses.
    miss_tree = trees / "seed_miss"
    setup, prepare = one_rule_changed(tool, seed.host.root, miss_tree, "seed_miss", 0)
    cases.append(Case("seed_miss", "check seed host, installed, one vendor rule changed",
                      tool + ["check", "--root", str(miss_tree)], 0, seed.host,
                      setup=setup, prepare=prepare, tree=miss_tree))
    # --repair writes its state (var/lib/udev-drift) and, with drift, the rules file: each
    # repair row has its own copy of the tree, never the one the check rows read.
    noop_tree = trees / "repair_noop"
    cases.append(Case("repair_noop", "check --repair seed host, no-op (warm)",
                      tool + ["check", "--root", str(noop_tree), "--repair"], 0, seed.host,
                      setup=warm_state(tool, seed.host.root, noop_tree, "repair_noop"),
                      tree=noop_tree, unchanged=True, repaired=[], after=seed.host))
    drifted = list(seed_drifted.host.expected.drifted)
    drift_tree = trees / "repair_drift"
    cases.append(Case("repair_drift", "check --repair seed, block missing (fresh, cold)",
                      tool + ["check", "--root", str(drift_tree), "--repair"], 0,
                      seed_drifted.host, prepare=fresh_copy(seed_drifted.host.root, drift_tree),
                      tree=drift_tree, repaired=drifted, after=seed.host))
    # The same drift on a host the tool looked after before: a vendor update replaced the
    # rules file after the last repair. Built at the run path (the cache keys are absolute
    # paths), kept aside, copied back before every run.
    warm_drift_tree, warm_drift_pristine = trees / "repair_drift_warm", trees / "drift_warm_src"
    vendor = VENDOR_FILE.lstrip("/")

    def vendor_update(tree: Path) -> None:
        shutil.copy2(seed_drifted.host.root / vendor, tree / vendor)
        tree.rename(warm_drift_pristine)

    cases.append(Case("repair_drift_warm", "check --repair seed, block missing (fresh, warm)",
                      tool + ["check", "--root", str(warm_drift_tree), "--repair"], 0,
                      seed_drifted.host,
                      setup=warm_state(tool, seed.host.root, warm_drift_tree, "repair_drift_warm",
                                       then=vendor_update),
                      prepare=fresh_copy(warm_drift_pristine, warm_drift_tree),
                      tree=warm_drift_tree, repaired=drifted, after=seed.host))
    large = host_case("large", "check 20,000 rules + 10,000 devices (compliant)", LARGE)
    assert large.host is not None
    large_warm_tree = trees / "large_warm"
    cases.append(Case("large_warm", "check 20,000 rules + 10,000 devices, warm",
                      tool + ["check", "--root", str(large_warm_tree)], 0, large.host,
                      setup=installed_state(tool, large.host.root, large_warm_tree, "large_warm", 0),
                      tree=large_warm_tree, unchanged=True))
    large_miss_tree = trees / "large_miss"
    setup, prepare = one_rule_changed(tool, large.host.root, large_miss_tree, "large_miss", 0)
    cases.append(Case("large_miss", "check 20,000 rules + 10,000 devices, one vendor rule changed",
                      tool + ["check", "--root", str(large_miss_tree)], 0, large.host,
                      setup=setup, prepare=prepare, tree=large_miss_tree))
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


def ansible_cases(ansible: Ansible, by_spec: dict[HostSpec, Case], trees: Path, work: Path
                  ) -> list[Case]:
    """ansible-playbook on the seed host's trees: --check on the compliant and the drifted
    tree (the baseline of the issue), and applied to both (what --repair is compared with)."""
    seed, seed_drifted = by_spec[BASE].host, by_spec[BASE_DRIFTED].host
    assert seed is not None and seed_drifted is not None
    env = ansible_baseline.environment(work)
    inventory = ansible_baseline.write_inventory(work / "inventory.ini", ansible)
    plan = plan_policies(BASE)[0]
    link = f"dev/xapi/block/{kernel_name(plan.devices[0])}"

    def playbook(name: str, tree: Path) -> str:
        return str(ansible_baseline.write_playbook(
            work / f"{name}.yml", tree / VENDOR_FILE.lstrip("/"), plan.name,
            plan.block_content(), tree / link))

    command = [str(ansible.playbook_cmd), "-i", str(inventory)]
    noop_tree, drift_tree = trees / "ansible_apply_noop", trees / "ansible_apply_drift"
    shutil.copytree(seed.root, noop_tree, symlinks=True)
    return [
        Case("ansible_check", "ansible-playbook --check, seed host (compliant)",
             command + ["--check", playbook("check", seed.root)], 0, group="ansible",
             env_extra=env, tree=seed.root, unchanged=True, recap_changed=0),
        Case("ansible_check_drift", "ansible-playbook --check, seed, block missing",
             command + ["--check", playbook("check_drift", seed_drifted.root)], 0,
             group="ansible", env_extra=env, tree=seed_drifted.root, unchanged=True,
             recap_changed=1),
        Case("ansible_apply_noop", "ansible-playbook (apply), seed host (compliant)",
             command + [playbook("apply_noop", noop_tree)], 0, group="ansible", env_extra=env,
             tree=noop_tree, unchanged=True, recap_changed=0, after=seed),
        Case("ansible_apply_drift", "ansible-playbook (apply), block missing (fresh copy)",
             command + [playbook("apply_drift", drift_tree)], 0, group="ansible",
             env_extra=env, prepare=fresh_copy(seed_drifted.root, drift_tree), tree=drift_tree,
             recap_changed=1, after=seed),
    ]


def setup_ansible(args: argparse.Namespace, python: list[str]) -> tuple[Ansible | None, str]:
    """The cached venv's Ansible, or None and why the Ansible rows are skipped."""
    if args.no_ansible:
        return None, "skipped (--no-ansible)"
    venv = args.ansible_venv or ansible_baseline.choose_venv()
    try:
        ansible = ansible_baseline.ensure_ansible(
            venv, python, args.ansible_spec, lambda line: print(line, flush=True))
    except AnsibleUnavailable as error:
        if args.require_ansible:
            raise HarnessError(f"--require-ansible: ansible-core is not usable: {error}") from None
        return None, (f"SKIPPED: ansible-core could not be installed into {venv}: {error} "
                      "(--require-ansible makes this an error; --no-ansible silences it)")
    return ansible, f"{ansible.version} ({ansible.playbook_cmd})"


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


def combined_row(by_spec: dict[HostSpec, Case]) -> dict[str, Any]:
    """The large host (20,000 rules and 10,000 devices at once) against the two single-
    dimension hosts: when its cost above the seed is well over the sum of theirs, rules and
    devices interact (e.g. a cost per rule per device)."""
    seed, large = by_spec[BASE], by_spec[LARGE]
    rules = by_spec[vary("vendor_rules", LARGE.vendor_rules)]
    devices = by_spec[vary("devices", LARGE.devices)]
    delta = large.median - seed.median
    parts = (rules.median - seed.median) + (devices.median - seed.median)
    return {"case": large.key, "median_s": large.median, "iqr_s": large.iqr(),
            "delta_vs_seed_s": delta, "rules_delta_s": rules.median - seed.median,
            "devices_delta_s": devices.median - seed.median, "sum_of_deltas_s": parts,
            "ratio_to_sum": delta / parts if parts > 0 else None,
            "ratio_to_seed": large.median / seed.median, "peak_rss_kib": large.rss_kib}


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
    group = cases[0].group if cases else ""
    for case in cases:
        if case.group != group:
            print()
            group = case.group
        print(f"{case.label:<52} {case.median:>9.3f} {min(case.samples):>7.3f} "
              f"{case.iqr() * 1000:>7.1f} {case.rss_kib / 1024:>8.1f} "
              f"{case.expect_exit:>4}")
    print("(udev-drift rows are cold unless marked warm. cold: no state dir, as on a first run "
          "or after a policy changed; warm: an installed host's state dir after an earlier run "
          "(a plain check, or for the repair rows a `check --repair`), policy cache included)")


def print_scaling(tables: dict[str, dict[str, Any]], combined: dict[str, Any]) -> None:
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
    c = combined
    ratio = "n/a" if c["ratio_to_sum"] is None else f"{c['ratio_to_sum']:.2f}"
    print(f"\n{'combined':<13} {LARGE.vendor_rules:,} rules + {LARGE.devices:,} devices: "
          f"median {c['median_s']:.3f} s (iqr {c['iqr_s'] * 1000:.1f} ms), "
          f"{_ms(c['delta_vs_seed_s'])} ms above the seed, ratio {c['ratio_to_seed']:.2f}, "
          f"RSS {c['peak_rss_kib'] / 1024:.1f} MiB")
    print(f"{'':<13} sum of the single-dimension costs above the seed: "
          f"{_ms(c['rules_delta_s'])} ms (rules) + {_ms(c['devices_delta_s'])} ms (devices) = "
          f"{_ms(c['sum_of_deltas_s'])} ms; combined / sum = {ratio} "
          f"(about 1: the two add up; well above 1: they interact)")


# Each udev-drift row and the Ansible row that does the same job on the same tree.
ANSIBLE_PAIRS = (
    ("seed", "ansible_check"),
    ("seed_warm", "ansible_check"),
    ("seed_block_missing", "ansible_check_drift"),
    ("repair_noop", "ansible_apply_noop"),
    ("repair_drift", "ansible_apply_drift"),
    ("repair_drift_warm", "ansible_apply_drift"),
    ("large", None),
    ("large_warm", None),
)


def comparison(by_key: dict[str, Case]) -> list[dict[str, Any]]:
    floor_a, floor_b = by_key["floor_a"], by_key["floor_b"]
    rows = []
    for key, ansible_key in ANSIBLE_PAIRS:
        case = by_key[key]
        other = by_key.get(ansible_key) if ansible_key else None
        rows.append({"case": key, "median_s": case.median,
                     "over_floor_a": case.median / floor_a.median,
                     "over_floor_b": case.median / floor_b.median,
                     "ansible_case": other.key if other else None,
                     "ansible_over_this": other.median / case.median if other else None,
                     "ansible_rss_over_this": (other.rss_kib / case.rss_kib
                                               if other and case.rss_kib else None)})
    for key in dict.fromkeys(k for _, k in ANSIBLE_PAIRS if k is not None and k in by_key):
        case = by_key[key]
        rows.append({"case": key, "median_s": case.median,
                     "over_floor_a": case.median / floor_a.median,
                     "over_floor_b": case.median / floor_b.median,
                     "ansible_case": None, "ansible_over_this": None,
                     "ansible_rss_over_this": None})
    return rows


def print_comparison(rows: Sequence[dict[str, Any]], by_key: dict[str, Case],
                     ansible_note: str) -> None:
    print("\nagainst the floors and Ansible (medians of this run; Ansible / this: how many times "
          "longer the same job takes with Ansible)")
    print(f"{'row':<52} {'median s':>9} {'x floor A':>10} {'x floor B':>10} {'Ansible / this':>15} "
          f"{'RSS x':>6}")
    for row in rows:
        label = by_key[row["case"]].label
        times = "-" if row["ansible_over_this"] is None else f"{row['ansible_over_this']:.1f} x"
        rss = "-" if row["ansible_rss_over_this"] is None else f"{row['ansible_rss_over_this']:.1f}"
        print(f"{label:<52} {row['median_s']:>9.3f} {row['over_floor_a']:>10.2f} "
              f"{row['over_floor_b']:>10.2f} {times:>15} {rss:>6}")
    if "ansible_check" not in by_key:
        print(f"  (no Ansible rows: {ansible_note})")


def ratios(by_key: dict[str, Case], ansible_note: str) -> list[dict[str, Any]]:
    """The performance goals (README, Performance). A check runs after every boot, update
    and rules change on an installed host: those runs are warm (the policies validated by
    the first run), so the seed goals are judged on the warm row; the first run (cold) is
    shown beside them. The size goals are judged on the cold rows, the stricter."""
    example, floor_a, floor_b = by_key["example"], by_key["floor_a"], by_key["floor_b"]
    floor_c = by_key["floor_c"]
    seed, large, rules_5000 = by_key["seed"], by_key["large"], by_key["rules_5000"]
    warm, large_warm = by_key["seed_warm"], by_key["large_warm"]
    seed_miss, large_miss = by_key["seed_miss"], by_key["large_miss"]
    ansible = by_key.get("ansible_check")
    not_measured = f"not measured: Ansible {ansible_note}"
    return [
        {"name": "seed check, unchanged / floor A", "value": warm.median / floor_a.median,
         "goal": GOAL_HIT_OVER_FLOOR_A, "op": "<=", "unit": "x",
         "note": "installed seed host, nothing changed since the last run (verdict cache hit), over floor A"},
        {"name": "seed check, rule changed / floor B", "value": seed_miss.median / floor_b.median,
         "goal": GOAL_SEED_MISS_OVER_FLOOR_B, "op": "<=", "unit": "x",
         "note": "installed seed host after one vendor rule changed (verdict cache miss), over floor B"},
        {"name": "large, unchanged / floor B", "value": large_warm.median / floor_b.median,
         "goal": GOAL_LARGE_HIT_OVER_FLOOR_B, "op": "<=", "unit": "x",
         "note": "20,000 rules + 10,000 devices, installed, nothing changed, over floor B"},
        {"name": "large, rule changed / floor B", "value": large_miss.median / floor_b.median,
         "goal": GOAL_LARGE_MISS_OVER_FLOOR_B, "op": "<=", "unit": "x",
         "note": "20,000 rules + 10,000 devices, installed, one vendor rule changed, over floor B"},
        {"name": "5,000-rule check seconds (new goal)", "value": rules_5000.median,
         "goal": GOAL_5000_RULES_NEW_S, "op": "<=", "unit": "s", "note": "first run, compliant"},
        {"name": "peak RSS of a seed check (new goal)", "value": max(seed.rss_kib, warm.rss_kib) / 1024,
         "goal": GOAL_SEED_RSS_NEW_MIB, "op": "<=", "unit": "MiB", "note": "the first run's (the larger)"},
        {"name": "seed check faster than Ansible",
         "value": ansible.median / warm.median if ansible else None,
         "goal": GOAL_SEED_VS_ANSIBLE, "op": ">=", "unit": "x",
         "note": ("ansible-playbook --check (blockinfile + stat) over check, compliant seed "
                  "host, installed (every run after the first)" if ansible else not_measured)},
        {"name": "seed check / import floor", "value": warm.median / floor_b.median,
         "goal": GOAL_SEED_OVER_FLOOR, "op": "<=", "unit": "x",
         "note": "check of the compliant seed host, installed (runs after the first), over floor B"},
        {"name": "peak RSS of a seed check", "value": max(seed.rss_kib, warm.rss_kib) / 1024,
         "goal": GOAL_SEED_RSS_MIB, "op": "<=", "unit": "MiB",
         "note": "one untimed run under the RSS probe, the first run's (cold, the larger)"},
        {"name": "20,000 rules + 10,000 devices", "value": large.median,
         "goal": GOAL_LARGE_S, "op": "<=", "unit": "s",
         "note": "whole check process on the combined large host, compliant, first run (cold)"},
        {"name": "example check / import floor", "value": example.median / floor_b.median,
         "goal": GOAL_EXAMPLE_OVER_FLOOR, "op": "<=", "unit": "x",
         "note": "check --root examples/xenserver-host (cold: no state dir) over floor B"},
        {"name": "5,000-rule check seconds", "value": rules_5000.median, "goal": GOAL_5000_RULES_S,
         "op": "<=", "unit": "s", "note": "whole process, compliant host, 1 policy, 10 devices, cold"},
        {"name": "first seed check faster than Ansible",
         "value": ansible.median / seed.median if ansible else None,
         "goal": None, "op": ">=", "unit": "x",
         "note": ("for information: the first run on a host, or the first after a policy "
                  "changed (cold: YAML and pydantic)" if ansible else not_measured)},
        {"name": "first seed check / import floor", "value": seed.median / floor_b.median,
         "goal": None, "unit": "x", "note": "for information: the cold run over floor B"},
        {"name": "first seed check / floor C", "value": seed.median / floor_c.median,
         "goal": None, "unit": "x",
         "note": "for information: the cold run over YAML + validating one trivial model"},
        {"name": "20,000 + 10,000, warm", "value": large_warm.median,
         "goal": None, "unit": "s", "note": "for information: the large host, installed"},
        {"name": "peak RSS of a warm seed check", "value": warm.rss_kib / 1024,
         "goal": None, "unit": "MiB", "note": "for information"},
        {"name": "import floor - bare interpreter", "value": floor_b.median - floor_a.median,
         "goal": None, "unit": "s", "note": "for information: importing the 5 dependencies"},
        {"name": "floor C - bare interpreter", "value": floor_c.median - floor_a.median,
         "goal": None, "unit": "s", "note": "for information: YAML + pydantic building and using one model"},
        {"name": "first seed check - import floor", "value": seed.median - floor_b.median,
         "goal": None, "unit": "s", "note": "for information: the cold run's time above floor B"},
        {"name": "example check / bare interpreter", "value": example.median / floor_a.median,
         "goal": None, "unit": "x", "note": "for information: over floor A"},
        {"name": "example check - import floor", "value": example.median - floor_b.median,
         "goal": None, "unit": "s", "note": "for information: the tool's own time above floor B"},
    ]


def print_ratios(items: Sequence[dict[str, Any]]) -> bool:
    print("\nratios the project promises")
    all_met = True
    for item in items:
        if item["value"] is None:
            goal = "" if item["goal"] is None else f"goal {item['op']} {item['goal']} {item['unit']}: "
            print(f"  {item['name']:<38} {'-':>12}   {goal}NOT MEASURED   [{item['note']}]")
            continue
        value = f"{item['value']:.3f} {item['unit']}"
        if item["goal"] is None:
            verdict = "(info)"
        else:
            better = operator.ge if item["op"] == ">=" else operator.le
            met = better(item["value"], item["goal"])
            item["met"] = met
            all_met = all_met and met
            verdict = (f"goal {item['op']} {item['goal']} {item['unit']}: "
                       f"{'MET' if met else 'MISSED'}")
        print(f"  {item['name']:<38} {value:>12}   {verdict}   [{item['note']}]")
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
    parser.add_argument("--no-ansible", action="store_true",
                        help="skip the ansible-playbook rows (nothing is installed)")
    parser.add_argument("--require-ansible", action="store_true",
                        help="fail (exit 2) when ansible-core cannot be installed, instead of "
                             "skipping its rows")
    parser.add_argument("--ansible-venv", type=Path, metavar="DIR",
                        help="the virtual environment for ansible-core, created once and reused "
                             "(default: ~/.cache/udev-drift-bench/ansible-venv, or under the "
                             "temp dir when the cache is not writable)")
    parser.add_argument("--ansible-spec", default=ansible_baseline.ANSIBLE_SPEC, metavar="SPEC",
                        help="what pip installs into that venv (default: %(default)s; e.g. "
                             "'ansible-core==2.17.*'); a new spec reinstalls the venv")
    args = parser.parse_args(argv)
    if args.no_ansible and args.require_ansible:
        parser.error("--no-ansible and --require-ansible contradict each other")
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
        sys.stdout.flush()
        ansible, ansible_note = setup_ansible(args, python)
        print(f"ansible: {ansible_note}")

        started = time.perf_counter()
        cases, by_spec = build_cases(tool, python, work / "hosts")
        if ansible is not None:
            cases += ansible_cases(ansible, by_spec, work / "hosts", work / "ansible")
        print(f"hosts:   {len(by_spec)} generated in {time.perf_counter() - started:.1f} s; "
              f"drift kinds: {', '.join(DRIFTS)}", flush=True)

        for case in cases:  # correctness first: a wrong report never gets a time
            validate(case, tool, env, scratch)
        print(f"checked: {len(cases)} rows exit as expected; generated hosts' JSON reports match; "
              "repaired trees check compliant"
              + ("; Ansible recaps as expected" if ansible else ""), flush=True)
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
    compared = comparison(by_key)
    print_comparison(compared, by_key, ansible_note)
    tables = scaling_rows(by_spec)
    combined = combined_row(by_spec)
    print_scaling(tables, combined)
    items = ratios(by_key, ansible_note)
    all_met = print_ratios(items)
    print(f"\nload at end: {' '.join(f'{x:.2f}' for x in machine['load_average_at_end'])}")

    if args.json:
        document = {
            "machine": machine, "tool": tool, "tool_version": version.stdout.strip(),
            "runs": runs, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "ansible": ({"version": ansible.version, "venv": str(ansible.venv),
                         "spec": args.ansible_spec} if ansible else {"skipped": ansible_note}),
            "cases": {case.key: case.to_json() for case in cases},
            "comparison": compared, "scaling": tables, "combined": combined, "ratios": items,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 1 if args.check_goals and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
