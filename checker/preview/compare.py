"""What an update does to the policies: `engine.check` three times, on the same devices.

    before    the host now
    updated   the host as the transaction leaves it (overlay.py): what dpkg/rpm write
    repaired  that, after the repair that udev-drift's post-update hook runs (the plan of
              `check --repair`, applied to the overlay, never to the host)

An item that is kept now and drifts in `repaired` is lost: the update takes it away and
the repair cannot bring it back (a vendor rule that makes the managed one ineffective, a
mask, a shadowing file). An item that drifts only in `updated` is overwritten, and the
repair restores it. Both name their cause in the new package where the transaction is it.
"""

from __future__ import annotations

import os
import re
import stat as stat_module
from collections.abc import Sequence
from typing import Any, Literal

from checker import engine
from checker.findings import Finding, Report
from checker.host import Host
from checker.observe.devices import devices_for
from checker.observe.files import RulesFiles
from checker.policy.desired import DesiredPolicy
from checker.preview.overlay import OverlayRulesFiles
from checker.preview.transaction import Change, Transaction
from checker.records import dataclass, field
from checker.repair import plan_repair

Outcome = Literal["lost", "restored", "uncertain", "gained", "still-drifted"]


@dataclass
class Source:
    """Where in the transaction a cause comes from."""

    package: str  # "name version"
    package_file: str  # the .deb/.rpm file name
    member: str  # the path in the package
    path: str  # the host path it is installed as
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"package": self.package, "package_file": self.package_file,
                                "member": self.member, "path": self.path}
        if self.line is not None:
            data["line"] = self.line
        return data

    def __str__(self) -> str:
        where = f"{self.member}:{self.line}" if self.line is not None else self.member
        return f"{self.package} ({self.package_file}: {where})"


@dataclass
class ItemChange:
    outcome: Outcome
    policy: str
    kind: str
    item: str
    entry: str
    status_before: str
    status_after: str
    message: str
    what: str  # "a link no longer made", "a link given to another device", "a program no longer run", ...
    cause: dict[str, Any] | None = None
    source: Source | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "outcome": self.outcome, "policy": self.policy, "kind": self.kind, "item": self.item,
            "entry": self.entry, "status_before": self.status_before, "status_after": self.status_after,
            "what": self.what, "message": self.message}
        if self.cause is not None:
            data["cause"] = self.cause
        if self.source is not None:
            data["source"] = self.source.to_json()
        return data


@dataclass
class Preview:
    transaction: Transaction
    changes: list[ItemChange] = field(default_factory=list)
    before: Report | None = None
    updated: Report | None = None
    repaired: Report | None = None

    @property
    def lost(self) -> list[ItemChange]:
        return [c for c in self.changes if c.outcome == "lost"]

    def losses_by_package(self) -> dict[str, int]:
        counts: dict[str, int] = {p.name: 0 for p in self.transaction.packages}
        for change in self.lost:
            name = change.source.package.split(" ")[0] if change.source else "(transaction)"
            counts[name] = counts.get(name, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "safe": not self.lost,
            "packages": [{"name": p.name, "version": p.version, "format": p.format, "file": p.source,
                          "rules_files": [f.member for f in p.files], "removed": p.removal}
                         for p in self.transaction.packages],
            "rules_files_changed": sorted(self.transaction.changes),
            "notes": list(self.transaction.notes),
            "changes": [c.to_json() for c in self.changes],
        }


# RUN= or RUN:= (not RUN+=) in the rule a cause names: it drops the programs added before
_RUN_ASSIGNED = re.compile(r"\bRUN(\{[^}]*\})?\s*:?=(?!=)")


def _has_run(finding: Finding) -> bool:
    return any(t.key == "RUN" for rule in finding.present_rules for t in rule.tokens)


def _what(finding: Finding, before: Finding) -> str:
    if finding.kind == "symlink":
        if finding.cause is not None and finding.cause.why == "claimed":
            return "a link given to another device"  # made, but a higher link_priority takes it
        return "a link no longer made"
    if finding.status in ("missing", "changed", "damaged", "duplicated", "unexpected"):
        return "a managed rule overwritten"
    if finding.status in ("masked", "shadowed", "not-a-file"):
        return "a managed rule no longer read" + (": its program no longer run" if _has_run(before) else "")
    cause = finding.cause
    if cause is not None and cause.why in ("reset", "final"):
        if _RUN_ASSIGNED.search(cause.rule) and _has_run(before):
            return "a program no longer run"
        return "a managed rule's link undone"
    if _has_run(before):
        return "a program no longer run"  # skipped (GOTO) or never matching: nothing of it acts
    return "a managed rule no longer effective"


def _key(finding: Finding) -> tuple[str, str, str]:
    return (finding.policy, finding.entry, finding.item)


def run(policies: Sequence[DesiredPolicy], host: Host, transaction: Transaction) -> Preview:
    devices = devices_for(policies, host)
    before = engine.check(policies, host, None, RulesFiles(host), devices)
    updated_files = OverlayRulesFiles(host, transaction.changes)
    updated = engine.check(policies, host, None, updated_files, devices)
    repair = plan_repair(policies, updated, updated_files, host)
    written = dict(transaction.changes)
    for rewrite in repair.files:
        st = updated_files.lstat(rewrite.path)
        if st is not None and stat_module.S_ISLNK(st.st_mode):
            continue  # repair refuses to write through a link
        # the package's file with the block put back: a cause in its other lines is still the package's
        found = updated_files.change_at(rewrite.path)
        origin = found[1] if found is not None else Change("file")
        written[rewrite.path] = Change("file", data=rewrite.new.encode("utf-8", "surrogateescape"),
                                       package=origin.package, member=origin.member)
    repaired_files = OverlayRulesFiles(host, written)
    repaired = engine.check(policies, host, None, repaired_files, devices)
    preview = Preview(transaction, before=before, updated=updated, repaired=repaired)
    was = {_key(f): f for p in before.policies for f in p.findings}
    mid = {_key(f): f for p in updated.policies for f in p.findings}
    for finding in (f for p in repaired.policies for f in p.findings):
        old = was.get(_key(finding))
        middle = mid.get(_key(finding))
        if old is None or middle is None:
            continue
        change = _compare(old, middle, finding, updated_files, repaired_files)
        if change is not None:
            preview.changes.append(change)
    # A link no rule makes any more (its rule overwritten, masked, shadowed) has no cause
    # line of its own: its source is its policy's rule that changed the same way.
    for change in preview.changes:
        if change.kind == "symlink" and change.source is None:
            sources = {str(c.source): c.source for c in preview.changes if c.policy == change.policy
                       and c.kind == "rule" and c.outcome == change.outcome and c.source is not None}
            if len(sources) == 1:
                change.source = next(iter(sources.values()))
    return preview


def _compare(old: Finding, middle: Finding, new: Finding, updated: OverlayRulesFiles,
             repaired: OverlayRulesFiles) -> ItemChange | None:
    def change(outcome: Outcome, finding: Finding, what: str, files: OverlayRulesFiles) -> ItemChange:
        cause = finding.cause.to_json() if finding.cause is not None else None
        return ItemChange(outcome, finding.policy, finding.kind, finding.item, finding.entry, old.status,
                       finding.status, finding.message, what, cause, _source(finding, files))

    if not old.drift and new.drift:
        return change("lost", new, _what(new, old), repaired)
    if not old.drift and middle.drift:
        restored = change("restored", middle, _what(middle, old), updated)
        restored.message += "; the repair after the update puts it back"
        return restored
    if old.drift and not new.drift:
        return change("gained", new, "drift that the update ends", repaired)
    if old.effect == "yes" and new.effect == "unknown":
        return change("uncertain", new, "no longer known to take effect", repaired)
    return None


def _source(finding: Finding, files: OverlayRulesFiles) -> Source | None:
    """The file of the transaction the finding's cause is in, else the one it is about."""
    candidates: list[tuple[str, int | None]] = []
    if finding.cause is not None:
        candidates.append((finding.cause.file, finding.cause.line))
    if finding.kind == "rule":
        observed = files.get(finding.path)
        for other in (observed.shadowed_by, observed.masked_by, finding.path):
            if other:
                candidates.append((other, None))
    for path, line in candidates:
        found = files.change_at(path)
        if found is not None and found[1].package is not None:
            change = found[1]
            assert change.package is not None
            return Source(change.package.label, os.path.basename(change.package.source), change.member,
                          path, line)
    return None
