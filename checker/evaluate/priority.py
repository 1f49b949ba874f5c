"""Which device owns a link that several devices claim, as udev 252's udev-node.c decides.

When udev processes an event it looks at every device that claims the link (the stack
directory /run/udev/links/...) and takes the highest `link_priority`. The device of the
event being processed starts as the candidate and another replaces it only with a
strictly higher priority (stack_directory_read_one(): `tmp_prio <= priority` keeps it):
on a tie the device whose event udev processed last keeps the link.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from checker.evaluate.values import Tri, Unknown


@dataclass(frozen=True)
class Claim:
    device: str  # kernel name
    claims: Tri  # does the device's evaluation give it the link?
    priority: int | Unknown


def plain_link_name(link: str) -> bool:
    """A name udev-node makes as written: no empty, "." or ".." part, no trailing "/"."""
    return all(part not in ("", ".", "..") for part in link.split("/"))


def link_owner(link: str, claims: Sequence[Claim], processed_last: Sequence[str] = (),
               other_links: Collection[str] = ()) -> str | None | Unknown:
    """The device the link (relative to /dev) points to; None when no device claims it;
    Unknown when the facts cannot tell. `processed_last` lists devices in the order udev
    handled their latest events (the last one wins a tie); without it a tie is unknown.
    `other_links` are the links other devices or rules claim: one that is a directory of
    this one ("t/0" and "t/0/x") makes both depend on which udev made first."""
    if not plain_link_name(link):
        return Unknown("*", f"udev does not make the link {link!r} as written")
    clash = next((other for other in other_links if other != link and
                  (other.startswith(link + "/") or link.startswith(other + "/"))), None)
    if clash is not None:
        return Unknown("*", f"{link} and {clash} cannot both be made")
    if any(c.claims is Tri.UNKNOWN or (c.claims is Tri.YES and isinstance(c.priority, Unknown))
           for c in claims):
        return Unknown("*", "a claim or its link_priority is not known")
    sure = [c for c in claims if c.claims is Tri.YES]
    if not sure:
        return None
    top = max(c.priority for c in sure if isinstance(c.priority, int))
    tied = [c.device for c in sure if c.priority == top]
    if len(tied) == 1:
        return tied[0]
    order: Mapping[str, int] = {device: i for i, device in enumerate(processed_last)}
    if all(device in order for device in tied):
        return max(tied, key=lambda device: order[device])
    return Unknown("*", f"{', '.join(tied)} claim it with the same link_priority {top}")
