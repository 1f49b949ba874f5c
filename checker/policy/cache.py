"""Validated policies, remembered: the pydantic and YAML work is paid once per policy text.

A check runs after every boot, update and rules change, on every host, and its policies
rarely change. Validating them (YAML, pydantic, the rules in them as udev reads them)
costs more than the rest of a check. So a run keeps the desired state it derived in the
state directory (a repair, serve or a run with metrics, which write state anyway; a plain
check where the directory exists, as on an installed host; never a dry run), keyed by
each policy file's path and the SHA-256 of the very bytes that were parsed, and by the
validator: a hash of the code that reads and checks policies (checker/policy and
checker/rules), so that a build that checks more never replays what an older one let
through, whatever its version number says. Any run whose policy files have exactly
those bytes takes it from there and never imports YAML or pydantic. A file that changed
by one byte, or another validator, validates afresh.

The cache decides what root writes, so it is trusted only as a policy is: the real
directory it is in (after following links) owned by root (or the user running the tool)
and writable by no one else; the file itself opened without following a link, and owned
and writable likewise. A cache that fails this is ignored with a warning. What is taken
from it is held again to the rules for where a policy may write (checker.policy.places).
Anything else about it (missing, unreadable, corrupt, another validator) is a miss.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

from checker import __version__
from checker.policy.desired import (
    ACCOUNT_KEYS,
    DesiredPolicy,
    DesiredRules,
    DesiredSymlink,
    DeviceRef,
    RulesSummary,
)
from checker.policy.files import PolicyBytes
from checker.policy.places import dev_path_problem, rules_file_problem
from checker.trusted_cache import (
    MAX_CACHE_BYTES,
    code_fingerprint,
    origin,
    read_trusted_json,
    write_trusted_json,
)

log = logging.getLogger("udev-drift")

CACHE_NAME = "policy-cache.json"
FORMAT = 3  # 3: each rules entry's summary (so a hit never parses its rules)
__all__ = ["CACHE_NAME", "MAX_CACHE_BYTES", "PolicyCache", "desired_json", "validator_fingerprint"]
# The code whose answer the cache keeps: what reads, checks and expands a policy.
_VALIDATOR_FOLDERS = ("policy", "rules")
_VALIDATOR_FILES = ("paths.py", "records.py", os.path.join("edits", "markers.py"))
_WHAT = "a policy cache"


@functools.lru_cache(maxsize=1)
def validator_fingerprint() -> str:
    """SHA-256 over the version and the code of the validator, read once per process."""
    return code_fingerprint(_VALIDATOR_FOLDERS, _VALIDATOR_FILES)


def desired_json(policy: DesiredPolicy) -> dict[str, Any]:
    return {
        "name": policy.name, "path": policy.path, "description": policy.description,
        "reload": policy.reload, "trigger": policy.trigger,
        "rules": [{"entry": r.entry, "file": r.file, "ensure": r.ensure, "content": r.content,
                   "line": r.policy_line} for r in policy.rules],
        "symlinks": [{"entry": s.entry, "link": s.link, "by": s.device.by, "value": s.device.value,
                      "required": s.required, "exclusive": s.exclusive, "line": s.policy_line}
                     for s in policy.symlinks],
    }


def _summary_json(summary: RulesSummary) -> dict[str, Any]:
    return {"count": summary.count, "warnings": summary.warnings, "accounts": summary.accounts,
            "kernels": summary.kernels, "open_end": summary.open_end}


def _strings(value: Any, size: int) -> tuple[Any, ...]:
    """A list of `size`-long lists: a line number, then strings."""
    out = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != size or not isinstance(item[0], int)
                or not all(isinstance(part, str) and "\0" not in part for part in item[1:])):
            raise ValueError("a summary's list is not of its shape")
        out.append(tuple(item))
    return tuple(out)


def _summary(data: Any) -> RulesSummary:
    kernels = data["kernels"]
    if (not isinstance(data["count"], int) or not isinstance(data["open_end"], bool)
            or not isinstance(kernels, (list, tuple)) or len(kernels) != data["count"]
            or not all(k is None or (isinstance(k, str) and "\0" not in k) for k in kernels)):
        raise ValueError("not a rules summary")
    accounts = _strings(data["accounts"], 4)
    if any(account[1] not in ACCOUNT_KEYS for account in accounts):
        raise ValueError("a summary's account is not OWNER or GROUP")
    return RulesSummary(count=data["count"], warnings=_strings(data["warnings"], 2),
                        accounts=accounts, kernels=tuple(kernels),
                        open_end=data["open_end"])


def _checked_places(data: dict[str, Any]) -> None:
    """Where a cached policy writes is held to the rules a policy file is held to."""
    for rule in data["rules"]:
        problem = rules_file_problem(rule["file"])
        if problem:
            raise ValueError(problem)
    for link in data["symlinks"]:
        problem = dev_path_problem(link["link"]) or (
            dev_path_problem(link["value"]) if link["by"] == "node" else None)
        if problem:
            raise ValueError(problem)


def _cached_json(policy: DesiredPolicy) -> dict[str, Any]:
    """What the cache keeps: the desired state, and each rules entry's summary."""
    data = desired_json(policy)
    for entry, rules in zip(data["rules"], policy.rules):
        entry["summary"] = _summary_json(rules.summary)
    return data


_to_json = _cached_json  # the name the tests know


def _from_json(data: dict[str, Any]) -> DesiredPolicy:
    _checked_places(data)
    name, path = data["name"], data["path"]
    return DesiredPolicy(
        name=name, path=path, description=data["description"],
        rules=tuple(DesiredRules(policy=name, entry=r["entry"], file=r["file"], ensure=r["ensure"],
                                 content=r["content"], known_summary=_summary(r["summary"]),
                                 policy_path=path, policy_line=r["line"]) for r in data["rules"]),
        symlinks=tuple(DesiredSymlink(policy=name, entry=s["entry"], link=s["link"],
                                      device=DeviceRef(s["by"], s["value"]), required=s["required"],
                                      policy_path=path, policy_line=s["line"], exclusive=s["exclusive"])
                       for s in data["symlinks"]),
        reload=data["reload"], trigger=data["trigger"],
    )


class PolicyCache:
    def __init__(self, directory: str, writable: bool, tree: bool = False) -> None:
        """`tree`: the cache is a --root tree's (checker.trusted_cache.origin)."""
        self.path = os.path.join(directory, CACHE_NAME)
        self.writable = writable
        self.origin = origin(tree)

    def _read(self) -> dict[str, Any]:
        data = read_trusted_json(self.path, _WHAT, written_under=self.origin)
        if (data is None or data.get("format") != FORMAT
                or data.get("validator") != validator_fingerprint()):
            return {}
        entries = data.get("policies")
        return entries if isinstance(entries, dict) else {}

    def lookup(self, files: Sequence[PolicyBytes]) -> list[DesiredPolicy] | None:
        """The desired state of exactly these files' bytes, if every one is known."""
        entries = self._read()
        if not entries:
            return None
        found: list[DesiredPolicy] = []
        for read in files:
            entry = entries.get(os.path.abspath(read.path))
            if not isinstance(entry, dict) or entry.get("sha256") != read.sha256:
                return None
            try:
                found.append(_from_json(entry["desired"]))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                log.warning("%s: a cached policy is refused (%s); validating the policies afresh",
                            self.path, error)
                return None
        log.debug("policies taken from %s (validated before, unchanged since)", self.path)
        return found

    def store(self, files: Sequence[PolicyBytes], policies: Sequence[DesiredPolicy]) -> None:
        """Remember these policies, keyed by the bytes they were validated from."""
        if not self.writable or len(files) != len(policies):
            return
        entries = {os.path.abspath(read.path): {"sha256": read.sha256, "desired": _cached_json(policy)}
                   for read, policy in zip(files, policies)}
        document = {"format": FORMAT, "version": __version__, "validator": validator_fingerprint(),
                    "policies": entries}
        write_trusted_json(self.path, document, _WHAT, self.origin)
