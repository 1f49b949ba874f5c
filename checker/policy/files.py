"""Which policy files the command line names: light, so that a run whose policies are
already known (checker.policy.cache) never imports YAML or pydantic."""

from __future__ import annotations

import os

from checker.errors import UsageError

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
