"""Validated policies, remembered: the pydantic and YAML work is paid once per policy text.

A check runs after every boot, update and rules change, on every host, and its policies
rarely change. Validating them (YAML, pydantic, the rules in them as udev reads them)
costs more than the rest of a check. So a run keeps the desired state it derived in the
state directory (a repair, serve or a run with metrics, which write state anyway; a plain
check where the directory exists, as on an installed host; never a dry run), keyed by
each policy file's path and SHA-256 and by the tool's version; any run whose policy
files have exactly those bytes takes it from there and never imports YAML or pydantic.
A file that changed by one byte, or a new version of the tool, validates afresh.

The cache decides what root writes, so it is trusted only as a policy is: owned by root
(or the user running the tool) and writable by no one else, in a directory likewise.
Anything else about it (missing, unreadable, corrupt, another version) is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat as stat_module
from collections.abc import Sequence
from typing import Any

from checker import __version__
from checker.atomic import write_atomic
from checker.policy.desired import DesiredPolicy, DesiredRules, DesiredSymlink, DeviceRef
from checker.rules.parsed import parse_rules
from checker.state import load_state_json

log = logging.getLogger("udev-drift")

CACHE_NAME = "policy-cache.json"
FORMAT = 1
MAX_POLICY_BYTES = 1024 * 1024  # as the loader: a larger file is never a policy


def fingerprint(path: str) -> str | None:
    """SHA-256 of a policy file's bytes, or None when it cannot be read whole."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError:
        return None
    return None if len(data) > MAX_POLICY_BYTES else hashlib.sha256(data).hexdigest()


def _trusted(path: str) -> bool:
    for place in (path, os.path.dirname(path)):
        try:
            st = os.stat(place)
        except OSError:
            return False
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & (stat_module.S_IWGRP | stat_module.S_IWOTH):
            log.debug("%s: not trusted as a policy cache (owner or mode)", place)
            return False
    return True


def _to_json(policy: DesiredPolicy) -> dict[str, Any]:
    return {
        "name": policy.name, "path": policy.path, "description": policy.description,
        "reload": policy.reload, "trigger": policy.trigger,
        "rules": [{"entry": r.entry, "file": r.file, "ensure": r.ensure, "content": r.content,
                   "line": r.policy_line} for r in policy.rules],
        "symlinks": [{"entry": s.entry, "link": s.link, "by": s.device.by, "value": s.device.value,
                      "required": s.required, "exclusive": s.exclusive, "line": s.policy_line}
                     for s in policy.symlinks],
    }


def _from_json(data: dict[str, Any]) -> DesiredPolicy:
    name, path = data["name"], data["path"]
    return DesiredPolicy(
        name=name, path=path, description=data["description"],
        rules=tuple(DesiredRules(policy=name, entry=r["entry"], file=r["file"], ensure=r["ensure"],
                                 content=r["content"], rules=parse_rules(r["content"]).rules,
                                 policy_path=path, policy_line=r["line"]) for r in data["rules"]),
        symlinks=tuple(DesiredSymlink(policy=name, entry=s["entry"], link=s["link"],
                                      device=DeviceRef(s["by"], s["value"]), required=s["required"],
                                      policy_path=path, policy_line=s["line"], exclusive=s["exclusive"])
                       for s in data["symlinks"]),
        reload=data["reload"], trigger=data["trigger"],
    )


class PolicyCache:
    def __init__(self, directory: str, writable: bool) -> None:
        self.path = os.path.join(directory, CACHE_NAME)
        self.writable = writable

    def _read(self) -> dict[str, Any]:
        # Read without following links or waiting on a FIFO; what is not a regular file
        # of sound JSON is set aside. Whether it can be trusted is asked after.
        data = load_state_json(self.path)
        if not data or not _trusted(self.path):
            return {}
        if data.get("format") != FORMAT or data.get("version") != __version__:
            return {}
        entries = data.get("policies")
        return entries if isinstance(entries, dict) else {}

    def lookup(self, files: Sequence[str]) -> list[DesiredPolicy] | None:
        """The desired state of exactly these files, if every one is known as it is now."""
        entries = self._read()
        if not entries:
            return None
        found: list[DesiredPolicy] = []
        for path in files:
            entry = entries.get(os.path.abspath(path))
            if not isinstance(entry, dict) or entry.get("sha256") != fingerprint(path):
                return None
            try:
                found.append(_from_json(entry["desired"]))
            except (KeyError, TypeError, ValueError):
                return None
        log.debug("policies taken from %s (validated before, unchanged since)", self.path)
        return found

    def store(self, files: Sequence[str], policies: Sequence[DesiredPolicy],
              prints: Sequence[str | None]) -> None:
        """Remember these policies; `prints` are the files' SHA-256 from before they were read."""
        if not self.writable or any(p is None for p in prints) or len(files) != len(policies):
            return
        entries = {os.path.abspath(path): {"sha256": sha, "desired": _to_json(policy)}
                   for path, policy, sha in zip(files, policies, prints)}
        document = {"format": FORMAT, "version": __version__, "policies": entries}
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            write_atomic(self.path, (json.dumps(document, sort_keys=True) + "\n").encode("utf-8"))
            os.chmod(self.path, 0o600)
        except Exception as error:  # noqa: BLE001 - a cache that cannot be written is only slower
            log.debug("%s: policy cache not written (%s)", self.path, error)
