"""Policies are as powerful as root: refuse one that someone else could have written.

As sshd's StrictModes: the policy file, and every directory on the way to it (up to /,
through every link, where the links lead), must be owned by root (or by the user running
the tool, who gains nothing by it) and not writable by group or others. Whoever can write
any of those directories could swap what is below it between the check and the read.

One exception, as for /tmp: a directory owned by root with the sticky bit may be writable
by all, because then only the owner of a name in it may rename or remove it; the name
taken from it must itself be owned by root (or the user).
"""

from __future__ import annotations

import os
import stat as stat_module

from checker.errors import PolicyError

OPTION = "--skip-policy-permission-check"
MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


def _trusted_owner(st: os.stat_result) -> bool:
    return st.st_uid in (0, os.geteuid())


def problem(path: str, st: os.stat_result, what: str, *, sticky_ok: bool = False) -> str | None:
    """Why `st` (of `path`, described as `what`) makes a policy unsafe, or None."""
    if not _trusted_owner(st):
        return (f"{what} is owned by uid {st.st_uid}, not root: a policy is as powerful as root "
                f"(fix: chown root: {path}; or {OPTION} for a test tree)")
    if sticky_ok and st.st_mode & stat_module.S_ISVTX and st.st_uid == 0:
        return None
    writers = [name for bit, name in ((stat_module.S_IWGRP, "group"), (stat_module.S_IWOTH, "others"))
               if st.st_mode & bit]
    if writers:
        mode = stat_module.S_IMODE(st.st_mode)
        return (f"{what} is writable by {' and '.join(writers)} (mode {mode:04o}): "
                f"a policy is as powerful as root (fix: chmod go-w {path}; or {OPTION} for a test tree)")
    return None


class _Walk:
    """Resolves a path one component at a time, checking each directory it goes through."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.checked: dict[str, os.stat_result] = {}
        self.parent_of_file = os.path.dirname(os.path.abspath(policy))

    def _fail(self, message: str) -> PolicyError:
        return PolicyError(self.policy, None, None, message)

    def _lstat(self, path: str) -> os.stat_result:
        try:
            return os.lstat(path)
        except OSError as error:
            raise self._fail(f"cannot check its permissions: {path}: {error.strerror}") from None

    def _directory(self, path: str, st: os.stat_result) -> None:
        if path in self.checked:
            return
        what = "its directory" if path == self.parent_of_file else f"{path}, a directory on its way,"
        found = problem(path, st, what, sticky_ok=True)
        if found:
            raise self._fail(found)
        self.checked[path] = st

    def _entry_of(self, directory: str, st: os.stat_result, entry: str) -> None:
        """A name in a sticky directory writable by others is safe only if it is ours."""
        parent = self.checked[directory]
        if parent.st_mode & (stat_module.S_IWGRP | stat_module.S_IWOTH) and not _trusted_owner(st):
            what = "its directory" if entry == self.parent_of_file else f"{entry}, a directory on its way,"
            raise self._fail(f"{what} is owned by uid {st.st_uid}, not root, in the directory "
                             f"{directory} that others may write: a policy is as powerful as root "
                             f"(fix: chown root: {entry}; or {OPTION} for a test tree)")

    def resolve(self) -> str:
        """The real path of the policy, every directory on the way checked; raises if one is unsafe."""
        root_st = self._lstat("/")
        self._directory("/", root_st)
        pending = [p for p in os.path.abspath(self.policy).split("/") if p][::-1]
        current = "/"
        hops = 0
        while pending:
            part = pending.pop()
            if part == ".":
                continue
            if part == "..":
                current = os.path.dirname(current)
                continue
            candidate = os.path.join(current, part)
            st = self._lstat(candidate)
            self._entry_of(current, st, candidate)
            if stat_module.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise self._fail("too many levels of symbolic links")
                try:
                    target = os.readlink(candidate)
                except OSError as error:  # replaced meanwhile
                    raise self._fail(f"cannot check its permissions: {candidate}: {error.strerror}") from None
                if target.startswith("/"):
                    current = "/"
                pending.extend(p for p in target.split("/")[::-1] if p)
                continue
            if pending:
                if not stat_module.S_ISDIR(st.st_mode):
                    raise self._fail(f"cannot check its permissions: {candidate}: Not a directory")
                self._directory(candidate, st)
            current = candidate
        return current


def checked_real_path(policy: str) -> str:
    """The real path of a policy file after checking every directory on the way to it
    (the file itself is checked on its open descriptor: `check_file`)."""
    return _Walk(policy).resolve()


def check_file(policy: str, st: os.stat_result) -> None:
    """The policy file itself, as fstat() of the descriptor it is read from gives it."""
    found = problem(policy, st, "the policy file")
    if found:
        raise PolicyError(policy, None, None, found)
