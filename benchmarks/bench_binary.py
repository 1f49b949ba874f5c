"""Start-up cost of the single-file binary beside the pip-installed tool, in the same run.

    python3 benchmarks/bench_binary.py [--runs N] [--binary FILE] [--staticx FILE]
                                       [--venv DIR] [--check]

Rows, each a whole process timed from spawn to exit, interleaved round by round (a burst
of load on a noisy machine hits every row alike), median over --runs:

  python -c pass           the venv's interpreter doing nothing: the floor
  pip-installed check      `udev-drift check --root <copy of examples/xenserver-host>`,
                           installed with pip into a venv (default /tmp/udev-drift-bench-venv,
                           made or refreshed from this tree)
  binary check             the same command through dist/udev-drift (scripts/build-binary),
                           its unpacked build already cached, as on every run but the first
  binary first run         the same, each time with an empty cache directory: the one-off
                           cost of unpacking a new build
  staticx one-file check   dist/udev-drift-staticx (`scripts/build-binary --staticx`), if
                           there: PyInstaller one-file + staticx, unpacking on every run

Before timing, the binary's JSON report must equal the pip-installed tool's, and every
timed run must exit 1 (the example host has drifted): a broken binary fails the run
(exit 2) instead of posting a fast time. --check makes the exit status 1 when the binary
costs more than GOAL_RATIO times the pip-installed check. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "xenserver-host"
POLICY = REPO / "policies" / "xenserver-local-sata.yaml"
DEFAULT_VENV = Path(tempfile.gettempdir()) / "udev-drift-bench-venv"
GOAL_RATIO = 2.0
COLD_RUNS = 3
TIMEOUT_S = 120.0
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "__pycache__", "*.egg-info",
                                     ".cache", ".hypothesis", ".mypy_cache", ".ruff_cache",
                                     ".pytest_cache", ".benchmarks")


class HarnessError(Exception):
    """A measured command misbehaved: no number of this run is valid."""


@dataclass
class Row:
    label: str
    argv: list[str]
    expect_exit: int
    env: dict[str, str] = field(default_factory=dict)
    fresh_cache: bool = False  # an empty UDEV_DRIFT_CACHE_DIR for every run
    samples: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.samples)


def run_once(row: Row, scratch: Path) -> float:
    env = {**os.environ, **row.env}
    cache = None
    if row.fresh_cache:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=scratch))
        env["UDEV_DRIFT_CACHE_DIR"] = str(cache)
    started = time.perf_counter()
    done = subprocess.run(row.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          timeout=TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - started
    if cache is not None:
        shutil.rmtree(cache)
    if done.returncode != row.expect_exit:
        raise HarnessError(f"{row.label}: exit {done.returncode}, not {row.expect_exit}: "
                           f"{' '.join(row.argv)}\n{done.stderr.decode(errors='replace')}")
    return elapsed


def make_venv(venv: Path, python: str, scratch: Path) -> Path:
    """A venv with udev-drift pip-installed from a copy of this tree (the tree stays clean)."""
    if not (venv / "bin" / "python").exists():
        print(f"making {venv} ({python}) and installing udev-drift with its dependencies", flush=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    source = scratch / "src"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE, symlinks=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(source)], check=True)
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(source)], check=True)
    tool = venv / "bin" / "udev-drift"
    if not tool.exists():
        raise HarnessError(f"{tool}: not installed")
    return tool


def make_tree(where: Path) -> Path:
    """A copy of examples/xenserver-host, its policy copied in (the repository links it)."""
    shutil.copytree(EXAMPLE, where, symlinks=True)
    policy = where / "etc" / "udev-drift" / "policies.d" / POLICY.name
    policy.unlink()
    shutil.copy2(POLICY, policy)
    return where


def same_report(tool: str, binary: str, tree: Path, env: dict[str, str]) -> None:
    """The binary must report what the pip-installed tool reports, before anything is timed."""
    reports = []
    for argv in ([tool], [binary]):
        done = subprocess.run([*argv, "check", "--root", str(tree), "--format", "json"],
                              capture_output=True, text=True, env={**os.environ, **env},
                              timeout=TIMEOUT_S, check=False)
        if done.returncode != 1:
            raise HarnessError(f"{argv[0]} check: exit {done.returncode}, not 1\n{done.stderr}")
        reports.append(json.loads(done.stdout))
    if reports[0] != reports[1]:
        raise HarnessError(f"{binary} reports differently from {tool}")


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({model or 'unknown CPU'}), Linux {platform.release()}, "
            f"load {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs per row (default 21)")
    parser.add_argument("--binary", type=Path, default=REPO / "dist" / "udev-drift")
    parser.add_argument("--staticx", type=Path, default=REPO / "dist" / "udev-drift-staticx",
                        help="the staticx build to compare, if it exists")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                        help=f"where to pip-install udev-drift (default {DEFAULT_VENV})")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python that makes the venv (default: this one)")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when the binary costs over {GOAL_RATIO:g}x the pip-installed check")
    args = parser.parse_args()
    if not args.binary.is_file():
        print(f"bench_binary: {args.binary}: no such file; build it with scripts/build-binary",
              file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="udev-drift-bench-") as scratch_name:
        scratch = Path(scratch_name)
        try:
            tool = make_venv(args.venv, args.python, scratch)
            tree = make_tree(scratch / "host")
            cache = scratch / "cache"
            cache.mkdir(mode=0o700)
            warm = {"UDEV_DRIFT_CACHE_DIR": str(cache)}
            same_report(str(tool), str(args.binary), tree, warm)
            check = ["check", "--root", str(tree)]
            rows = [
                Row("python -c pass", [str(args.venv / "bin" / "python"), "-c", "pass"], 0),
                Row("pip-installed check", [str(tool), *check], 1),
                Row("binary check (cached)", [str(args.binary), *check], 1, env=warm),
            ]
            if args.staticx.is_file():
                rows.append(Row("staticx one-file check", [str(args.staticx), *check], 1))
            cold = Row("binary first run (unpack)", [str(args.binary), *check], 1, fresh_cache=True)
            for row in rows:  # warm-up: disk cache, bytecode, the binary's unpacked build
                run_once(row, scratch)
            for _ in range(args.runs):
                for row in rows:
                    row.samples.append(run_once(row, scratch))
            for _ in range(COLD_RUNS):
                cold.samples.append(run_once(cold, scratch))
        except HarnessError as error:
            print(f"bench_binary: {error}", file=sys.stderr)
            return 2

    python_row, pip_row, binary_row = rows[0], rows[1], rows[2]
    print(f"machine: {machine()}")
    print(f"pip-installed: {tool} ({args.python})")
    print(f"binary: {args.binary} ({args.binary.stat().st_size:,} bytes)")
    print(f"tree: copy of {EXAMPLE.relative_to(REPO)}; medians of {args.runs} interleaved runs "
          f"({COLD_RUNS} for the first run)\n")
    print(f"{'':28}{'median':>9}{'min':>9}{'max':>9}   ratio")
    for row in [*rows, cold]:
        if row is python_row:
            versus = ""
        elif row is pip_row:
            versus = f"{row.median() / python_row.median():.2f}x python -c pass"
        else:
            versus = f"{row.median() / pip_row.median():.2f}x pip-installed"
        low, high = min(row.samples), max(row.samples)
        print(f"{row.label:28}{row.median():8.3f}s{low:8.3f}s{high:8.3f}s   {versus}")
    ratio = binary_row.median() / pip_row.median()
    met = ratio <= GOAL_RATIO
    print(f"\ngoal: the binary's check at most {GOAL_RATIO:g}x the pip-installed check: "
          f"{ratio:.2f}x, {'met' if met else 'MISSED'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
