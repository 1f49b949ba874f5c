"""/dev symlinks as the host has them: what stands at the path, and where a link leads.

Under --root, links are followed as in a chroot of the tree (Host.follow): an absolute
link text resolves inside the tree, never on the host running the check.
"""

from __future__ import annotations

import os
import stat as stat_module

from checker.host import Host
from checker.records import NamedTuple


class ObservedLink(NamedTuple):
    path: str  # host path of the link
    stat: os.stat_result | None  # lstat of the path; None when nothing is there
    text: str | None  # what the link says, when the path is a link

    @property
    def is_link(self) -> bool:
        return self.stat is not None and stat_module.S_ISLNK(self.stat.st_mode)


class Links:
    """Reads links for the checks: one lstat (and a readlink for a link) per path, and
    following a link only where the check needs to know where it leads."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def read(self, path: str) -> ObservedLink:
        st = self.host.lstat(path)
        text = self.host.readlink(path) if st is not None and stat_module.S_ISLNK(st.st_mode) else None
        return ObservedLink(path, st, text)

    def follow(self, link: ObservedLink) -> tuple[str | None, os.stat_result | None]:
        """(where the link leads, the stat of what is there), each None when it leads nowhere."""
        followed = self.host.follow(link.path, link.text)
        return followed if followed is not None else (None, None)
