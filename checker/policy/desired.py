"""Desired state: what the policies ask of the host, as plain values (no pydantic)."""

from __future__ import annotations

from typing import Literal

from checker.records import dataclass, field
from checker.rules.literal import literal_kernel
from checker.rules.model import Rule
from checker.rules.textlines import open_continuation, split_keepends

Ensure = Literal["block", "lines", "file", "absent"]  # the policy format's `ensure:` modes


# OWNER= and GROUP= name accounts udev looks up when it loads the rules (load_warnings).
ACCOUNT_KEYS = ("OWNER", "GROUP")


@dataclass(frozen=True)
class RulesSummary:
    """What a run that finds the host as the policy wants needs of an entry's rules, kept
    in the policy cache so that such a run never parses them (a host of 10,000 disks has
    30,000): how many there are, what udev warns of, the accounts they name, and the
    device each names by a literal KERNEL==."""

    count: int
    warnings: tuple[tuple[int, str], ...]  # (content line, warning)
    accounts: tuple[tuple[int, str, str, str], ...]  # (content line, key, operator, value)
    kernels: tuple[str | None, ...]  # per rule: the one kernel name its KERNEL== names
    open_end: bool  # the content's last line continues onto whatever follows it

    @staticmethod
    def of(rules: tuple[Rule, ...], content: str) -> RulesSummary:
        return RulesSummary(
            count=len(rules),
            warnings=tuple((rule.line, warning) for rule in rules for warning in rule.warnings),
            accounts=tuple((rule.line, t.key, t.op, t.value) for rule in rules for t in rule.tokens
                           if t.key in ACCOUNT_KEYS),
            kernels=tuple(literal_kernel(rule) for rule in rules),
            open_end=open_continuation(split_keepends(content)),
        )


@dataclass(frozen=True)
class DesiredRules:
    """One rules entry of a policy, after `for_each` expansion.

    `rules` is the content as udev 252 reads it, parsed when first asked for: a policy
    taken from the cache carries its `summary` instead, which is all that a run finding
    the host compliant reads."""

    policy: str
    entry: str  # key path of the entry in its policy, with the item: "rules[0][sdb]"
    file: str  # absolute host path of the rules file
    ensure: Ensure
    content: str  # the rules text with {{ item }} replaced, ending in a newline
    policy_path: str  # the policy file, for messages
    policy_line: int | None
    parsed: tuple[Rule, ...] | None = field(default=None, compare=False, repr=False)
    known_summary: RulesSummary | None = field(default=None, compare=False, repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The content as udev reads it (every rule valid: the policy was validated)."""
        if self.parsed is None:
            from checker.rules.parsed import parse_rules

            # frozen: the parse is a cache of `content`, not a change of the value
            object.__setattr__(self, "parsed", parse_rules(self.content).rules)
        assert self.parsed is not None
        return self.parsed

    @property
    def summary(self) -> RulesSummary:
        if self.known_summary is None:
            object.__setattr__(self, "known_summary", RulesSummary.of(self.rules, self.content))
        assert self.known_summary is not None
        return self.known_summary

    def udev_warnings(self) -> list[str]:
        """What udev would log, but accept, when it loads this entry's rules: a rule that
        takes no effect, a key it ignores, a GOTO without its LABEL. One line each."""
        where = f"{self.policy_path}:{self.policy_line}" if self.policy_line else self.policy_path
        return [f"{where}: {self.entry}: content line {line}: {warning}"
                for line, warning in self.summary.warnings]


@dataclass(frozen=True)
class DeviceRef:
    """How a symlink entry names its device."""

    by: str  # node | serial | wwn | path | kernel
    value: str  # a /dev path for node, else the identity's value

    def describe(self) -> str:
        return self.value if self.by == "node" else f"{self.by} {self.value}"


@dataclass(frozen=True)
class DesiredSymlink:
    policy: str
    entry: str  # "symlinks[0][sdb]"
    link: str  # absolute path under /dev
    device: DeviceRef
    required: bool
    policy_path: str
    policy_line: int | None
    exclusive: bool = False  # the host must not mount, swap on or hold the device


@dataclass(frozen=True)
class DesiredPolicy:
    name: str
    path: str  # the policy file
    description: str | None
    rules: tuple[DesiredRules, ...]
    symlinks: tuple[DesiredSymlink, ...]
    reload: bool
    trigger: bool
    # the SHA-256 of the policy file's bytes this was validated and expanded from (None:
    # made otherwise): with the validator's fingerprint it determines all of the above,
    # which the verdict cache's key then need not spell out (10,000 entries on a shelf)
    source_sha256: str | None = field(default=None, compare=False, repr=False)
