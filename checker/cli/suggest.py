"""`udev-drift suggest`: where a policy names a disk by kernel name, and the stable key to
use instead (checker/check/suggest.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from checker.paths import POLICY_DIR

log = logging.getLogger("udev-drift")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    suggest = commands.add_parser(
        "suggest", help=summary,
        description="Warn where a policy's rules match KERNEL==\"sdb\" or its links name /dev/sdb: "
                    "kernel names can change between boots. For each such disk present on this "
                    "host, show the stable match to use instead (ENV{ID_SERIAL}, ENV{ID_WWN}) and "
                    "the device: {serial: ...} form for symlink entries; name a rule that makes "
                    "its link with ACTION==\"add\" only (a change event removes it) and how to "
                    "write it. Reads the policies and, "
                    "through libudev, this host's disks; changes nothing. Exit 0 when nothing "
                    "relies on a kernel name or an add-only link, 1 when something does.")
    suggest.add_argument("paths", nargs="*", metavar="PATH",
                         help=f"policy files or directories of them (default: {POLICY_DIR})")
    suggest.add_argument("--format", choices=("text", "json"), default="text",
                         help="text for people (default) or one JSON document on stdout")
    return suggest


def run(args: argparse.Namespace) -> int:
    from checker.check.suggest import add_only_links, render, suggestions
    from checker.engine import load_desired
    from checker.errors import UdevDriftError
    from checker.observe.udev import UdevState, observe_block_devices

    paths: list[str] = args.paths or [POLICY_DIR]
    policies = load_desired(paths)
    udev: UdevState | None
    try:
        udev = observe_block_devices()
    except UdevDriftError as error:
        log.warning("%s: suggestions come without this host's serials", error)
        udev = None
    found = suggestions(policies, udev) + add_only_links(policies)
    if args.format == "json":
        json.dump({"suggestions": [item.to_json() for item in found]}, sys.stdout, indent=2,
                  ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        count = f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'}"
        sys.stdout.write(f"udev-drift suggest · {count} · {', '.join(paths)}\n")
        render(found, sys.stdout.write)
        events = sum(1 for item in found if item.kind == "event")
        names = len(found) - events
        sys.stdout.write("\n")
        if events:
            sys.stdout.write(f"{events} link rule{'s' if events != 1 else ''} on add only · a change "
                             "event removes such a link; make it on every event but remove\n")
        if names:
            sys.stdout.write(f"{names} warning{'s' if names != 1 else ''} · kernel names can "
                             "change between boots; serials and WWNs do not\n")
        else:
            sys.stdout.write("no rule or link relies on a kernel name\n")
    return 1 if found else 0
