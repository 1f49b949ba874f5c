"""The adopted entries as a commented YAML policy, checked by the real validator.

The text is written by hand (PyYAML's dumper drops comments and folds long rules); each
value is written in the plainest form that reads back as exactly the same string, and the
whole policy is loaded, validated and expanded as `validate` would before it is shown.
"""

from __future__ import annotations

import json

import yaml

from checker.adopt.links import AdoptedLink
from checker.adopt.plan import AdoptedRules, Adoption
from checker.errors import UdevDriftError
from checker.policy.expand import expand_policy
from checker.policy.loader import LoadedPolicy, parse_yaml, validate_data

HEADER = """\
# Adopted by `udev-drift adopt`: the udev rules and links this host has now that no
# package put there. Read it, then keep it in /etc/udev-drift/policies.d/ (or rerun with
# --write): `udev-drift check --repair` then only marks the adopted blocks, and from then
# on puts these rules back whenever an update or an editor takes them away.
"""


def scalar(value: str) -> str:
    """A one-line value as YAML reads back as the same string (sdb stays plain, 0x5... and
    yes are quoted)."""
    try:
        plain = yaml.safe_load(f"k: {value}\n") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain and value.strip() == value else json.dumps(value)


def _block_scalar(text: str, indent: int) -> str:
    """`text` as a literal block under a key at `indent` spaces, or a double-quoted string
    where a block cannot hold it (carriage returns, control characters)."""
    chomp = "-" if not text.endswith("\n") else ("+" if text.endswith("\n\n") or text == "\n" else "")
    first = next((line for line in text.splitlines() if line.strip()), "")
    header = "|" + ("2" if first[:1] in (" ", "\t") else "") + chomp
    pad = " " * (indent + 2)
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    body = "".join(pad + line + "\n" if line else "\n" for line in lines)
    rendered = f"{header}\n{body}"
    try:
        if yaml.safe_load(f"k: {rendered}") == {"k": text}:
            return rendered
    except yaml.YAMLError:
        pass
    return json.dumps(text) + "\n"


def _comment(lines: tuple[str, ...], indent: int) -> str:
    return "".join(" " * indent + "# " + line + "\n" for line in lines)


def _items(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(scalar(item) for item in items) + "]"


def _rules_entry(entry: AdoptedRules) -> str:
    out = _comment(entry.comment, 2)
    out += f"  - file: {scalar(entry.file)}\n    ensure: {entry.ensure}\n"
    if entry.piece.items is not None:
        out += f"    for_each: {_items(entry.piece.items)}\n"
    return out + "    content: " + _block_scalar(entry.piece.text, 4)


def _link_entry(entry: AdoptedLink) -> str:
    out = ""
    if entry.missing_now:
        out += "  # missing now: the first repair (or udev's next event for the disk) makes it\n"
    out += f"  - link: {scalar(entry.link)}\n"
    if entry.items is not None:
        out += f"    for_each: {_items(entry.items)}\n"
    if entry.device is not None:
        out += f"    device: {{{entry.device[0]}: {scalar(entry.device[1])}}}\n"
    else:
        assert entry.target is not None
        out += f"    target: {scalar(entry.target)}\n"
    return out + "    required: false   # an unplugged disk is reported \"absent\", not drift\n"


def render(adoption: Adoption, name: str) -> str:
    text = HEADER + f"version: 1\nname: {name}\n"
    text += "description: Rules and links adopted from this host by udev-drift adopt\n"
    if adoption.rules:
        text += "rules:\n" + "".join(_rules_entry(entry) for entry in adoption.rules)
    if adoption.links:
        text += "symlinks:\n" + "".join(_link_entry(entry) for entry in adoption.links)
    _validate(text, name)
    return text


def _validate(text: str, name: str) -> None:
    """What `validate` would say of the policy; a fault of adopt itself if it refuses it."""
    try:
        data, source = parse_yaml(text, f"<adopted policy {name}>")
        expand_policy(LoadedPolicy(validate_data(data, source), source))
    except UdevDriftError as error:
        raise UdevDriftError(f"internal error: the adopted policy does not validate: {error}") from None
