"""The /dev links that adopted rules make on the devices present now.

A rule that matches one disk by its kernel name (`KERNEL=="sdb"`) and adds a link
(`SYMLINK+="xapi/block/%k"`) makes /dev/xapi/block/sdb while sdb is there. Such links
become symlink entries: by the disk's serial, WWN or path where libudev knows one (kernel
names can change between boots; identities do not), else by its node. Under --root the
tree has no udev database: a node in the tree's /dev stands for the device.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from checker.adopt.template import GLOB, ITEM
from checker.host import Host
from checker.observe.udev import BlockDevice, UdevState
from checker.policy.expand import substitute
from checker.policy.places import SAFE_ITEM
from checker.records import dataclass
from checker.rules.model import Rule

KERNEL_NAME = re.compile(r"%k|\$kernel")
# Anything else udev substitutes in a link name: not known before the event runs.
OTHER_SUBSTITUTION = re.compile(r"[%$]")


@dataclass(frozen=True)
class AdoptedLink:
    """One symlink entry: `device` is ("serial" | "wwn" | "path", value), or None for a
    `target:` node. With `items`, link and target are templates."""

    link: str
    target: str | None
    device: tuple[str, str] | None = None
    items: tuple[str, ...] | None = None
    missing_now: bool = False


def _kernel(rule: Rule) -> str | None:
    names = [t.value for t in rule.tokens if t.key == "KERNEL" and t.op == "=="]
    if len(names) != 1 or GLOB.search(names[0]) or not names[0]:
        return None
    return names[0]


def links_of(rule: Rule, notes: list[str]) -> list[tuple[str, str]]:
    """(link, kernel name) for each link the rule makes on the one disk it names; "line N"
    in `notes` for a rule whose links name no single disk or depend on the event."""
    made = [t.value for t in rule.tokens if t.key == "SYMLINK" and t.op in ("=", "+=", ":=")]
    if not made:
        return []
    kernel = _kernel(rule)
    if kernel is None:
        notes.append(f"line {rule.line}")
        return []
    found = []
    for value in made:
        for name in value.split():
            name = KERNEL_NAME.sub(kernel, name)
            if OTHER_SUBSTITUTION.search(name):
                notes.append(f"line {rule.line}")
                continue
            link = posixpath.normpath("/dev/" + name.lstrip("/"))
            if link.startswith("/dev/") and ".." not in link.split("/"):
                found.append((link, kernel))
    return found


def _identity(device: BlockDevice) -> tuple[str, str] | None:
    for by in ("serial", "wwn", "path"):
        values = device.identity(by)
        if values:
            return by, values[0]
    return None


def adopt_links(pairs: Iterable[tuple[str, str]], host: Host, udev: UdevState | None,
                notes: list[str]) -> list[AdoptedLink]:
    """Symlink entries for the (link, kernel name) pairs whose disk is present now, the
    ones that differ only in the disk's name folded into one for_each entry."""
    plain: list[AdoptedLink] = []
    for link, kernel in sorted(set(pairs)):
        node = f"/dev/{kernel}"
        if udev is not None:
            device = udev.by_name.get(kernel)
            present = device is not None
            identity = _identity(device) if device is not None else None
        else:
            present = host.lstat(node) is not None
            identity = None
        if not present:
            notes.append(f"{link}: {kernel} is not present now, so the link is not adopted")
            continue
        missing = host.lstat(link) is None
        if identity is not None:
            plain.append(AdoptedLink(link, None, identity, missing_now=missing))
        else:
            plain.append(AdoptedLink(link, node, missing_now=missing))
    return _fold(plain)


def _fold(links: list[AdoptedLink]) -> list[AdoptedLink]:
    groups: dict[tuple[str, str], list[tuple[str, AdoptedLink]]] = {}
    out: list[AdoptedLink] = []
    for entry in links:
        if entry.target is None:
            out.append(entry)
            continue
        kernel = entry.target.rsplit("/", 1)[1]
        key = (entry.link.replace(kernel, ITEM), entry.target.replace(kernel, ITEM))
        # An item in a path may hold only what a policy allows there (the validator's rule).
        if substitute(key[0], kernel) == entry.link and ITEM in key[0] and SAFE_ITEM.fullmatch(kernel):
            groups.setdefault(key, []).append((kernel, entry))
        else:
            out.append(entry)
    for (link, target), members in groups.items():
        if len(members) == 1:
            out.append(members[0][1])
        else:
            items = tuple(kernel for kernel, _ in members)
            out.append(AdoptedLink(link, target, items=items,
                                   missing_now=any(e.missing_now for _, e in members)))
    return sorted(out, key=lambda entry: (entry.link, entry.items or ()))
