"""`udev-drift preview PACKAGE_FILE...`: what installing these packages would take away
from the policies, before it is installed. Read-only; nothing is unpacked to disk."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from checker import __version__
from checker.cli.options import (
    EXIT_COMPLIANT,
    EXIT_DRIFT,
    EXIT_FAILURE,
    resolve_root,
    state_path,
    strict_permissions,
)
from checker.errors import UdevDriftError, UsageError
from checker.host import Host
from checker.paths import POLICY_DIR, PREVIEW_CONFIG

EPILOG = """\
exit status:
  0  nothing a policy wants is lost (an overwritten managed rule that the repair after
     the update puts back is shown, and is not a loss)
  1  something a policy wants would be lost: a link no longer made, a program no
     longer run, a managed rule made ineffective, masked or shadowed
  2  usage error, invalid policy, or a package file that cannot be read
  3  runtime failure
  With --hook (as the package-manager hooks run it): 0 lets the update go on, 1 refuses
  it (only with preview.block: true in /etc/udev-drift/preview.yaml, and neither --force
  nor UDEV_DRIFT_PREVIEW=allow); a preview that fails lets it go on unless
  preview.on_error: block.

examples:
  udev-drift preview ./udev_252.30-1_amd64.deb
  udev-drift preview --format json /var/cache/apt/archives/*.deb
  udev-drift preview --root /mnt/image --policy /mnt/image/etc/udev-drift/policies.d pkg.rpm
"""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "preview", help=summary,
        description="Read the package files about to be installed (.deb, .rpm), build the udev "
                    "rule set the host would have after the transaction (with dpkg's and rpm's "
                    "rules for configuration files) and check every policy against it, before "
                    "anything is installed. Says which links and programs the update would take "
                    "away, with the cause's file and line in the new package.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="*", metavar="PACKAGE_FILE", help=".deb or .rpm files")
    parser.add_argument("--policy", action="append", default=[], metavar="PATH",
                        help=f"policy file or directory (repeatable; default {POLICY_DIR}, under --root)")
    parser.add_argument("--root", metavar="DIR",
                        help="the host is the tree under DIR (a host image, a test tree)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--conffiles", choices=("keep", "new"), default="keep",
                        help="a locally changed dpkg conffile: previewed as kept (dpkg's default "
                             "answer, the default here) or replaced (--force-confnew)")
    parser.add_argument("--remove", action="append", default=[], metavar="NAME",
                        help="an installed package the transaction removes (repeatable; dpkg's or rpm's, "
                             "as its database lists it): its rules files go, except dpkg conffiles")
    parser.add_argument("--hook", action="store_true",
                        help="run as a package manager's hook: warn loudly, refuse only as "
                             f"{PREVIEW_CONFIG} says, never fail the update by accident")
    parser.add_argument("--apt-hook", action="store_true",
                        help="--hook, reading the .deb files from standard input as apt's "
                             "DPkg::Pre-Install-Pkgs gives them (protocol version 2 or 3)")
    parser.add_argument("--force", action="store_true",
                        help="with --hook: let the update go on whatever the preview finds "
                             "(as UDEV_DRIFT_PREVIEW=allow)")
    parser.add_argument("--config", metavar="FILE",
                        help=f"the hook configuration (default {PREVIEW_CONFIG}, under --root)")
    parser.add_argument("--textfile-dir", metavar="DIR",
                        help="also write the result to DIR/udev_drift_preview.prom for node_exporter")
    parser.add_argument("--max-unpacked-bytes", type=_size, metavar="BYTES",
                        help="refuse a package that unpacks to more than this (default 4G; K, M, G)")
    parser.add_argument("--skip-policy-permission-check", action="store_true",
                        help="as root, accept policies that are not root's (for test trees)")
    return parser


def _size(text: str) -> int:
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    scale = units.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale != 1 else text
    if not digits.isdigit() or int(digits) <= 0:
        raise argparse.ArgumentTypeError(f"expected a size such as 512M or 4G, got {text!r}")
    return int(digits) * scale


def run(args: argparse.Namespace) -> int:
    hook = args.hook or args.apt_hook
    if not hook:
        if not args.packages and not args.remove:
            raise UsageError("name at least one package file: udev-drift preview PACKAGE_FILE...")
        if args.force:
            raise UsageError("--force goes with --hook")
        return _preview(args, args.packages)
    from checker.preview.config import HookConfig, apt_packages, environment_says, load_config

    packages = list(args.packages)
    if args.apt_hook:
        debs, dpkg_root, removed = apt_packages(sys.stdin.buffer)
        packages += debs
        args.remove = list(args.remove) + removed
        if args.root is None and dpkg_root:  # apt -o DPkg::Options::=--root=DIR: dpkg's host
            args.root = dpkg_root
    config = HookConfig()
    try:
        root = resolve_root(args.root)
        config = load_config(args.config or Host(root).path(PREVIEW_CONFIG))
        said = environment_says()
    except UdevDriftError as error:
        _loud(f"cannot read the preview settings: {error}; the update goes on unchecked")
        return EXIT_COMPLIANT
    if said == "skip" or not (packages or args.remove):
        return EXIT_COMPLIANT
    forced = args.force or said == "allow"
    try:
        status = _preview(args, packages, hook=True)
    except UdevDriftError as error:
        first = str(error).split("\n")[0]
        if config.on_error == "block" and not forced:
            _loud(f"the preview failed: {first}; refusing the update (preview.on_error: block); "
                  f"to go ahead anyway: UDEV_DRIFT_PREVIEW=allow")
            return EXIT_FAILURE
        _loud(f"the preview failed: {first}; the update goes on unchecked")
        return EXIT_COMPLIANT
    except Exception as error:  # noqa: BLE001 - a hook must never fail an update by accident
        _loud(f"the preview failed: internal error: {type(error).__name__}: {error}; the update goes on")
        return EXIT_COMPLIANT
    if status != EXIT_DRIFT:
        return EXIT_COMPLIANT
    if config.block and not forced:
        _loud("refusing the update: it takes away what a policy wants (preview.block: true in "
              f"{PREVIEW_CONFIG}); to go ahead anyway: UDEV_DRIFT_PREVIEW=allow, or fix the policy first")
        return EXIT_DRIFT
    _loud("the update goes on, and takes away what a policy wants (see above)"
          + (" (forced)" if forced and config.block else ""))
    return EXIT_COMPLIANT


def _loud(line: str) -> None:
    from checker.cli.visible import visible

    # the line may carry a package's file name or a member's: shown, never obeyed
    print(f"udev-drift preview: WARNING: {visible(line)}", file=sys.stderr)


def _preview(args: argparse.Namespace, package_files: list[str], hook: bool = False) -> int:
    from checker.engine import load_desired
    from checker.policy.cache import PolicyCache
    from checker.preview import compare
    from checker.preview.package import Limits
    from checker.preview.read import read_package
    from checker.preview.transaction import plan, removal
    from checker.state import StateDir

    root = resolve_root(args.root)
    host = Host(root)
    limits = Limits(unpacked_bytes=args.max_unpacked_bytes) if args.max_unpacked_bytes else Limits()
    losses: dict[str, int] | None = None
    try:
        packages = [read_package(path, limits) for path in package_files]
        packages += [removal(host, name) for name in args.remove]
        policy_paths = args.policy or [host.path(POLICY_DIR)]
        # The policies a check validated before are read from its cache, never written:
        # a preview runs in the package manager's hook, on every update.
        cache = PolicyCache(StateDir(state_path(None, root), root).located(), writable=False,
                            tree=host.is_tree)
        policies = load_desired(policy_paths, safe_permissions=strict_permissions(args), cache=cache,
                                host=host)
        transaction = plan(host, packages, args.conffiles)
        preview = compare.run(policies, host, transaction)
        losses = preview.losses_by_package()
    finally:
        if args.textfile_dir:
            _write_metrics(args.textfile_dir, losses)
    if args.format == "json":
        document: dict[str, Any] = {"version": __version__, "root": root, **preview.to_json()}
        text = json.dumps(document, indent=2, ensure_ascii=False)
        sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
    elif hook and not preview.changes and not preview.transaction.notes:
        # every apt/dnf/yum run goes through the hook: one line when there is nothing to say
        count = len(preview.transaction.packages)
        print(f"udev-drift preview: {count} package(s): nothing a policy wants is lost", file=sys.stderr)
    else:
        _render(preview, sys.stderr if hook else sys.stdout)
    return EXIT_DRIFT if preview.lost else EXIT_COMPLIANT


def _write_metrics(directory: str, losses: dict[str, int] | None) -> None:
    """The metrics are a side effect: a directory that cannot take them is a warning, never
    the preview's result (nor, in a hook, a failed preview)."""
    from checker.preview.metrics import write

    try:
        write(directory, losses)
    except UdevDriftError as error:
        print(f"udev-drift: warning: {str(error).splitlines()[0]}", file=sys.stderr)


def _render(preview: Any, out: Any) -> None:
    from checker.cli.visible import visible

    transaction = preview.transaction
    names = ", ".join(p.label for p in transaction.packages)
    with_rules = [p for p in transaction.packages if p.files]
    # names, versions and file names are the package's: shown, never obeyed by the terminal
    out.write(f"udev-drift preview: {len(transaction.packages)} package(s): {visible(names)}\n")
    if not with_rules:
        out.write("  no package installs udev rules files: nothing a policy wants changes\n")
    for package in with_rules:
        shown = [f.member + (" (-> /dev/null: a mask)" if f.kind == "link" and f.link == "/dev/null"
                             else " (not a file: no rules udev reads)" if f.kind == "special" else "")
                 for f in package.files]
        out.write(visible(f"  {package.label} ({package.file_name}) installs {', '.join(shown)}") + "\n")
    for note in transaction.notes:
        out.write(f"  note: {visible(note)}\n")
    marks = {"lost": "LOST", "restored": "overwritten", "uncertain": "uncertain", "gained": "fixed"}
    for change in preview.changes:
        out.write(visible(f"  {marks.get(change.outcome, change.outcome)}: {change.policy}: {change.item}: "
                          f"{change.what} ({change.status_before} -> {change.status_after})") + "\n")
        out.write(f"      {visible(change.message)}\n")
        if change.source is not None:
            out.write(f"      cause: {visible(str(change.source))}\n")
    lost = len(preview.lost)
    if lost:
        out.write(f"udev-drift preview: the update would take away {lost} item(s) a policy wants\n")
    else:
        out.write("udev-drift preview: nothing a policy wants is lost\n")
    out.flush()
