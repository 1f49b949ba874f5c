"""What a check finds: one Finding per managed item, and the report of a whole run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from checker.records import dataclass, field

if TYPE_CHECKING:
    from checker.edits.ensure import Edit
    from checker.rules.model import Rule

# Words that are data: a misspelt one fails the type check instead of a dict lookup.
Kind = Literal["rule", "symlink"]
Status = Literal[
    "ok",
    # rules entries
    "missing", "changed", "damaged", "duplicated", "unexpected", "masked", "shadowed", "not-a-file",
    # symlink entries
    "absent", "not-a-link", "dangling", "wrong-target", "unknown-to-udev", "claimed", "ambiguous",
    "held-by-host",
    # either: present, but the rule set as udev applies it gives no such effect
    "ineffective", "not-made",
]
Effect = Literal["yes", "no", "unknown"]
ActionKind = Literal["write", "link", "run", "refuse"]
Mode = Literal["check", "repair", "dry-run"]


@dataclass
class Finding:
    policy: str
    kind: Kind
    path: str  # the rules file or the link, as a host path
    item: str  # names the item for people and metric labels: "<file> block", a link path
    entry: str  # where the policy asks for it: "rules[0]", "symlinks[1][sdc]"
    status: Status  # "ok", or a short word for what is wrong
    drift: bool
    message: str
    details: list[str] = field(default_factory=list)  # further lines for people
    diff: str | None = None  # unified diff of the file now -> as the policy wants it
    edit: Edit | None = None  # how a repair would change the file's text
    device: str | None = None  # symlinks: the device node found (host path)
    was: Status | None = None  # after a repair: the status before it
    # the rule set as udev applies it (check/effects.py): does the item take effect at
    # the next event, why not (file, line, the rule, the kind), why it cannot be known
    effect: Effect | None = None
    cause: Cause | None = None
    effect_reason: str | None = None
    # rules entries: the file's rules that are wanted (checker.check.rules.PlacedRules: parsed
    # when first read)
    present_rules: Sequence[Rule] = ()

    def add_reasons(self, reasons: list[str]) -> None:
        """Reasons go before the other details: why it drifted is read first."""
        self.details[:0] = reasons

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind, "path": self.path, "status": self.status,
            "message": self.message, "drift": self.drift, "item": self.item,
            "entry": self.entry,
        }
        if self.details:
            data["details"] = list(self.details)
        if self.diff is not None:
            data["diff"] = self.diff
        if self.was is not None:
            data["was"] = self.was
        if self.device is not None:  # symlinks: the device node the entry's device is
            data["device"] = self.device
        if self.effect is not None:
            data["effect"] = self.effect
        if self.cause is not None:
            data["cause"] = self.cause.to_json()
        if self.effect_reason is not None:
            data["effect_reason"] = self.effect_reason
        return data


@dataclass(frozen=True)
class Cause:
    """Why a wanted rule or link takes no effect: the rule to look at and what it does."""

    file: str
    line: int
    rule: str  # the text of the rule at file:line
    why: str  # goto, reset, final, order, no-match, no-rule, not-created
    text: str  # the sentence, with file:line
    event: str | None = None  # the event (add, change, remove) the evaluation was for

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "line": self.line, "rule": self.rule, "why": self.why}
        if self.event is not None:
            data["event"] = self.event
        return data


@dataclass
class PolicyReport:
    name: str
    path: str
    findings: list[Finding]

    @property
    def compliant(self) -> bool:
        return not any(finding.drift for finding in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "compliant": self.compliant,
                "findings": [finding.to_json() for finding in self.findings]}


@dataclass
class Action:
    """Something a repair did, or would do on a dry run."""

    action: ActionKind
    path: str | None = None
    detail: str = ""  # the backup's path, the link's target, the reason refused
    command: list[str] | None = None
    diff: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action}
        for key in ("path", "command", "diff"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass
class Report:
    policies: list[PolicyReport]
    repaired: bool = False
    root: str = "/"
    mode: Mode = "check"
    actions: list[Action] = field(default_factory=list)
    # whose udev semantics the run applied: {"version": 219, "source": "...", "note"?: "..."}
    udev: dict[str, Any] | None = None

    @property
    def dry_run(self) -> bool:
        return self.mode == "dry-run"

    @property
    def compliant(self) -> bool:
        return all(policy.compliant for policy in self.policies)

    @property
    def drifted(self) -> list[Finding]:
        return [f for policy in self.policies for f in policy.findings if f.drift]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "compliant": self.compliant, "repaired": self.repaired, "root": self.root,
            "policies": [policy.to_json() for policy in self.policies]}
        if self.udev is not None:
            data["udev"] = self.udev
        if self.mode != "check":
            data["dry_run"] = self.dry_run
            data["actions"] = [action.to_json() for action in self.actions]
        return data
