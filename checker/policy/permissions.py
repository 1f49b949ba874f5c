"""Policies are as powerful as root: refuse one that someone else could have written.

As sshd's StrictModes and sudo do: a policy file, and the directory it is listed from,
must be owned by root (or by the user running the tool, who gains nothing by it) and not
writable by group or others. A policy reached through a link is checked where it lives.
"""

from __future__ import annotations

import os
import stat as stat_module

from checker.errors import PolicyError, UsageError, raise_all

OPTION = "--skip-policy-permission-check"


def _problem(path: str, st: os.stat_result, what: str) -> str | None:
    if st.st_uid not in (0, os.geteuid()):
        return (f"{what} is owned by uid {st.st_uid}, not root: a policy is as powerful as root "
                f"(fix: chown root: {path}; or {OPTION} for a test tree)")
    writers = [name for bit, name in ((stat_module.S_IWGRP, "group"), (stat_module.S_IWOTH, "others"))
               if st.st_mode & bit]
    if writers:
        # A writable directory is as bad as a writable file: anyone could add a policy.
        mode = stat_module.S_IMODE(st.st_mode)
        return (f"{what} is writable by {' and '.join(writers)} (mode {mode:04o}): "
                f"a policy is as powerful as root (fix: chmod go-w {path}; or {OPTION} for a test tree)")
    return None


def check_permissions(files: list[str]) -> None:
    """Raise with one line per policy file that is not safe to act on as root."""
    errors: list[PolicyError] = []
    for path in files:
        try:
            places = [(path, os.stat(path), "the policy file"),
                      (os.path.dirname(os.path.abspath(path)),
                       os.stat(os.path.dirname(os.path.abspath(path))), "its directory")]
            real = os.path.realpath(path)
            if real != os.path.abspath(path):
                places.append((os.path.dirname(real), os.stat(os.path.dirname(real)),
                               f"the directory of its target {real}"))
        except OSError as error:
            raise UsageError(f"{path}: cannot check its permissions: {error.strerror}") from None
        for place, st, what in places:
            problem = _problem(place, st, what)
            if problem:
                errors.append(PolicyError(path, None, None, problem))
                break
    raise_all(errors)
