"""Instructions (valgrind callgrind, the whole process) of run.py's seed rows, for several
git revisions on the same generated trees: numbers that no load on the machine changes.

    .venv/bin/python benchmarks/callgrind_rows.py main HEAD
    .venv/bin/python benchmarks/callgrind_rows.py main HEAD --rows miss,hit,rules_5000,floor_b

Rows, as run.py builds them (hosts.py trees): `miss` the installed seed host after one
vendor rule was added, its verdict cache put back before the counted run (the policy
cache hits); `hit` the same host checked again, unchanged; `rules_5000` a first run on the
5,000-rule vendor file; `floor_b` importing the five dependencies. Each revision is
exported (`git archive`) and run as `python -m checker` from its tree, with its own copy
of each installed tree (the caches are keyed by the code); bytecode is written by an
uncounted run first. Needs valgrind; stdlib otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from compare_revisions import export
from hosts import VENDOR_FILE, HostSpec, build_host
from run import CHANGED_RULE, FLOOR_B_IMPORTS, STATE_DIR, VERDICT_CACHE

ROWS = ("miss", "hit", "rules_5000", "floor_b")


def instructions(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                          cwd=cwd, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None or done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", metavar="REV",
                        help="git revisions; the first is the baseline")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated, of: " + ", ".join(ROWS))
    args = parser.parse_args()
    rows = args.rows.split(",")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    with tempfile.TemporaryDirectory(prefix="udev-drift-callgrind-") as tmp:
        work = Path(tmp)
        seed = build_host(work / "seed", HostSpec(100, 1, 10)).root
        big = build_host(work / "rules_5000", HostSpec(5_000, 1, 10)).root
        counts: dict[tuple[str, str], int] = {}
        for index, rev in enumerate(args.revisions):
            tree = export(rev, work / f"tree-{index}")
            check = [sys.executable, "-m", "checker", "check", "--root"]
            installed = work / f"installed-{index}"
            shutil.copytree(seed, installed, symlinks=True)
            (installed / STATE_DIR).mkdir(parents=True, mode=0o700)
            subprocess.run(check + [str(installed)], cwd=tree, env=env, capture_output=True)
            verdicts = installed / STATE_DIR / VERDICT_CACHE
            saved = work / f"verdicts-{index}.json"
            shutil.copy2(verdicts, saved)
            with open(installed / VENDOR_FILE.lstrip("/"), "a", encoding="utf-8") as handle:
                handle.write(CHANGED_RULE)
            subprocess.run(check + [str(big)], cwd=tree, env=env, capture_output=True)  # bytecode
            for row in rows:
                if row in ("miss", "hit"):
                    shutil.copy2(saved, verdicts)  # a miss: the cache as before the rule was added
                    if row == "hit":  # the miss writes the cache the hit then reads
                        subprocess.run(check + [str(installed)], cwd=tree, env=env, capture_output=True)
                    else:  # an uncounted miss first: bytecode written, caches as they will be
                        subprocess.run(check + [str(installed)], cwd=tree, env=env, capture_output=True)
                        shutil.copy2(saved, verdicts)
                    counts[(row, rev)] = instructions(check + [str(installed)], tree, env)
                elif row == "rules_5000":
                    counts[(row, rev)] = instructions(check + [str(big)], tree, env)
                elif row == "floor_b":
                    counts[(row, rev)] = instructions([sys.executable, "-c", FLOOR_B_IMPORTS], tree, env)
                else:
                    raise SystemExit(f"unknown row {row!r}: one of {', '.join(ROWS)}")
    base = args.revisions[0]
    print(f"instructions (callgrind, whole process); ratio to {base}")
    for row in rows:
        first = counts[(row, base)]
        cells = ", ".join(f"{rev} {counts[(row, rev)] / 1e6:.1f} M ({counts[(row, rev)] / first:.2f})"
                          for rev in args.revisions)
        print(f"  {row:<11} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
