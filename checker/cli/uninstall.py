"""`udev-drift uninstall`: take away exactly what `install` added (checker/install/)."""

from __future__ import annotations

import argparse
import sys

from checker.cli.options import EXIT_COMPLIANT, resolve_root


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    uninstall = commands.add_parser(
        "uninstall", help=summary,
        description="Disable the units and remove every file, directory and link that `udev-drift "
                    "install` recorded in its manifest. A file edited since it was installed is kept "
                    "and named; a directory that is not empty is kept. Policies and the state "
                    "directory's backups are never removed.")
    uninstall.add_argument("--root", metavar="DIR", help="uninstall from the tree DIR")
    uninstall.add_argument("--dry-run", action="store_true", help="say what it would do, change nothing")
    return uninstall


def run(args: argparse.Namespace) -> int:
    from checker.host import Host
    from checker.install.systemctl import Systemctl
    from checker.install.target import target_for
    from checker.install.uninstaller import Uninstaller

    target = target_for(Host(resolve_root(args.root)))
    Uninstaller(target, Systemctl(target.host, target.live), sys.stdout, args.dry_run).run()
    return EXIT_COMPLIANT
