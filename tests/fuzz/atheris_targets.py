"""Coverage-guided fuzz targets (atheris, libFuzzer) for the rules parser and the policy
loader. Run by tests/fuzz/test_atheris.py for a bounded number of inputs; by hand:

    python3 tests/fuzz/atheris_targets.py rules -runs=1000000
    python3 tests/fuzz/atheris_targets.py policy -max_total_time=600
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from checker.engine import load_desired
    from checker.errors import UdevDriftError
    from checker.rules.parser import parse_rules

SCRATCH = os.path.join(tempfile.mkdtemp(prefix="udev-drift-atheris-"), "p.yaml")


def fuzz_rules(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    parsed = parse_rules(text)
    for rule in parsed.rules:
        # The canonical form reads back as itself, whatever was parsed.
        again = parse_rules(rule.canonical).rules
        assert len(again) == 1 and again[0].canonical == rule.canonical, (rule.text, rule.canonical)


def fuzz_policy(data: bytes) -> None:
    with open(SCRATCH, "wb") as handle:
        handle.write(data)
    # The tool's own error is fine: the command line prints it in one line.
    with contextlib.suppress(UdevDriftError):
        load_desired([SCRATCH])


TARGETS = {"rules": fuzz_rules, "policy": fuzz_policy}

if __name__ == "__main__":
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()
