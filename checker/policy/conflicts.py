"""Policies that contradict each other are refused: nothing could ever satisfy both."""

from __future__ import annotations

from collections.abc import Sequence

from checker.errors import PolicyError, raise_all
from checker.policy.desired import DesiredPolicy, DesiredRules


def check_conflicts(policies: Sequence[DesiredPolicy]) -> None:
    """Refuse policies that contradict each other: nothing could ever satisfy both."""
    errors: list[PolicyError] = []
    owners: dict[str, DesiredRules] = {}
    present: dict[tuple[str, str], DesiredRules] = {}
    for policy in policies:
        for entry in policy.rules:
            if entry.ensure == "file":
                owner = owners.setdefault(entry.file, entry)
                if owner.policy != entry.policy:
                    errors.append(PolicyError(
                        entry.policy_path, entry.policy_line, None,
                        f"at '{entry.entry}': {entry.file} is already owned whole "
                        f"(ensure: file) by policy {owner.policy}"))
            if entry.ensure != "absent":
                for rule in entry.rules:
                    present.setdefault((entry.file, rule.canonical), entry)
    for policy in policies:
        for entry in policy.rules:
            if entry.file in owners and entry.ensure != "file" and owners[entry.file].policy != entry.policy:
                errors.append(PolicyError(
                    entry.policy_path, entry.policy_line, None,
                    f"at '{entry.entry}': {entry.file} is owned whole (ensure: file) by "
                    f"policy {owners[entry.file].policy}; no other policy may change it"))
            if entry.ensure == "absent":
                for rule in entry.rules:
                    other = present.get((entry.file, rule.canonical))
                    if other is not None:
                        errors.append(PolicyError(
                            entry.policy_path, entry.policy_line, None,
                            f"at '{entry.entry}': ensures absent a rule that "
                            f"{other.policy} {other.entry} ensures present in {entry.file}"))
    raise_all(errors)
