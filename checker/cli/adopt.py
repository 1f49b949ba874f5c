"""`udev-drift adopt`: the policy that protects what this host's rules files hold now
(the work is checker/adopt/)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import TYPE_CHECKING

from checker.paths import POLICY_DIR

if TYPE_CHECKING:
    from checker.adopt.plan import Managed
    from checker.host import Host

log = logging.getLogger("udev-drift")

DEFAULT_NAME = "adopted"
EXIT_PRINTED, EXIT_NOTHING = 0, 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    adopt = commands.add_parser(
        "adopt", help=summary,
        description="Write the policy that protects the udev rules this host has now. Each "
                    "rules file is compared, rule by rule as udev reads them, with its pristine "
                    "copy (a package's .rpmnew/.dpkg-dist/.dpkg-new/.ucf-dist beside it, else the "
                    "vendor file of the same name in /usr/lib/udev/rules.d or /lib/udev/rules.d, "
                    "else a --vendor FILE): rules the admin added become a marked block (or "
                    "`lines` entries when they stand in several places), a file no package owns "
                    "becomes a `file` entry, and the links those rules make on disks present now "
                    "become symlink entries. Prints the policy (or writes it with --write) and "
                    "changes nothing else. Exit 0 when it printed or wrote a policy, 1 when there "
                    "was nothing to adopt, 2 on a usage error, 3 on a runtime failure.")
    adopt.add_argument("paths", nargs="*", metavar="FILE",
                       help="rules files to adopt (default: every *.rules file in "
                            "/etc/udev/rules.d and /run/udev/rules.d)")
    adopt.add_argument("--root", metavar="DIR",
                       help="read the host's files under DIR (a host image or test tree); no "
                            "package queries, no libudev: a node in DIR/dev stands for its disk")
    adopt.add_argument("--name", default=DEFAULT_NAME,
                       help="the policy's name, its block markers' and its file's "
                            "(default: %(default)s)")
    adopt.add_argument("--write", action="store_true",
                       help=f"write the policy to {POLICY_DIR}/NAME.yaml (under --root), never "
                            "over an existing file, instead of printing it")
    adopt.add_argument("--vendor", metavar="FILE", action="append", default=[],
                       help="the pristine copy of the one FILE named, or of the rules file of the "
                            "same name (a file of the package, a copy from another host); wins "
                            "over what adopt finds; may be given once per rules file")
    adopt.add_argument("--include-removals", action="store_true",
                       help="also keep out the vendor rules the admin deleted or changed "
                            "(`absent` entries) and keep the admin's versions (`lines`)")
    return adopt


def _vendor_files(values: list[str]) -> dict[str, str]:
    from checker.errors import UsageError

    by_name: dict[str, str] = {}
    for value in values:
        name = os.path.basename(value)
        if not os.path.exists(value):
            raise UsageError(f"--vendor {value}: no such file")
        if not os.path.isfile(value):
            raise UsageError(f"--vendor {value}: not a regular file")
        if name in by_name:
            raise UsageError(f"--vendor {value}: {by_name[name]} is already the copy of {name}")
        by_name[name] = value
    return by_name


def _managed(host: Host, name: str, write: bool) -> Managed:
    """What the host's policies protect already (left out of the adopted one)."""
    from checker.adopt.plan import Managed
    from checker.engine import load_desired
    from checker.errors import UdevDriftError, UsageError

    # Read inside the tree, as the write will be: a link on the way followed as in a chroot.
    directory = host.path(host.resolve(POLICY_DIR) or POLICY_DIR)
    if not os.path.isdir(directory):
        return Managed()
    try:
        policies = load_desired([directory])
    except UdevDriftError as error:
        first = str(error).splitlines()[0]
        log.warning("the policies in %s cannot be loaded (%s): rules they protect may be adopted "
                    "again", directory, first)
        return Managed()
    taken = [policy.path for policy in policies if policy.name == name]
    if taken:
        message = f"the policy {taken[0]} is named {name} already: choose another --name"
        if write:
            raise UsageError(message)
        log.warning("%s before you install this one", message)
    return Managed.of(policies)


def run(args: argparse.Namespace) -> int:
    from checker.adopt.plan import adopt, check_named, default_files
    from checker.adopt.render import render
    from checker.cli.options import resolve_root
    from checker.cli.visible import visible
    from checker.errors import UdevDriftError, UsageError
    from checker.host import Host
    from checker.observe.udev import UdevState, observe_block_devices
    from checker.policy.model import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, args.name):
        raise UsageError(f"--name {args.name!r}: expected lower-case letters, digits, '.', '_' "
                         "and '-', starting with a letter or digit")
    host = Host(resolve_root(args.root))
    paths = [check_named(path) for path in args.paths] or default_files(host)
    vendor_files = _vendor_files(args.vendor)
    if len(args.paths) == 1 and len(args.vendor) == 1:
        # One file and its copy: the copy may have any name (50-udev.rules.orig).
        vendor_files = {os.path.basename(paths[0]): args.vendor[0]}
    unused = sorted(set(vendor_files) - {os.path.basename(path) for path in paths})
    if unused:
        raise UsageError(f"--vendor {vendor_files[unused[0]]}: no rules file of that name is adopted")
    target = f"{POLICY_DIR}/{args.name}.yaml"
    if args.write and _exists(host, target):
        raise UsageError(f"{_shown(host, target)} exists already: adopt never replaces a policy "
                         "(choose another --name, or remove it first)")
    managed = _managed(host, args.name, args.write)
    udev: UdevState | None = None
    if not host.is_tree:
        try:
            udev = observe_block_devices()
        except UdevDriftError as error:
            log.warning("%s: links are adopted by device node, not by serial", error)
    adoption = adopt(host, paths, vendor_files, args.include_removals, udev, managed)
    for note in adoption.notes:
        # Notes quote file names and rules: shown, never obeyed by the terminal.
        sys.stderr.write(f"udev-drift adopt: {visible(note)}\n")
    if adoption.empty:
        sys.stderr.write(f"udev-drift adopt: nothing to adopt in {len(paths)} rules "
                         f"file{'s' if len(paths) != 1 else ''}\n")
        return EXIT_NOTHING
    text = render(adoption, args.name)
    if not args.write:
        sys.stdout.write(text)
        return EXIT_PRINTED
    _write(host, target, text.encode("utf-8"))
    sys.stderr.write(f"udev-drift adopt: wrote {visible(_shown(host, target))} ({len(adoption.rules)} "
                     f"rules entries, {len(adoption.links)} symlink entries)\n")
    return EXIT_PRINTED


def _exists(host: Host, target: str) -> bool:
    """Whether anything (a link included) stands at the host path, its directories
    followed inside the root as a chroot would."""
    from checker.safe_files import confined

    try:
        return confined.lstat_in(host.root, target) is not None
    except OSError:
        return False  # the write says what is wrong with the directory


def _shown(host: Host, target: str) -> str:
    """Where the host path really is: its directories' links followed inside the root
    (the name itself is not followed)."""
    directory, name = os.path.split(target)
    real = host.resolve(directory) or directory
    return host.path(f"{real.rstrip('/')}/{name}")


def _write(host: Host, target: str, data: bytes) -> None:
    """The new policy file, through a directory opened from the root one component at a
    time (checker.safe_files.confined): a link on the way is followed as a chroot would, never out of
    the tree; the file itself is never replaced, nor written through a link."""
    from checker.safe_files import confined
    from checker.safe_files.atomic import WriteError, write_in

    directory, name = confined.split(target)
    try:
        dir_fd = confined.open_directory(host.root, directory, make=0o755)
    except OSError as error:
        raise WriteError(f"{_shown(host, directory)}: cannot open or create: "
                         f"{error.strerror or error}") from None
    try:
        write_in(dir_fd, _shown(host, target), name, data, 0o644, replace=False)
    finally:
        os.close(dir_fd)
