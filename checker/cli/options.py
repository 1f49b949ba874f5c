"""What several commands share: --debug, the run options of `check` and `serve`, the exit
statuses, and the one place where a run's settings are made from the parsed arguments."""

from __future__ import annotations

import argparse
import math
import os
from typing import Callable

from checker.errors import UsageError
from checker.host import Host
from checker.paths import POLICY_DIR, STATE_DIR
from checker.settings import RunSettings
from checker.state import LOCK_WAIT_SECONDS
from checker.udevadm.calls import DEFAULT_TIMEOUT as DEFAULT_UDEVADM_TIMEOUT

EXIT_COMPLIANT, EXIT_DRIFT, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


class RawDescription(argparse.RawDescriptionHelpFormatter):
    """argparse's RawDescriptionHelpFormatter, which argparse makes for every argument
    added, without importing shutil (and with it bz2, lzma and zlib, a thirtieth of a run
    answered from the caches) to learn a terminal width that only help text uses: the
    same width, found the way shutil.get_terminal_size() finds it."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _terminal_columns() - 2  # as argparse takes it
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        import sys

        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80

EPILOG = """\
exit status:
  0  compliant at the end of the run (nothing was wrong, or --repair fixed it all)
  1  drift remains (plain check, --dry-run, or a repair that could not fix all)
  2  usage error or invalid policy (nothing on the host was read or written)
  3  runtime failure (I/O error, lock held too long, udevadm failed): no file
     is left half-written

examples:
  udev-drift check                                    # policies in /etc/udev-drift/policies.d
  udev-drift check --repair --dry-run                 # what a repair would change
  udev-drift check --repair                           # put drifted rules back, reload udev
  udev-drift check --root /mnt/host-image             # a host image or test tree
  udev-drift check --format json policies/site.yaml   # one policy, machine-readable
  udev-drift validate policies/                       # lint policies in CI
  udev-drift check --textfile-dir /var/lib/prometheus/node-exporter   # metrics for node_exporter
  udev-drift serve --listen 127.0.0.1:9917            # /metrics for Prometheus to scrape
"""


def seconds(low: float, high: float, *, low_included: bool = True) -> Callable[[str], float]:
    """An argparse type: a duration in seconds within [low, high] (or (low, high]).

    float() takes "nan", "inf" and "1e-300": nan waits for ever (no comparison is true),
    inf never times out, and a tiny interval busy-loops; none of them is a duration.
    """
    bound = "from" if low_included else "more than"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = (low <= value if low_included else low < value) and value <= high
        if not inside:  # also every nan
            raise argparse.ArgumentTypeError(f"expected seconds {bound} {low:g} to {high:g}, got {text!r}")
        return value

    parse.__name__ = "seconds"
    return parse


MAX_WAIT_SECONDS = 24 * 3600.0  # longer than any run should wait for udevadm or the lock


def add_debug(parser: argparse.ArgumentParser) -> None:
    """Every command has --debug (main adds it to each command's parser)."""
    parser.add_argument("--debug", action="store_true",
                        help="log each step to stderr, and show tracebacks of internal errors")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """What `check` and `serve` share: the policies, the host, repair and its limits."""
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=f"policy files or directories of them (default: {POLICY_DIR}, "
                             "under --root when given)")
    parser.add_argument("--root", metavar="DIR",
                        help="read every path of the policies under DIR (a host image or test "
                             "tree); no udevadm, no libudev")
    parser.add_argument("--repair", action="store_true",
                        help="repair every drift it safely can (atomic writes, backups, udevadm "
                             "reload/trigger/settle), then check again")
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"fingerprints, backups, counters and the policy cache (default "
                             f"{STATE_DIR}, under --root when given)")
    parser.add_argument("--udevadm", metavar="PATH", default="udevadm",
                        help="the udevadm to run (default: udevadm on PATH); never run under --root")
    parser.add_argument("--udevadm-timeout", metavar="SECONDS",
                        type=seconds(0, MAX_WAIT_SECONDS, low_included=False),
                        default=DEFAULT_UDEVADM_TIMEOUT,
                        help="how long one udevadm call may take before the run fails "
                             "(default %(default)g)")
    parser.add_argument("--lock-timeout", metavar="SECONDS", type=seconds(0, MAX_WAIT_SECONDS),
                        default=LOCK_WAIT_SECONDS,
                        help="how long a repair waits for another run to finish (default %(default)g)")
    add_udev_option(parser)
    parser.add_argument("--skip-policy-permission-check", action="store_true",
                        help="as root, act on policies that are not owned by root or are writable "
                             "by group or others (for test trees; a policy is as powerful as root)")


def add_udev_option(parser: argparse.ArgumentParser) -> None:
    """--udev: whose rules language and evaluation apply (the host's udev: 219 or 252)."""
    parser.add_argument("--udev", choices=("auto", "219", "252"), default="auto",
                        help="read and evaluate rules as this udev does: 219 (XenServer 8, XCP-ng 8, "
                             "RHEL/CentOS 7) or 252 (Debian 12); auto (default): the running "
                             "udevadm --version, under --root the tree's package database or "
                             "systemd binary (read, never run), else 252")


def resolve_root(value: str | None) -> str:
    """--root as an absolute directory ("/" without it); a usage error if it is none."""
    if value is None:
        return "/"
    if not os.path.isdir(value):
        raise UsageError(f"--root {value}: no such directory")
    return os.path.abspath(value)


def state_path(state_dir: str | None, root: str) -> str:
    """--state-dir as given, else the default state directory under the root."""
    return os.path.abspath(state_dir) if state_dir else Host(root).path(STATE_DIR)


def strict_permissions(args: argparse.Namespace) -> bool:
    """Only a run as root can be abused through a policy someone else wrote."""
    return os.geteuid() == 0 and not args.skip_policy_permission_check


def run_settings(args: argparse.Namespace, *, dry_run: bool, records_metrics: bool) -> RunSettings:
    """The settings of a run from the options add_run_options added."""
    root = resolve_root(args.root)
    return RunSettings(
        policy_paths=list(args.paths) or [Host(root).path(POLICY_DIR)],
        root=root,
        state_path=state_path(args.state_dir, root),
        repair=args.repair,
        dry_run=dry_run,
        udevadm=args.udevadm,
        udevadm_timeout=args.udevadm_timeout,
        lock_timeout=args.lock_timeout,
        safe_permissions=strict_permissions(args),
        records_metrics=records_metrics,
        udev=args.udev,
    )
