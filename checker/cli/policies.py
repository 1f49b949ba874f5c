"""`udev-drift policies [NAME]`: list the policies that ship with udev-drift, or print one."""

from __future__ import annotations

import argparse
import sys

from checker.cli.options import EXIT_COMPLIANT
from checker.errors import UsageError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    shipped = commands.add_parser(
        "policies", help=summary,
        description="Without NAME: list the shipped policies. With NAME: print that policy, "
                    "to copy into /etc/udev-drift/policies.d/ and edit.")
    shipped.add_argument("name", nargs="?", metavar="NAME", help="a shipped policy's name")
    return shipped


def run(args: argparse.Namespace) -> int:
    from checker.policy.shipped import shipped_policies

    policies = shipped_policies()
    if args.name is None:
        width = max(len(name) for name in policies)
        for name, (_, description) in policies.items():
            print(f"{name:{width}}  {description}")
        return EXIT_COMPLIANT
    if args.name not in policies:
        raise UsageError(f"no shipped policy named {args.name!r}; "
                         f"shipped: {', '.join(policies)}")
    sys.stdout.write(policies[args.name][0])
    return EXIT_COMPLIANT
