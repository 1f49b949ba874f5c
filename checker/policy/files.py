"""Which policy files the command line names, and their bytes read once: light, so that a
run whose policies are already known (checker.policy.cache) never imports YAML or pydantic."""

from __future__ import annotations

import os
import stat as stat_module

from checker.errors import PolicyError, UsageError, collecting, raise_all
from checker.policy.permissions import check_file, checked_real_path
from checker.records import dataclass
from checker.trusted_cache import Sha256

POLICY_SUFFIXES = (".yaml", ".yml")


def policy_files(paths: list[str]) -> list[str]:
    """The policy files named by the arguments: files as given, directories' *.yaml/*.yml."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            try:
                names = sorted(os.listdir(path))
            except OSError as error:
                raise UsageError(f"{path}: cannot list the policy directory: {error.strerror}") from None
            found = [os.path.join(path, n) for n in names
                     if n.endswith(POLICY_SUFFIXES) and not n.startswith(".")]
            if not found:
                raise UsageError(f"{path}: no policy files (*.yaml, *.yml) in this directory")
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise UsageError(f"{path}: no such policy file or directory")
    return files


MAX_POLICY_BYTES = 1024 * 1024  # a policy for thousands of disks stays far below


@dataclass(frozen=True)
class PolicyBytes:
    """A policy file as read once: what is hashed, cached and parsed is these bytes."""

    path: str  # as named on the command line (or found in a named directory)
    data: bytes  # at most MAX_POLICY_BYTES + 1: a longer file is refused when parsed

    @property
    def sha256(self) -> str:
        return Sha256(self.data).hexdigest()


def read_policy(path: str, strict: bool) -> PolicyBytes:
    """Open the policy once, without following a link at its last step, and read it.

    With `strict` (a run as root), every directory on the way is checked first and the
    file is checked on the descriptor it is read from: nothing can be swapped between
    the check and the read, and nothing is opened by name a second time.
    """
    real = checked_real_path(path) if strict else os.path.realpath(path)
    try:
        # O_NONBLOCK: a FIFO at a policy's name must not hang the run.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise PolicyError(path, None, None, f"cannot read: {error.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat_module.S_ISDIR(st.st_mode):
            raise PolicyError(path, None, None, "expected a policy file, found a directory")
        if not stat_module.S_ISREG(st.st_mode):
            raise PolicyError(path, None, None, "not a regular file: expected a policy file")
        if strict:
            check_file(path, st)
        chunks: list[bytes] = []
        left = MAX_POLICY_BYTES + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as error:
        raise PolicyError(path, None, None, f"cannot read: {error.strerror}") from None
    finally:
        os.close(fd)
    return PolicyBytes(path, b"".join(chunks))


def read_policies(files: list[str], strict: bool) -> list[PolicyBytes]:
    """Every policy file read once; raises with one line per file that cannot be."""
    read: list[PolicyBytes] = []
    errors: list[PolicyError] = []
    for path in files:
        with collecting(errors):
            read.append(read_policy(path, strict))
    raise_all(errors)
    return read
