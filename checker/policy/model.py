"""The policy format, version 1, as pydantic models: the only place pydantic is used.

Models check the shape and each value on its own. What needs the whole file (the
`{{ item }}` expansion, the rules in `content` as udev would read them) is checked by
`checker.policy.expand`, which turns a Policy into plain desired-state values.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import List, Literal, Optional, Union

# pydantic looks for plugins (an importlib.metadata scan of every installed package, ~8 ms)
# when the first model is built. A policy validator wants no plugin anyway.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator  # noqa: E402

from checker.policy.places import dev_path_problem, rules_file_problem

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
MAX_NAME_LENGTH = 64
# The only placeholder; anything else between double braces is refused so that a typo
# like {{ iten }} cannot silently reach a rules file.
PLACEHOLDER = re.compile(r"\{\{\s*item\s*\}\}")
ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")


def _check_placeholders(value: str) -> str:
    for match in ANY_BRACES.finditer(value):
        if not PLACEHOLDER.fullmatch(match.group(0)):
            raise ValueError(
                f"unknown placeholder {match.group(0)!r}: '{{{{ item }}}}' is the only one"
            )
    return value


def _checked(problem: Optional[str], value: str) -> str:
    if problem:
        raise ValueError(problem)
    return _check_placeholders(value)


class _Strict(BaseModel):
    # Unknown keys are errors, and values are not coerced ("yes" is not a boolean).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


ForEach = Optional[List[Union[str, int]]]


def _check_for_each(items: ForEach) -> ForEach:
    if items is None:
        return None
    if not items:
        raise ValueError("for_each must list at least one item")
    texts = [str(item) for item in items]
    for text in texts:
        if not text or "\n" in text or "{{" in text:
            raise ValueError(f"for_each item {text!r} must be a non-empty single line")
    duplicates = sorted(text for text, count in Counter(texts).items() if count > 1)
    if duplicates:
        raise ValueError(f"for_each lists {', '.join(duplicates)} more than once")
    return items


class DeviceIdentity(_Strict):
    """A device named by something stable, or by its kernel name (which can move)."""

    serial: Optional[str] = Field(None, description="ID_SERIAL, e.g. WDC_WD40EFRX_WD-WCC7K1234567")
    wwn: Optional[str] = Field(None, description="ID_WWN, e.g. 0x50014ee2b5c4f1a2")
    path: Optional[str] = Field(None, description="ID_PATH, e.g. pci-0000:00:1f.2-ata-2")
    kernel: Optional[str] = Field(None, description="kernel name, e.g. sdb (can change at boot)")

    @model_validator(mode="after")
    def _exactly_one(self) -> DeviceIdentity:
        given = [name for name in ("serial", "wwn", "path", "kernel") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("device needs exactly one of serial, wwn, path, kernel")
        for name in given:
            _check_placeholders(getattr(self, name))
        return self


class RulesEntry(_Strict):
    """Rules that must (or must not) be in one rules file."""

    file: str = Field(description="absolute path of a *.rules file")
    ensure: Literal["block", "lines", "file", "absent"] = Field(
        description="block: a marked block the tool owns inside a shared file; lines: each "
        "rule present somewhere; file: the tool owns the whole file; absent: none present"
    )
    content: str = Field(description="udev rules, one per line; {{ item }} is replaced")
    for_each: ForEach = Field(None, description="repeat the entry once per item")
    description: Optional[str] = None

    @field_validator("file")
    @classmethod
    def _file_is_rules(cls, value: str) -> str:
        # A policy writes only where udev reads rules: it cannot be used to write files
        # anywhere else as root. Checked again on each path a for_each item expands into.
        return _checked(rules_file_problem(value), value)

    @field_validator("content")
    @classmethod
    def _content_placeholders(cls, value: str) -> str:
        return _check_placeholders(value)

    _for_each = field_validator("for_each")(_check_for_each)


class SymlinkEntry(_Strict):
    """A /dev symlink that must exist and resolve to a device node."""

    link: str = Field(description="absolute path under /dev")
    target: Optional[str] = Field(None, description="the device node the link must resolve to")
    device: Optional[DeviceIdentity] = Field(None, description="the device, by stable identity")
    required: bool = Field(
        False, description="when false, a device that is not present is 'absent', not drift"
    )
    exclusive: bool = Field(
        False, description="the device is for a VM alone: the host mounting it (or any of its "
        "partitions), swapping on it, or holding it in md/LVM/dm is drift (checked on a live "
        "host only)"
    )
    for_each: ForEach = Field(None, description="repeat the entry once per item")
    description: Optional[str] = None

    @field_validator("link", "target")
    @classmethod
    def _under_dev(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        return _checked(dev_path_problem(value), value)

    _for_each = field_validator("for_each")(_check_for_each)

    @model_validator(mode="after")
    def _target_or_device(self) -> SymlinkEntry:
        if (self.target is None) == (self.device is None):
            raise ValueError("a symlink entry needs exactly one of target or device")
        return self


class ApplySettings(_Strict):
    reload: bool = Field(True, description="after a repair: udevadm control --reload")
    trigger: bool = Field(True, description="then trigger the policy's devices and settle")


class Policy(_Strict):
    """One policy file."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        title="udev-drift policy",
        json_schema_extra={"$comment": "udev-drift policy format, version 1"},
    )

    version: Literal[1]
    # The name is written into the block markers (# BEGIN udev-drift <name>): short, so
    # that a marker line stays far below udev's 16 KiB line limit.
    name: str = Field(max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN,
                      description="unique among loaded policies")
    description: Optional[str] = None
    rules: List[RulesEntry] = Field(default_factory=list)
    symlinks: List[SymlinkEntry] = Field(default_factory=list)
    apply: ApplySettings = Field(default_factory=ApplySettings)

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_the_integer_1(cls, value: object) -> object:
        # true, 1.0 and 1 are equal in Python: only the integer itself is a version.
        if type(value) is not int:
            raise ValueError(f"version must be the integer 1, got {str(value)[:40]!r}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Policy:
        if not self.rules and not self.symlinks:
            raise ValueError("a policy needs at least one entry under rules or symlinks")
        return self
