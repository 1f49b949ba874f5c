"""Paths on the host, or inside a tree given with --root, and resolving links within it.

Every absolute path a policy names goes through `Host.path()`: with --root the tree is
treated like a chroot, so an absolute link target inside it (/dev/null, ../../sdb) stays
inside the tree. No other module joins a root to a path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_module
from collections.abc import Iterator

MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


class Host:
    """The host's file system, or a tree given with --root that stands for it."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        # True for a --root tree: no udevadm and no libudev, only files.
        self.is_tree = self.root != "/"
        self._directories: dict[str, str | None] = {}  # resolved directories, per run
        # lstat() results while a check reads the host (reading()): a link's target is the
        # node the device was found as, and each /dev node is asked about thrice
        self._lstats: dict[str, os.stat_result | None] | None = None

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

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """While this lasts, nothing changes the host's files (a check only reads): each
        path is lstat()ed once. Outside it (a repair writing) every call asks the kernel."""
        outer = self._lstats
        if outer is None:
            self._lstats = {}
        try:
            yield
        finally:
            if outer is None:
                self._lstats = None

    def resolve(self, host_path: str) -> str | None:
        """Follow links in every component as the kernel would, confined to the root.

        Returns the final host path (without the root), or None on a loop. The result
        may not exist (a dangling link resolves to where it points).
        """
        followed = self.follow(host_path)
        return None if followed is None else followed[0]

    def stat_resolved(self, host_path: str) -> os.stat_result | None:
        """stat() of what host_path resolves to within the root, or None."""
        followed = self.follow(host_path)
        return None if followed is None else followed[1]

    def follow(self, host_path: str, link_text: str | None = None
               ) -> tuple[str, os.stat_result | None] | None:
        """(where host_path leads, its lstat or None when nothing is there), or None on a
        loop. With `link_text` (what readlink() of host_path gave), host_path is taken as
        that link and is not read again.

        Directories are resolved once per run: a check of 10,000 links in one directory
        reads its path once, not 10,000 times; then each hop costs one lstat(), and one
        readlink() where it is a link.
        """
        path = host_path
        hops = 0
        while True:
            # os.path.split() of an absolute path, inlined: 20,000 calls on a large host
            directory, _, name = (path.rstrip("/") or "/").rpartition("/")
            directory = directory.rstrip("/") or "/"
            if directory in self._directories:
                parent = self._directories[directory]
            else:
                parent = self._directories[directory] = self._walk(directory)
            if parent is None:
                return None
            if not name or name in (".", ".."):  # rare: the careful walk, one by one
                walked = self._walk(path)
                return None if walked is None else (walked, self.lstat(walked))
            candidate = parent + name if parent == "/" else f"{parent}/{name}"
            if link_text is not None:
                target, link_text = link_text, None
            else:
                st = self.lstat(candidate)
                if st is None or not stat_module.S_ISLNK(st.st_mode):
                    return candidate, st
                text = self.readlink(candidate)
                if text is None:  # no longer a link (replaced meanwhile): it ends here
                    return candidate, self._lstat(candidate)
                target = text
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            # The rest is resolved from the link's directory (or the root, for an
            # absolute target); its directories go through the same cache.
            path = target if target.startswith("/") else f"{parent}/{target}"

    def _walk(self, host_path: str) -> str | None:
        """Follow every component of `host_path`, one at a time (directories: cached).

        Past a component that is missing, or is not a directory, nothing can be resolved:
        the rest is returned as written, a path that does not exist (as the kernel says
        ENOENT or ENOTDIR there).
        """
        parts = [p for p in host_path.split("/") if p]
        parts.reverse()  # a stack: pop() takes the next component
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop()
            if part == ".":
                continue
            if part == "..":
                if resolved and not os.path.isdir(self.path("/" + "/".join(resolved))):
                    return self._unresolvable(resolved, [part] + parts[::-1])
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join(resolved + [part])
            try:
                target = os.readlink(self.path(candidate))
            except OSError as error:
                if error.errno != errno.EINVAL and parts:  # missing, or under a non-directory
                    return self._unresolvable(resolved, [part] + parts[::-1])
                resolved.append(part)  # not a link: take it as it is
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            if target.startswith("/"):
                resolved = []
            parts.extend(reversed([p for p in target.split("/") if p]))
        return "/" + "/".join(resolved)

    @staticmethod
    def _unresolvable(resolved: list[str], rest: list[str]) -> str:
        return "/" + "/".join(resolved + rest)

    def read_file(self, host_path: str, limit: int) -> bytes | None:
        """The bytes of the regular file at `host_path`, links followed as a chroot would
        (never out of the root), the last one not at all; None when nothing readable is
        there: a link, a FIFO (never waited on), a device, a directory, or more than
        `limit` bytes."""
        from checker.safe_files.safe_open import UnusableFile, read_regular

        resolved = self.resolve(os.path.dirname(host_path) or "/")
        if resolved is None:
            return None
        try:
            return read_regular(self.path(os.path.join(resolved, os.path.basename(host_path))), limit)
        except (OSError, UnusableFile):
            return None

    def lstat(self, host_path: str) -> os.stat_result | None:
        memo = self._lstats
        if memo is None:
            return self._lstat(host_path)
        if host_path not in memo:
            memo[host_path] = self._lstat(host_path)
        return memo[host_path]

    def _lstat(self, host_path: str) -> os.stat_result | None:
        try:
            return os.lstat(self.path(host_path))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None

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
