"""Policies that contradict each other are refused: nothing could ever satisfy both.

One file can have two names: on a merged-/usr host /lib is a link to usr/lib, so
/lib/udev/rules.d/x and /usr/lib/udev/rules.d/x are one file. Entries are compared by
the file they name on the host (its device and inode when it exists, else the path it
resolves to, inside the --root tree), not by how they spell it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from checker.errors import PolicyError, raise_all
from checker.host import Host
from checker.policy.desired import DesiredPolicy, DesiredRules

FileKey = tuple[object, ...]


class _Files:
    """The identity of each file named, resolved once."""

    def __init__(self, host: Host | None) -> None:
        self.host = host
        self.keys: dict[str, FileKey] = {}

    def key(self, path: str) -> FileKey:
        if path not in self.keys:
            self.keys[path] = self._identify(path)
        return self.keys[path]

    def _identify(self, path: str) -> FileKey:
        if self.host is None:
            return ("path", os.path.normpath(path))
        followed = self.host.follow(path)
        if followed is None:  # a loop: only its spelling names it
            return ("path", os.path.normpath(path))
        resolved, st = followed
        if st is not None:
            return ("inode", st.st_dev, st.st_ino)
        return ("path", os.path.normpath(resolved))


def _named(entry: DesiredRules, other: DesiredRules) -> str:
    """The file as `entry` names it, with the other name when they differ."""
    if entry.file == other.file:
        return entry.file
    return f"{entry.file} (the same file as {other.file})"


def check_conflicts(policies: Sequence[DesiredPolicy], host: Host | None = None) -> None:
    """Refuse policies that contradict each other: nothing could ever satisfy both."""
    files = _Files(host)
    errors: list[PolicyError] = []
    owners: dict[FileKey, DesiredRules] = {}
    present: dict[tuple[FileKey, str], DesiredRules] = {}
    any_absent = any(entry.ensure == "absent" for policy in policies for entry in policy.rules)
    for policy in policies:
        for entry in policy.rules:
            key = files.key(entry.file)
            if entry.ensure == "file":
                owner = owners.setdefault(key, entry)
                if owner.policy != entry.policy:
                    errors.append(PolicyError(
                        entry.policy_path, entry.policy_line, None,
                        f"at '{entry.entry}': {_named(entry, owner)} is already owned whole "
                        f"(ensure: file) by policy {owner.policy}"))
            # which rules are present matters only against an `absent` entry: without
            # one, the rules are not read (a policy from the cache is not even parsed)
            if entry.ensure != "absent" and any_absent:
                for rule in entry.rules:
                    present.setdefault((key, rule.canonical), entry)
    for policy in policies:
        for entry in policy.rules:
            key = files.key(entry.file)
            whole = owners.get(key)
            if whole is not None and entry.ensure != "file" and whole.policy != entry.policy:
                errors.append(PolicyError(
                    entry.policy_path, entry.policy_line, None,
                    f"at '{entry.entry}': {_named(entry, whole)} is owned whole (ensure: file) by "
                    f"policy {whole.policy}; no other policy may change it"))
            if entry.ensure == "absent":
                for rule in entry.rules:
                    other = present.get((key, rule.canonical))
                    if other is not None:
                        errors.append(PolicyError(
                            entry.policy_path, entry.policy_line, None,
                            f"at '{entry.entry}': ensures absent a rule that "
                            f"{other.policy} {other.entry} ensures present in {_named(entry, other)}"))
    raise_all(errors)
