"""udevadm calls a repair owes udev, remembered until they succeed.

A repair writes the rules file first and then asks udev to reload and trigger. When that
call fails (udevd restarting, a timeout), the file is right but udev still runs the old
rules; the next run would find the file compliant and run nothing. So the calls are
written to `<state-dir>/udevadm-owed.json` before they run and forgotten only when all
of them succeeded: the next repair runs them again, and a plain check says they are owed.

Only the calls a repair makes are accepted from the file (root runs them): a reload, a
trigger with options, a settle.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from typing import Any

from checker.state import StateDir

FILE = "udevadm-owed.json"
_OPTION = re.compile(r"--[a-z][a-z-]*(=[\w:.*?\[\]/+-]{1,256})?")
_VERBS = {"control": {"--reload"}, "trigger": None, "settle": None}  # None: any option


def _acceptable(command: Any) -> bool:
    if not isinstance(command, list) or not command or len(command) > 1000:
        return False
    if not all(isinstance(arg, str) for arg in command) or command[0] not in _VERBS:
        return False
    allowed = _VERBS[command[0]]
    options = command[1:]
    if allowed is not None:
        return options == sorted(allowed)
    return all(_OPTION.fullmatch(option) for option in options)


def _problem(data: dict[str, Any]) -> str | None:
    commands = data.get("commands")
    if not isinstance(commands, list) or not all(_acceptable(c) for c in commands):
        return "not a list of the udevadm calls a repair makes"
    return None


def owed(state: StateDir) -> list[list[str]]:
    """The udevadm calls an earlier repair could not finish, in the order to run them."""
    commands: list[list[str]] = state.read_json(FILE, _problem).get("commands", [])
    return commands


def merge(earlier: Sequence[list[str]], now: Sequence[list[str]]) -> list[list[str]]:
    """One list of calls: a reload first, then each trigger once, then one settle."""
    calls = [*earlier, *now]
    merged: list[list[str]] = []
    for verb in ("control", "trigger", "settle"):
        for command in calls:
            if command[0] == verb and command not in merged:
                merged.append(command)
    settles = [c for c in merged if c[0] == "settle"]
    return [c for c in merged if c[0] != "settle"] + settles[-1:]


def remember(state: StateDir, commands: Sequence[list[str]]) -> None:
    state.write_json(FILE, {"commands": [list(c) for c in commands]})


def forget(state: StateDir) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state.path, FILE))


def describe(commands: Sequence[list[str]]) -> str:
    return "; ".join("udevadm " + " ".join(command) for command in commands)
