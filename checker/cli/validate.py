"""`udev-drift validate`: load and validate policy files as `check` would; reads nothing on the host."""

from __future__ import annotations

import argparse
import logging

from checker.cli.options import EXIT_COMPLIANT

log = logging.getLogger("udev-drift")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    validate = commands.add_parser(
        "validate", help=summary,
        description="Load and validate policy files as `check` would, and report every problem "
                    "with file, line, column and key path. Reads nothing on the host.")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="policy files or directories")
    return validate


def run(args: argparse.Namespace) -> int:
    from checker.engine import load_desired

    policies = load_desired(args.paths)
    for policy in policies:
        for entry in policy.rules:
            for warning in entry.udev_warnings():
                log.warning("%s", warning)
        print(f"{policy.path}: ok: policy {policy.name}, {len(policy.rules)} rules "
              f"entr{'y' if len(policy.rules) == 1 else 'ies'}, {len(policy.symlinks)} "
              f"symlink{'s' if len(policy.symlinks) != 1 else ''} (after for_each)")
    return EXIT_COMPLIANT
