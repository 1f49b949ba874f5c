"""What the admin did to a rules file, found by aligning its rules with a pristine copy.

Rules are compared by their canonical form (what udev makes of them), so a vendor rule
that was re-spaced, re-quoted or split over continuation lines is the same rule and is
never taken for an addition. The alignment is difflib's SequenceMatcher over the
canonical strings (junk heuristics off: a rules file repeats GOTO/LABEL lines on purpose).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from difflib import SequenceMatcher

from checker.rules.model import Rule, RulesText

# How close a current rule must be to a removed vendor rule to be called a change of it
# (rather than a deletion next to an addition).
CHANGED_ENOUGH = 0.6


@dataclass(frozen=True)
class Changes:
    """The admin's changes to a file against its pristine copy."""

    added: tuple[Rule, ...]  # current rules that are not the vendor's, in file order
    deleted: tuple[Rule, ...]  # pristine rules the file no longer holds
    changed: tuple[tuple[Rule, Rule], ...]  # (pristine rule, the current rule that replaced it)
    kept: int  # vendor rules found unchanged

    @property
    def vendor_share(self) -> float:
        """How much of the pristine copy the file still holds (1.0: all of it)."""
        total = self.kept + len(self.deleted) + len(self.changed)
        return self.kept / total if total else 0.0


def _closest(rule: Rule, candidates: list[Rule]) -> Rule | None:
    best: tuple[float, Rule] | None = None
    for candidate in candidates:
        ratio = SequenceMatcher(None, candidate.canonical, rule.canonical).ratio()
        if ratio >= CHANGED_ENOUGH and (best is None or ratio > best[0]):
            best = (ratio, candidate)
    return None if best is None else best[1]


def compare(pristine: RulesText, current: RulesText, skip_lines: AbstractSet[int] = frozenset()) -> Changes:
    """Align the current rules (those not on `skip_lines`) with the pristine ones."""
    old = list(pristine.rules)
    new = [rule for rule in current.rules if rule.line - 1 not in skip_lines]
    matcher = SequenceMatcher(None, [r.canonical for r in old], [r.canonical for r in new], autojunk=False)
    added: list[Rule] = []
    deleted: list[Rule] = []
    changed: list[tuple[Rule, Rule]] = []
    kept = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            kept += i2 - i1
        elif tag == "delete":
            deleted.extend(old[i1:i2])
        elif tag == "insert":
            added.extend(new[j1:j2])
        else:  # replace: pair each new rule with the vendor rule it most resembles
            left = old[i1:i2]
            for rule in new[j1:j2]:
                was = _closest(rule, left)
                if was is None:
                    added.append(rule)
                else:
                    left.remove(was)
                    changed.append((was, rule))
            deleted.extend(left)
    return Changes(tuple(added), tuple(deleted), tuple(changed), kept)


def runs(added: tuple[Rule, ...], current: RulesText) -> list[tuple[Rule, ...]]:
    """The added rules grouped into runs that stand together in the file: no other rule
    (vendor, dropped, or managed) between them. Comments and empty lines may."""
    order = {id(rule): index for index, rule in enumerate(current.rules)}
    groups: list[list[Rule]] = []
    previous = -2
    for rule in added:
        index = order[id(rule)]
        if index == previous + 1 and groups:
            groups[-1].append(rule)
        else:
            groups.append([rule])
        previous = index
    return [tuple(group) for group in groups]
