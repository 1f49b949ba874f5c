"""Every subcommand: the module that implements it and its one-line summary.

The command line imports a command's module only when that command runs, so that a plain
`check` (run after every boot and update, on every host) does not pay for the HTTP server,
the installer or libudev; `udev-drift --help` lists the commands from this table alone.

To add a command: write `checker/cli/NAME.py` with the two functions of `Command`, and add
a row here. A command module may import any room of the package and cli/options.py, but
never cli/dispatch.py: dispatch imports the commands, not the other way round.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]  # noqa: SLF001


class Command(Protocol):
    """A subcommand: adds its parser to the command line and runs with the parsed arguments,
    returning the exit status (see checker.cli.options)."""

    def add_parser(self, commands: Subparsers, summary: str) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int: ...


# name -> (module, summary for --help; None hides the command)
COMMANDS: dict[str, tuple[str, str | None]] = {
    "check": ("checker.cli.check", "compare the host with the policies"),
    "validate": ("checker.cli.validate", "lint policy files; touches nothing on the host"),
    "policies": ("checker.cli.policies", "list the policies that ship with udev-drift, or print one"),
    "schema": ("checker.cli.schema", "print the JSON Schema of the policy format"),
    "serve": ("checker.cli.serve", "check on an interval and serve the metrics over HTTP for Prometheus"),
    "suggest": ("checker.cli.suggest",
                "warn where a policy names a disk by kernel name (sdb); show its serial/WWN"),
    "explain": ("checker.cli.explain",
                "show how udev's rules apply to one device or link, and why (read-only, offline)"),
    "adopt": ("checker.cli.adopt", "print (or --write) the policy that protects the rules this host has now"),
    "preview": ("checker.cli.preview",
                "before an update: which links and programs installing these packages would take away"),
    "install": ("checker.cli.install",
                "install the units, hooks and directories that make the host check itself"),
    "uninstall": ("checker.cli.uninstall", "remove exactly what `udev-drift install` added"),
    "_libudev": ("checker.cli.diagnose", None),  # hidden: for the binary's tests
}

if TYPE_CHECKING:
    # mypy checks here that every command module has the shape of Command.
    from checker.cli import (
        adopt,
        check,
        diagnose,
        install,
        policies,
        preview,
        schema,
        serve,
        suggest,
        uninstall,
        validate,
    )

    _COMMAND_MODULES: list[Command] = [check, validate, policies, schema, serve, suggest, adopt, install,
                                       uninstall, diagnose, preview]
