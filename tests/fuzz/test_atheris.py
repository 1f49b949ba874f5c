"""Coverage-guided fuzzing with atheris, bounded for CI: the rules parser never raises and
its canonical form always reads back; the policy loader lets out only the tool's errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (it ships wheels for x86_64 Linux)")

TARGETS = Path(__file__).with_name("atheris_targets.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("target", "runs"), [("rules", 60_000), ("policy", 20_000)])
def test_fuzz_target_survives(target: str, runs: int, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(TARGETS), target, f"-runs={runs}", "-max_total_time=30",
                           f"-artifact_prefix={tmp_path}/"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    executed = re.search(r"Done (\d+) runs", done.stderr)
    assert executed, done.stderr[-2000:]
    print(f"atheris {target}: {executed.group(1)} inputs")
