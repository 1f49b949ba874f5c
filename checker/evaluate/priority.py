"""Which device owns a link that several devices claim, as udev 252's udev-node.c decides.

When udev processes an event it looks at every device that claims the link (the stack
directory /run/udev/links/...) and takes the highest `link_priority`. The device of the
event being processed starts as the candidate and another replaces it only with a
strictly higher priority (stack_directory_read_one(): `tmp_prio <= priority` keeps it):
on a tie the device whose event udev processed last keeps the link.

A name in the device's list is not always made (link_update(), node_symlink()): udev lists
"fz/a/", "fz/../fz/up" or a part over 255 bytes in DEVLINKS and the database, then fails to
create it; of "fz/2" and "fz/2/x" it makes whichever it handles first (the devlinks are a
hash set: the order varies). Seen with udevd 252 (tests/evaluate/test_link_names_real.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from checker.evaluate.glob import fnmatch
from checker.evaluate.state import MemberSet
from checker.evaluate.values import Tri, Unknown
from checker.records import dataclass


@dataclass(frozen=True)
class Claim:
    device: str  # kernel name
    claims: Tri  # does the device's evaluation give it the link?
    priority: int | Unknown


NAME_MAX = 255  # bytes in one part of a path (Linux)


def creation_problem(link: str) -> str | None:
    """Why udev never creates a link it lists (`link` as the evaluator keeps names:
    simplified, but a trailing "/" and ".." parts kept), in udev's words; None when it can."""
    if len(link) <= NAME_MAX // 4 and "." not in link and not link.endswith("/"):
        return None  # the common case, asked for every SYMLINK pattern of a large set
    parts = link.split("/")
    if ".." in parts:  # stack_directory_get_name(): path_is_normalized() refuses it
        return "a '..' part (udev: \"Failed to build stack directory name\")"
    if any(part in ("", ".") for part in parts):  # "fz/$env{Y}" with Y empty: "fz/"
        return "an empty last part (udev: symlink \"Not a directory\")"
    size = max(len(part.encode("utf-8", "surrogateescape")) for part in parts)
    if size > NAME_MAX:
        return (f"a part of {size} bytes, more than the {NAME_MAX} a name may have "
                '(udev: "File name too long")')
    return None


def denoted(name: str) -> str:
    """The place a listed name spells, as a policy would write it: ".." parts resolved,
    empty ones dropped ("fz/../fz/up" is fz/up, "fz/a/" is fz/a)."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def spelled_places(pattern: str) -> list[str]:
    """The places (denoted()) that a name of `pattern` may spell while udev does not create
    it: "fz/../fz/up" spells fz/up; "fz/*" may be "fz/" (an empty substitution), fz."""
    places = [denoted(pattern)] if not plain_link_name(pattern) else []
    if pattern.endswith("/*") and len(pattern) > 2:
        places.append(denoted(pattern[:-2]))
    return places


def plain_link_name(link: str) -> bool:
    """A name udev-node makes as written."""
    return creation_problem(link) is None


def directory_clash(link: str, others: Iterable[str]) -> str | None:
    """Another name that is a directory of `link`, or `link` one of its ("t/0" and "t/0/x"):
    udev makes only the one it handles first. Names udev drops before touching /dev (a ".."
    part) do not count."""
    return next((other for other in others if other != link and ".." not in other.split("/")
                 and (other.startswith(link + "/") or link.startswith(other + "/"))), None)


def pattern_clash(link: str, patterns: Iterable[str]) -> str | None:
    """A pattern of names not known that may be a directory of `link` or lie under it
    (part by part: a substituted value is taken to hold no '/')."""
    parts = link.split("/")
    for pattern in patterns:
        pattern_parts = pattern.split("/")
        depth = min(len(parts), len(pattern_parts))
        if len(pattern_parts) != len(parts) and \
                fnmatch("/".join(pattern_parts[:depth]), "/".join(parts[:depth])) is not Tri.NO:
            return pattern
    return None


def made_on_disk(link: str, links: MemberSet) -> tuple[Tri, str | None]:
    """Is `link` in /dev after the event, from the device's final links (another device's
    claim aside: link_owner)? With why not, or why not known."""
    listed = links.has(link)
    if listed is Tri.NO:
        spelled = next((name for name in links.members if name != link and denoted(name) == link), None)
        if spelled is not None:  # a policy names the place; udev lists another spelling of it
            return Tri.NO, f"udev lists it as {spelled} and does not create that: {creation_problem(spelled)}"
        return Tri.NO, None
    problem = creation_problem(link)
    if problem is not None:
        return Tri.NO, f"udev lists {link} but does not create it: {problem}"
    clash = directory_clash(link, links.members) or pattern_clash(link, links.patterns)
    if clash is not None:
        return Tri.UNKNOWN, (f"the device also gets {clash}: udev makes only one of the two, whichever "
                             "it handles first, in an order that varies")
    return listed, None


def link_owner(link: str, claims: Sequence[Claim], processed_last: Sequence[str] = (),
               other_links: Collection[str] = ()) -> str | None | Unknown:
    """The device the link (relative to /dev) points to; None when no device claims it or
    udev does not create that name (creation_problem()); Unknown when the facts cannot
    tell. `processed_last` lists devices in the order udev handled their latest events
    (the last one wins a tie); without it a tie is unknown.
    `other_links` are the links other devices or rules claim: one that is a directory of
    this one ("t/0" and "t/0/x") makes both depend on which udev made first."""
    if not plain_link_name(link):
        return None  # listed, never created
    clash = directory_clash(link, other_links)
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
