"""The subcommands whose code lives in modules of their own, and their one-line summaries.

The command line imports such a module only when its command is run, so that a plain
`check` (run after every boot and update, on every host) does not pay for the HTTP
server, the installer or libudev; `udev-drift --help` lists them from this table.
"""

from __future__ import annotations

SUMMARIES = {
    "serve": "check on an interval and serve the metrics over HTTP for Prometheus",
    "suggest": "warn where a policy names a disk by kernel name (sdb); show its serial/WWN",
    "install": "install the units, hooks and directories that make the host check itself",
    "uninstall": "remove exactly what `udev-drift install` added",
}

# command -> (module, the function that adds its subparser(s) to the command parsers)
MODULES = {
    "serve": ("checker.serve", "add_parser"),
    "suggest": ("checker.suggest", "add_parser"),
    "install": ("checker.install", "add_parsers"),
    "uninstall": ("checker.install", "add_parsers"),
    "_libudev": ("checker.diagnose", "add_parser"),  # hidden: for the binary's tests
}
