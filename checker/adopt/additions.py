"""What the admin did to a rules file, found by aligning its rules with a pristine copy.

Rules are compared by their canonical form (what udev makes of them), so a vendor rule
that was re-spaced, re-quoted or split over continuation lines is the same rule and is
never taken for an addition. The alignment is difflib's SequenceMatcher over the
canonical strings (junk heuristics off: a rules file repeats GOTO/LABEL lines on purpose).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from difflib import SequenceMatcher

from checker.records import dataclass
from checker.rules.model import Rule, RulesText

# How close a current rule must be to a removed vendor rule to be called a change of it
# (rather than a deletion next to an addition).
CHANGED_ENOUGH = 0.6
# How many vendor rules either side of its place a changed rule is compared with.
WINDOW = 64


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


def _pair(old: list[Rule], new: list[Rule]) -> tuple[list[tuple[Rule, Rule]], list[Rule], list[Rule]]:
    """In a stretch where the vendor rules `old` were replaced by `new`: (changed pairs,
    added, deleted). Each new rule, in order, takes the unused vendor rule it most resembles
    (difflib's ratio at least CHANGED_ENOUGH; among equals the earliest), or none.

    Asking the ratio of every pair made this quadratic (800 changed rules: 20 s). Now a
    rule the vendor file has as it is is found by its text; the others are compared only
    with the vendor rules within WINDOW places of where they stand in proportion, nearest
    first, and a candidate whose cheap upper bounds (real_quick_ratio, quick_ratio) cannot
    beat the best so far is not compared at all. A stretch of at most WINDOW vendor rules
    is searched whole, exactly as before."""
    used = [False] * len(old)
    by_text: dict[str, list[int]] = {}
    for index in range(len(old) - 1, -1, -1):  # each list pops its earliest index first
        by_text.setdefault(old[index].canonical, []).append(index)
    changed: list[tuple[Rule, Rule]] = []
    added: list[Rule] = []
    matcher = SequenceMatcher(None)  # its autojunk as before: the same ratios
    for position, rule in enumerate(new):
        same = by_text.get(rule.canonical, [])
        while same and used[same[-1]]:
            same.pop()
        best: tuple[float, int] | None = (1.0, same.pop()) if same else None
        if best is None:
            matcher.set_seq2(rule.canonical)
            centre = position * len(old) // len(new)
            low, high = max(0, centre - WINDOW), min(len(old), centre + WINDOW + 1)
            for index in sorted(range(low, high), key=lambda i: (abs(i - centre), i)):
                if used[index]:
                    continue
                matcher.set_seq1(old[index].canonical)
                if not _may_beat(matcher.real_quick_ratio(), index, best) or \
                        not _may_beat(matcher.quick_ratio(), index, best):
                    continue
                ratio = matcher.ratio()
                if ratio >= CHANGED_ENOUGH and _may_beat(ratio, index, best):
                    best = (ratio, index)
        if best is None:
            added.append(rule)
        else:
            used[best[1]] = True
            changed.append((old[best[1]], rule))
    deleted = [rule for index, rule in enumerate(old) if not used[index]]
    return changed, added, deleted


def _may_beat(ratio: float, index: int, best: tuple[float, int] | None) -> bool:
    """Whether a candidate at `index` with this ratio (or this upper bound) wins over `best`."""
    if best is None:
        return ratio >= CHANGED_ENOUGH
    return ratio > best[0] or (ratio == best[0] and index < best[1])


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
            pairs, plus, minus = _pair(old[i1:i2], new[j1:j2])
            changed.extend(pairs)
            added.extend(plus)
            deleted.extend(minus)
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
