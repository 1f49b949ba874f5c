"""The error types udev-drift raises. Each one says which input was wrong and what to do.

`UdevDriftError` is the root; the command line turns each subclass into one clear line and
an exit status (2 for bad input, 3 for a runtime failure), never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class UdevDriftError(Exception):
    """Root of every error this tool raises on purpose."""

    exit_status = 3


class UsageError(UdevDriftError):
    """The command line or its arguments are wrong; nothing on the host was touched."""

    exit_status = 2


class PolicyError(UdevDriftError):
    """A policy file is invalid. The message names file, line, column and key path."""

    exit_status = 2

    def __init__(self, path: str, line: int | None, column: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        where = path
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class PolicyErrors(UdevDriftError):
    """Several problems found in one policy file: each is printed on its own line."""

    exit_status = 2

    SHOWN = 20  # a policy with a thousand broken entries needs its first few fixed first

    def __init__(self, errors: list[PolicyError]) -> None:
        self.errors = errors
        lines = [str(error) for error in errors[: self.SHOWN]]
        if len(errors) > self.SHOWN:
            lines.append(f"... and {len(errors) - self.SHOWN} more problems")
        super().__init__("\n".join(lines))


def raise_all(errors: list[PolicyError]) -> None:
    """Raise every problem found (one line each); nothing when there is none."""
    if errors:
        raise errors[0] if len(errors) == 1 else PolicyErrors(errors)


@contextlib.contextmanager
def collecting(errors: list[PolicyError]) -> Iterator[None]:
    """Add the policy problems raised in the block to `errors` and go on: all of them are
    reported together, not only the first."""
    try:
        yield
    except PolicyErrors as many:
        errors.extend(many.errors)
    except PolicyError as one:
        errors.append(one)


class HostReadError(UdevDriftError):
    """A file on the host could not be read (permissions, I/O error, a directory ...)."""

    exit_status = 3
