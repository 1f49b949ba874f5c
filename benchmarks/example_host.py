"""What the serve, abuse and textfile benchmarks share: a copy of the bundled example host,
a child environment with bytecode cached outside the repository, a free loopback port,
and a percentile. Stdlib only."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "xenserver-host"


def copy_example(target: Path) -> Path:
    """The example host at `target`, with the shipped policy copied in (the example links it)."""
    shutil.copytree(EXAMPLE, target, symlinks=True)
    # State a run with --root examples/xenserver-host may have left there is not the example's.
    shutil.rmtree(target / "var", ignore_errors=True)
    policy = target / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
    policy.unlink()
    shutil.copy(REPO / "policies/xenserver-local-sata.yaml", policy)
    return target


def child_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode cached outside the repository, and written (some environments forbid it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]
