"""The `udev-drift` command line: parse arguments, run one command, map errors to exit codes.

Exit status: 0 compliant, 1 drift remains, 2 usage error or invalid policy, 3 runtime
failure. No error reaches the terminal as a traceback (unless --debug asks for it).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from checker import __version__
from checker.commands import MODULES, SUMMARIES
from checker.errors import UdevDriftError, UsageError
from checker.state import DEFAULT_STATE_DIR, LOCK_WAIT_SECONDS
from checker.udevadm import DEFAULT_TIMEOUT as DEFAULT_UDEVADM_TIMEOUT

DEFAULT_POLICY_DIR = "/etc/udev-drift/policies.d"
EXIT_COMPLIANT, EXIT_DRIFT, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3

log = logging.getLogger("udev-drift")

DESCRIPTION = """\
Check udev rules files and /dev symlinks against declarative policies.

A policy (YAML) says which udev rules must, or must not, be in which rules files, and
which /dev symlinks must exist. `check` compares the host with every policy and shows
each drifted item with the reason and a diff.
"""

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


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="log each step to stderr, and show tracebacks of internal errors")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """What `check` and `serve` share: the policies, the host, repair and its limits."""
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=f"policy files or directories of them (default: {DEFAULT_POLICY_DIR}, "
                             "under --root when given)")
    parser.add_argument("--root", metavar="DIR",
                        help="read every path of the policies under DIR (a host image or test "
                             "tree); no udevadm, no libudev")
    parser.add_argument("--repair", action="store_true",
                        help="repair every drift it safely can (atomic writes, backups, udevadm "
                             "reload/trigger/settle), then check again")
    parser.add_argument("--state-dir", metavar="DIR",
                        help=f"fingerprints, backups, counters and the policy cache (default "
                             f"{DEFAULT_STATE_DIR}, under --root when given)")
    parser.add_argument("--udevadm", metavar="PATH", default="udevadm",
                        help="the udevadm to run (default: udevadm on PATH); never run under --root")
    parser.add_argument("--udevadm-timeout", metavar="SECONDS", type=float,
                        default=DEFAULT_UDEVADM_TIMEOUT,
                        help="how long one udevadm call may take before the run fails "
                             "(default %(default)g)")
    parser.add_argument("--lock-timeout", metavar="SECONDS", type=float, default=LOCK_WAIT_SECONDS,
                        help="how long a repair waits for another run to finish (default %(default)g)")
    parser.add_argument("--skip-policy-permission-check", action="store_true",
                        help="as root, act on policies that are not owned by root or are writable "
                             "by group or others (for test trees; a policy is as powerful as root)")


def _add_module_commands(commands: Any, only: str | None) -> None:
    """Register the commands that live in modules of their own (checker.commands). With
    `only`, just that command's module is imported; the others are listed by summary."""
    done: set[str] = set()
    wanted = MODULES[only][0] if only in MODULES else None
    for name, (module_name, function) in MODULES.items():
        if name in done:
            continue
        if only is None or module_name == wanted:
            add = getattr(importlib.import_module(module_name), function)
            before = set(commands.choices)
            add(commands, _add_common)
            done.update(set(commands.choices) - before)
        elif name in SUMMARIES:
            commands.add_parser(name, help=SUMMARIES[name])
            done.add(name)


def _command_word(argv: Sequence[str]) -> str | None:
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, the other module commands are not imported."""
    parser = argparse.ArgumentParser(
        prog="udev-drift", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"udev-drift {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser(
        "check", help="compare the host with the policies",
        description="Compare the host's udev rules files and /dev symlinks with the policies. "
                    "Exit 0 when compliant, 1 on drift.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(check)
    check.add_argument("--dry-run", action="store_true",
                       help="with --repair: show the exact change (a diff per file, each udevadm "
                            "call) and change nothing")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="text for people (default) or one JSON document on stdout")
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                       help="colour in text output (default: auto: on a terminal, unless NO_COLOR is set)")
    check.add_argument("-q", "--quiet", action="store_true",
                       help="text output: show only policies and items that drifted")
    check.add_argument("--textfile-dir", metavar="DIR",
                       help="also write the metrics to DIR/udev_drift.prom (atomically, mode 0644) "
                            "for node_exporter's textfile collector; failed runs write it too")
    check.add_argument("--pushgateway", metavar="URL",
                       help="also push the metrics to this Prometheus Pushgateway, grouped by "
                            "instance=<hostname>; a failed push is only a warning")
    _add_common(check)
    check.set_defaults(func=command_check)

    validate = commands.add_parser(
        "validate", help="lint policy files; touches nothing on the host",
        description="Load and validate policy files as `check` would, and report every problem "
                    "with file, line, column and key path. Reads nothing on the host.")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="policy files or directories")
    _add_common(validate)
    validate.set_defaults(func=command_validate)

    shipped = commands.add_parser(
        "policies", help="list the policies that ship with udev-drift, or print one",
        description="Without NAME: list the shipped policies. With NAME: print that policy, "
                    "to copy into /etc/udev-drift/policies.d/ and edit.")
    shipped.add_argument("name", nargs="?", metavar="NAME", help="a shipped policy's name")
    _add_common(shipped)
    shipped.set_defaults(func=command_policies)

    schema = commands.add_parser(
        "schema", help="print the JSON Schema of the policy format",
        description="Print the JSON Schema of the policy format (for editors' YAML language "
                    "servers: `# yaml-language-server: $schema=udev-drift.schema.json`).")
    _add_common(schema)
    schema.set_defaults(func=command_schema)

    _add_module_commands(commands, only)
    return parser


def _root(value: str | None) -> str:
    if value is None:
        return "/"
    if not os.path.isdir(value):
        raise UsageError(f"--root {value}: no such directory")
    return os.path.abspath(value)


def command_check(args: argparse.Namespace) -> int:
    from checker import engine
    from checker.host import Host
    from checker.policy.cache import PolicyCache
    from checker.state import StateDir
    from checker.udevadm import Udevadm
    from exporters.oneshot import start as start_metrics

    # The run's clock starts here; main() writes the metrics of a run that fails.
    metrics = args.metrics = start_metrics(args)
    if args.dry_run and not args.repair:
        raise UsageError("--dry-run goes with --repair: udev-drift check --repair --dry-run")
    host = Host(_root(args.root))
    paths: list[str] = args.paths or [host.path(DEFAULT_POLICY_DIR)]
    state = StateDir(os.path.abspath(args.state_dir) if args.state_dir else host.path(DEFAULT_STATE_DIR))
    # The validated policies are kept in the state directory for the runs after this one:
    # by runs that write state anyway, and by a plain check where the directory exists
    # (an installed host, or one repaired before). A dry run writes nothing at all.
    writes_state = (args.repair and not args.dry_run) or bool(args.textfile_dir)
    keeps_cache = writes_state or (not args.dry_run and state.exists())
    cache = PolicyCache(state.path, writable=keeps_cache)
    policies = engine.load_desired(paths, safe_permissions=_strict_permissions(args), cache=cache)
    log.debug("loaded %d policies from %s", len(policies), ", ".join(paths))
    # Under --root the tree is not the running system: no udevadm, whatever is asked.
    udevadm = None if host.is_tree else Udevadm(args.udevadm, timeout=args.udevadm_timeout)
    if args.repair and args.dry_run:
        report = engine.dry_run(policies, host, state, udevadm)
    elif args.repair:
        with state.lock(args.lock_timeout):
            report = engine.repair(policies, host, state, udevadm)
    else:
        report = engine.check(policies, host, state)
    metrics.finished(report)  # textfile, push, persisted counters (when asked for)
    if args.format == "json":
        document = {"version": __version__, **report.to_json()}
        text = json.dumps(document, indent=2, ensure_ascii=False)
        # Bytes of a rules file that are not UTF-8 travel as lone surrogates: written as
        # \udcXX escapes they keep the JSON valid and the bytes recoverable.
        sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
    else:
        from checker.render_text import render, use_color

        render(report, paths, sys.stdout, use_color(sys.stdout, args.color), quiet=args.quiet)
    return EXIT_COMPLIANT if report.compliant else EXIT_DRIFT


def _strict_permissions(args: argparse.Namespace) -> bool:
    """Only a run as root can be abused through a policy someone else wrote."""
    return os.geteuid() == 0 and not getattr(args, "skip_policy_permission_check", False)


def command_validate(args: argparse.Namespace) -> int:
    from checker.engine import load_desired

    policies = load_desired(args.paths)
    for policy in policies:
        print(f"{policy.path}: ok: policy {policy.name}, {len(policy.rules)} rules "
              f"entr{'y' if len(policy.rules) == 1 else 'ies'}, {len(policy.symlinks)} "
              f"symlink{'s' if len(policy.symlinks) != 1 else ''} (after for_each)")
    return EXIT_COMPLIANT


def command_policies(args: argparse.Namespace) -> int:
    from checker.shipped import shipped_policies

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


def command_schema(args: argparse.Namespace) -> int:
    from checker.policy.model import Policy

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **Policy.model_json_schema()}
    json.dump(schema, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_COMPLIANT


def _metrics_failed(args: argparse.Namespace, error: BaseException) -> None:
    """A failed `check --textfile-dir/--pushgateway` still writes run_success 0."""
    metrics = getattr(args, "metrics", None)
    if metrics is not None:
        metrics.failed(error)


def main(argv: Sequence[str] | None = None) -> int:
    # A run builds large structures without cycles (20,000 parsed rules, 10,000 links)
    # and exits: the cyclic collector would only rescan them, again and again (a third of
    # the time of a large check), and free nothing. `serve`, which runs for months, turns
    # it back on; the caller's setting is restored on the way out.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_command(argv)
    finally:
        if collecting:
            gc.enable()


def _run_command(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_command_word(words) or "")
    args = parser.parse_args(words)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="udev-drift: %(levelname)s: %(message)s", force=True)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except UdevDriftError as error:
        _metrics_failed(args, error)
        for line in str(error).splitlines():
            print(f"udev-drift: {line}", file=sys.stderr)
        return error.exit_status
    except BrokenPipeError:
        # The reader went away (`| head`): not our failure, and nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt as error:
        _metrics_failed(args, error)
        print("udev-drift: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        _metrics_failed(args, error)
        if args.debug:
            traceback.print_exc()
        print(f"udev-drift: internal error: {type(error).__name__}: {error} "
              "(run again with --debug for the traceback, and please report it)", file=sys.stderr)
        return EXIT_FAILURE
