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


@dataclass(frozen=True)
class Contest:
    """What becomes of a link one device gets when other devices may claim it too, as
    udev-node.c decides: `verdict` one of
      "kept"   no other device surely or maybe claims it with a priority as high;
      "lost"   another device surely claims it with a higher priority (`by`);
      "tie"    another surely claims it with the same priority (`by`): the device whose
               event udev handled last gets it;
      "unknown" a sure claim whose priority is not known, or the device's own priority
               is not known (`by`: the claim, when one);
      "maybe"  another device may claim it (its claim is not known) with a priority not
               surely lower (`by`).
    `lower` lists the claims that lose to the device."""

    verdict: str
    by: Claim | None = None
    lower: tuple[Claim, ...] = ()


def contest(own: int | Unknown, others: Sequence[Claim]) -> Contest:
    """The device with priority `own` gets the link; `others` are other devices' claims."""
    claiming = [c for c in others if c.claims is not Tri.NO]
    sure = [c for c in claiming if c.claims is Tri.YES]
    lower = tuple(c for c in claiming if isinstance(own, int) and isinstance(c.priority, int)
                  and c.priority < own)
    if isinstance(own, int):
        higher = [(c.priority, i, c) for i, c in enumerate(sure)
                  if isinstance(c.priority, int) and c.priority > own]
        if higher:
            return Contest("lost", max(higher)[2], lower)
    for c in sure:
        if not isinstance(own, int) or not isinstance(c.priority, int):
            return Contest("unknown", c, lower)
    tied = [c for c in sure if c.priority == own]
    if tied:
        return Contest("tie", tied[0], lower)
    maybe = [c for c in claiming if c.claims is Tri.UNKNOWN and c not in lower]
    if maybe:
        return Contest("maybe", maybe[0], lower)
    if not isinstance(own, int) and claiming:
        return Contest("unknown", claiming[0], lower)
    return Contest("kept", None, lower)
