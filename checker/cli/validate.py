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
    validate.add_argument("--udev", choices=("252", "219", "both"), default="252",
                          help="also read every rule as this udev does, for the hosts the policies "
                               "run on: 219 (XenServer 8, XCP-ng 8, RHEL/CentOS 7), both, or 252 "
                               "only (default); a rule that udev drops or reads otherwise is an error")
    return validate


def run(args: argparse.Namespace) -> int:
    from checker.engine import load_desired
    from checker.errors import PolicyError, raise_all
    from checker.policy.semantics import problems_for
    from checker.rules.semantics import UDEV_219

    policies = load_desired(args.paths)
    errors: list[PolicyError] = []
    for policy in policies:
        for entry in policy.rules:
            for warning in entry.udev_warnings():
                log.warning("%s", warning)
        if args.udev in ("219", "both"):
            found, warnings = problems_for(policy, UDEV_219)
            errors.extend(found)
            for warning in warnings:
                log.warning("%s", warning)
    raise_all(errors)
    for policy in policies:
        print(f"{policy.path}: ok: policy {policy.name}, {len(policy.rules)} rules "
              f"entr{'y' if len(policy.rules) == 1 else 'ies'}, {len(policy.symlinks)} "
              f"symlink{'s' if len(policy.symlinks) != 1 else ''} (after for_each)")
    return EXIT_COMPLIANT
