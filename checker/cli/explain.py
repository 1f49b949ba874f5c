"""`udev-drift explain LINK|DEVICE`: the rule set's trace for one device, read-only and
offline, like `udevadm test` but saying why (checker/check/trace.py)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from checker.cli.options import add_udev_option
from checker.paths import POLICY_DIR


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               summary: str) -> argparse.ArgumentParser:
    explain = commands.add_parser(
        "explain", help=summary,
        description="Apply every rules file udev reads, in udev's order and with the semantics "
                    "of the host's udev (219 or 252: --udev), to one device, and show each rule "
                    "that matched, acted or was skipped (and by which GOTO), the rules that "
                    "name the asked link but did not match, and the final links, properties "
                    "and programs. A link leads to its "
                    "device (or to the device of the policy entry that wants it). Runs nothing "
                    "but `udevadm --version` (on the running host, for --udev auto), changes "
                    "nothing. Exit 0 when traced, 2 for an unknown device or link, 3 when "
                    "the host cannot be read.")
    explain.add_argument("target", metavar="LINK|DEVICE",
                         help="a device (sdb, /dev/sdb, a /sys path) or a link (/dev/xapi/block/sdb)")
    explain.add_argument("paths", nargs="*", metavar="PATH",
                         help=f"policy files or directories of them, to find the device of a link "
                              f"that does not exist (default: {POLICY_DIR} when it exists)")
    explain.add_argument("--root", metavar="DIR",
                         help="read the rules, /dev and the policies under DIR (a host image or "
                              "test tree); the device is then known by its /dev node alone")
    explain.add_argument("--action", choices=("add", "remove", "change"), default="add",
                         help="the event to trace (default: add, as at boot or hotplug)")
    add_udev_option(explain)
    explain.add_argument("--format", choices=("text", "json"), default="text",
                         help="text for people (default) or one JSON document on stdout")
    return explain


def run(args: argparse.Namespace) -> int:
    from checker.check.named_devices import PolicyDevices
    from checker.check.trace import find_target, trace
    from checker.cli.options import resolve_root
    from checker.engine import load_desired
    from checker.host import Host
    from checker.observe.devices import devices_for
    from checker.observe.versions import udev_semantics
    from checker.policy.desired import DesiredPolicy
    from checker.udevadm.calls import Udevadm

    root = resolve_root(args.root)
    host = Host(root)
    default = host.path(POLICY_DIR)
    paths = list(args.paths) or ([default] if os.path.isdir(default) else [])
    policies: list[DesiredPolicy] = load_desired(paths, host=host) if paths else []
    devices = devices_for(policies, host)
    target = find_target(args.target, host, devices, policies)
    udev = udev_semantics(host, args.udev, None if host.is_tree else Udevadm())
    logging.getLogger("udev-drift").info("applying %s", udev.describe())
    result = trace(target, args.action, host, PolicyDevices(host, devices), udev.semantics, udev.source)
    if args.format == "json":
        json.dump(result.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        result.render(_visible_lines)
    return 0


def _visible_lines(text: str) -> None:
    """One or more whole lines of the report, with what came from a rules file or the host
    (a property value, a program, a rule's text) shown, never obeyed by the terminal."""
    from checker.cli.visible import visible

    body = text.strip("\n")  # the blank lines around it are the report's own
    start = len(text) - len(text.lstrip("\n"))
    sys.stdout.write(text[:start] + visible(body) + text[start + len(body):])
