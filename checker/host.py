"""Paths on the host, or inside a tree given with --root, and resolving links within it.

Every absolute path a policy names goes through `Host.path()`: with --root the tree is
treated like a chroot, so an absolute link target inside it (/dev/null, ../../sdb) stays
inside the tree. No other module joins a root to a path.
"""

from __future__ import annotations

import os
import stat as stat_module

MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


class Host:
    """The host's file system, or a tree given with --root that stands for it."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        # True for a --root tree: no udevadm and no libudev, only files.
        self.is_tree = self.root != "/"
        self._directories: dict[str, str | None] = {}  # resolved directories, per run

    def __repr__(self) -> str:
        return f"Host({self.root!r})"

    def path(self, host_path: str) -> str:
        """The real path of an absolute host path (inside the tree under --root)."""
        if not self.is_tree:
            return host_path
        # Host paths are absolute and the root has no trailing slash (abspath): plain
        # concatenation, which a check of 10,000 links calls 100,000 times.
        return self.root + host_path if host_path.startswith("/") else f"{self.root}/{host_path}"

    def forget(self) -> None:
        """Drop what was learned of directories: after this run changed the tree."""
        self._directories.clear()

    def resolve(self, host_path: str) -> str | None:
        """Follow links in every component as the kernel would, confined to the root.

        Returns the final host path (without the root), or None on a loop. The result
        may not exist (a dangling link resolves to where it points). Directories are
        resolved once per run: a check of 10,000 links in one directory reads its path
        once, not 10,000 times.
        """
        directory, name = os.path.split(host_path.rstrip("/") or "/")
        if not name:
            return "/"
        if directory not in self._directories:
            self._directories[directory] = self._walk(directory)
        parent = self._directories[directory]
        if parent is None:
            return None
        # Only the last component is left to follow; the parent is known to hold no link.
        return self._walk(name, [p for p in parent.split("/") if p])

    def _walk(self, host_path: str, resolved: list[str] | None = None) -> str | None:
        """Follow the components of `host_path` after the already resolved `resolved`."""
        parts = [p for p in host_path.split("/") if p]
        resolved = list(resolved or [])
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join(resolved + [part])
            try:
                target = os.readlink(self.path(candidate))
            except OSError:  # not a link (or not there): take it as it is
                resolved.append(part)
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
        return "/" + "/".join(resolved)

    def lstat(self, host_path: str) -> os.stat_result | None:
        try:
            return os.lstat(self.path(host_path))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None

    def stat_resolved(self, host_path: str) -> os.stat_result | None:
        """stat() of what host_path resolves to within the root, or None."""
        resolved = self.resolve(host_path)
        if resolved is None:
            return None
        return self.lstat(resolved)

    def readlink(self, host_path: str) -> str | None:
        try:
            return os.readlink(self.path(host_path))
        except OSError:
            return None


def is_device(st: os.stat_result) -> bool:
    return stat_module.S_ISBLK(st.st_mode) or stat_module.S_ISCHR(st.st_mode)


def same_node(a: os.stat_result, b: os.stat_result) -> bool:
    """Device nodes are the same device when type and number agree (two nodes can name
    one disk); anything else is the same when it is the same inode."""
    if is_device(a) and is_device(b):
        return stat_module.S_IFMT(a.st_mode) == stat_module.S_IFMT(b.st_mode) and a.st_rdev == b.st_rdev
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
