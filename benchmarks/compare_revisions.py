"""The same check from several git revisions, side by side: did a change make it slower?

    .venv/bin/python benchmarks/compare_revisions.py 7449014 HEAD      # two revisions
    .venv/bin/python benchmarks/compare_revisions.py A B C --runs 60

Each revision is exported (`git archive`) to a temporary tree and run with this Python
(`python -m checker`, the revision's own code first on the path) on one copy of the bundled
example host: a cold check (no state directory: policies through YAML and pydantic) and a
warm one (the policy cache of an installed host). Runs are interleaved, the order rotating,
so that load from elsewhere falls on every revision alike; each run's CPU time (user +
system, of the child) is taken, which a busy machine disturbs less than wall time. Bytecode
is cached outside the trees (the first run of each writes it, as an installed copy has it).
Prints medians and the ratio to the first revision. Stdlib, with the interpreter that has
udev-drift's dependencies: `.venv/bin/python benchmarks/compare_revisions.py ...`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from example_host import REPO, child_env, copy_example


def export(revision: str, target: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target)  # noqa: S202 - our own repository's archive
    return target


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", metavar="REV",
                        help="git revisions; the first is the baseline")
    parser.add_argument("--runs", type=int, default=40,
                        help="runs per revision and case (default %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="udev-drift-revs-") as tmp:
        work = Path(tmp)
        host = copy_example(work / "host")
        os.chmod(host / "etc/udev-drift/policies.d/xenserver-local-sata.yaml", 0o644)
        env = child_env(work / "pycache")
        env.pop("PYTHONPATH", None)
        trees = {rev: export(rev, work / f"tree-{index}") for index, rev in enumerate(args.revisions)}
        states = {rev: work / f"state-{index}" for index, rev in enumerate(args.revisions)}

        def command(rev: str, warm: bool) -> list[str]:
            run = [sys.executable, "-m", "checker", "check", "--root", str(host)]
            return run + ["--state-dir", str(states[rev])] if warm else run

        for rev in trees:  # the warm runs' cache
            states[rev].mkdir(mode=0o700)
            subprocess.run(command(rev, True), cwd=trees[rev], env=env, capture_output=True,
                           check=False)
        times: dict[tuple[str, bool], list[float]] = {
            (rev, warm): [] for rev in trees for warm in (False, True)}
        order = list(trees)
        for turn in range(args.runs):
            rotated = order[turn % len(order):] + order[:turn % len(order)]
            for warm in (False, True):
                for rev in rotated:
                    before = cpu_of_children()
                    done = subprocess.run(command(rev, warm), cwd=trees[rev], env=env,
                                          capture_output=True, text=True)
                    if done.returncode not in (0, 1):
                        print(f"{rev}: check failed ({done.returncode}): {done.stderr.strip()[-500:]}",
                              file=sys.stderr)
                        return 2
                    times[(rev, warm)].append(cpu_of_children() - before)
    base = args.revisions[0]
    print(f"median CPU time of `check --root <example>`, {args.runs} interleaved runs each; ratio to {base}")
    for warm in (False, True):
        first = statistics.median(times[(base, warm)])
        row = ", ".join(f"{rev} {statistics.median(times[(rev, warm)]) * 1000:.0f} ms "
                        f"({statistics.median(times[(rev, warm)]) / first:.2f})" for rev in args.revisions)
        print(f"  {'warm (installed host)' if warm else 'cold (first run)     '}: {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
