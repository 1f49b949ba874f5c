"""Desired state: what the policies ask of the host, as plain values (no pydantic)."""

from __future__ import annotations

from typing import Literal

from checker.records import dataclass
from checker.rules.model import Rule

Ensure = Literal["block", "lines", "file", "absent"]  # the policy format's `ensure:` modes


@dataclass(frozen=True)
class DesiredRules:
    """One rules entry of a policy, after `for_each` expansion."""

    policy: str
    entry: str  # key path of the entry in its policy, with the item: "rules[0][sdb]"
    file: str  # absolute host path of the rules file
    ensure: Ensure
    content: str  # the rules text with {{ item }} replaced, ending in a newline
    rules: tuple[Rule, ...]  # content as udev reads it (every rule valid)
    policy_path: str  # the policy file, for messages
    policy_line: int | None

    def udev_warnings(self) -> list[str]:
        """What udev would log, but accept, when it loads this entry's rules: a rule that
        takes no effect, a key it ignores, a GOTO without its LABEL. One line each."""
        where = f"{self.policy_path}:{self.policy_line}" if self.policy_line else self.policy_path
        return [f"{where}: {self.entry}: content line {rule.line}: {warning}"
                for rule in self.rules for warning in rule.warnings]


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
