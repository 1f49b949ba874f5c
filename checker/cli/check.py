"""`udev-drift check`: compare the host with the policies; with --repair, put drift back."""

from __future__ import annotations

import argparse
import json
import sys

from checker import __version__
from checker.cli.options import (
    EPILOG,
    EXIT_COMPLIANT,
    EXIT_DRIFT,
    RawDescription,
    add_run_options,
    run_settings,
)
from checker.errors import UsageError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    check = commands.add_parser(
        "check", help=summary,
        description="Compare the host's udev rules files and /dev symlinks with the policies. "
                    "Exit 0 when compliant, 1 on drift.",
        epilog=EPILOG, formatter_class=RawDescription)
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
    return check


def run(args: argparse.Namespace) -> int:
    from checker import engine
    from checker.exporters.oneshot import start as start_metrics

    # The run's clock starts here; main() writes the metrics of a run that fails, even
    # one whose --root turns out not to be a directory.
    metrics = args.metrics = start_metrics(
        textfile_dir=args.textfile_dir, pushgateway=args.pushgateway,
        repair_enabled=args.repair and not args.dry_run, state_dir=args.state_dir, root=args.root)
    if args.dry_run and not args.repair:
        raise UsageError("--dry-run goes with --repair: udev-drift check --repair --dry-run")
    settings = run_settings(args, dry_run=args.dry_run,
                            records_metrics=bool(args.textfile_dir or args.pushgateway))
    report = engine.run(settings)
    metrics.finished(report)  # textfile, push, persisted counters (when asked for)
    if args.format == "json":
        document = {"version": __version__, **report.to_json()}
        text = json.dumps(document, indent=2, ensure_ascii=False)
        # Bytes of a rules file that are not UTF-8 travel as lone surrogates: written as
        # \udcXX escapes they keep the JSON valid and the bytes recoverable.
        sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
    else:
        from checker.cli.render_text import render, use_color

        render(report, settings.policy_paths, sys.stdout, use_color(sys.stdout, args.color),
               quiet=args.quiet)
    return EXIT_COMPLIANT if report.compliant else EXIT_DRIFT
