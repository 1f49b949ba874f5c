"""`udev-drift install`: put in place what makes the host check itself (checker/install/)."""

from __future__ import annotations

import argparse
import sys

from checker.cli.options import EXIT_COMPLIANT, resolve_root
from checker.install.target import DEFAULT_TEXTFILE_DIR


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    install = commands.add_parser(
        "install", help=summary,
        description="Put in place what runs `udev-drift check --repair` after every boot, every hour, "
                    "every change in a udev rules directory and every package transaction: systemd "
                    "units (or a cron entry where systemd is absent), the hook of each package "
                    "manager found (apt, dnf, yum), /etc/udev-drift/policies.d and the state "
                    "directory. Idempotent; `udev-drift uninstall` takes away exactly what it added.")
    install.add_argument("--root", metavar="DIR",
                         help="install into the tree DIR (a host image, a test tree): every path under "
                              "DIR, units enabled with `systemctl --root=DIR`, nothing started")
    install.add_argument("--dry-run", action="store_true",
                         help="show each file it would write (as a diff), each directory and each command, "
                              "and change nothing")
    install.add_argument("--textfile-dir", metavar="DIR", default=DEFAULT_TEXTFILE_DIR,
                         help="node_exporter's textfile directory, where each run writes udev_drift.prom "
                              "(default %(default)s; made if missing; a host path, so under --root DIR "
                              "it is made inside DIR)")
    install.add_argument("--no-textfile", action="store_true",
                         help="write no metrics file (a host without node_exporter)")
    install.add_argument("--binary", metavar="PATH",
                         help="the udev-drift command the units, hooks and cron run (default: this "
                              "udev-drift's own path; /usr/local/bin/udev-drift for the self-contained "
                              "binary)")
    install.add_argument("--systemd", choices=("219", "252", "auto"), default="auto",
                         help="write units for this systemd version: 219 (XenServer 8, XCP-ng 8, "
                              "CentOS 7) or 252 and later; auto (default) reads the target's "
                              "package database or systemd binary, never runs it, and takes 252 "
                              "where neither says")
    return install


def run(args: argparse.Namespace) -> int:
    from checker.host import Host
    from checker.install.installer import Installer
    from checker.install.systemctl import Systemctl
    from checker.install.target import Settings, default_binary, safe_path, target_for

    target = target_for(Host(resolve_root(args.root)), None if args.systemd == "auto" else int(args.systemd))
    textfile_dir = None if args.no_textfile else safe_path("--textfile-dir", args.textfile_dir)
    settings = Settings(safe_path("--binary", args.binary or default_binary()), textfile_dir)
    Installer(target, settings, Systemctl(target.host, target.live), sys.stdout, args.dry_run).run()
    return EXIT_COMPLIANT
