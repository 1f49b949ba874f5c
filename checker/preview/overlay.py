"""The host as a transaction would leave it: a RulesFiles whose listing and reads come
from the host, except at the paths the transaction changes. Nothing is written.

A path is matched by its directory as the host resolves it (on a merged-/usr host the
package's /lib/udev/rules.d/x.rules is /usr/lib/udev/rules.d/x.rules).
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_module
from collections.abc import Mapping

from checker.host import MAX_LINK_HOPS, Host
from checker.observe.files import RulesFiles
from checker.preview.transaction import Change

_FAKE_DEVICE = 0  # st_dev of the files the transaction writes: no real file has it with
_FIRST_INODE = 1 << 60  # these inode numbers


class OverlayRulesFiles(RulesFiles):
    def __init__(self, host: Host, changes: Mapping[str, Change]) -> None:
        super().__init__(host)
        self.changes: dict[str, Change] = {}
        self._inodes: dict[str, int] = {}
        for path, change in changes.items():
            key = self._key(path)
            self.changes[key] = change
            self._inodes[key] = _FIRST_INODE + len(self._inodes)

    def _key(self, path: str) -> str:
        directory, name = posixpath.split(path)
        resolved = self.host.resolve(directory) or directory
        return posixpath.join(resolved, name)

    def change_at(self, path: str) -> tuple[str, Change] | None:
        key = self._key(path)
        change = self.changes.get(key)
        return None if change is None else (key, change)

    # --- RulesFiles' view of the file system ---------------------------------------------
    def names(self, directory: str) -> list[str] | None:
        listed = super().names(directory)
        names = set(listed or ())
        resolved = self.host.resolve(directory) or directory
        touched = False
        for key, change in self.changes.items():
            where, name = posixpath.split(key)
            if where != resolved:
                continue
            touched = True
            if change.kind == "removed":
                names.discard(name)
            else:
                names.add(name)
        return sorted(names) if listed is not None or touched else None

    def lstat(self, path: str) -> os.stat_result | None:
        found = self.change_at(path)
        if found is None:
            return super().lstat(path)
        key, change = found
        if change.kind == "removed":
            return None
        if change.kind == "link":
            return self._stat(key, stat_module.S_IFLNK | 0o777, len(change.link))
        if change.kind == "special":  # as a FIFO: not a file udev reads rules from
            return self._stat(key, stat_module.S_IFIFO | 0o644, 0)
        return self._stat(key, stat_module.S_IFREG | 0o644, len(change.data))

    def readlink(self, path: str) -> str | None:
        found = self.change_at(path)
        if found is None:
            return super().readlink(path)
        return found[1].link if found[1].kind == "link" else None

    def resolve(self, path: str) -> str | None:
        for _ in range(MAX_LINK_HOPS):
            found = self.change_at(path)
            if found is None:
                resolved = super().resolve(path)
                if resolved is None or resolved == path or self.change_at(resolved) is None:
                    return resolved
                path = resolved  # a host link to a file the transaction changes
                continue
            key, change = found
            if change.kind != "link":
                return key
            target = change.link
            path = target if target.startswith("/") else posixpath.normpath(
                posixpath.join(posixpath.dirname(key), target))
        return None

    def stat_resolved(self, path: str) -> os.stat_result | None:
        resolved = self.resolve(path)
        if resolved is None:
            return None
        found = self.change_at(resolved)
        if found is None:
            return self.host.lstat(resolved)
        return self.lstat(resolved)

    def read(self, path: str) -> bytes:
        found = self.change_at(path)
        if found is None:
            return super().read(path)
        return found[1].data

    def _stat(self, key: str, mode: int, size: int) -> os.stat_result:
        return os.stat_result((mode, self._inodes[key], _FAKE_DEVICE, 1, 0, 0, size, 0, 0, 0))
