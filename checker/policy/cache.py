"""Validated policies, remembered: the pydantic and YAML work is paid once per policy text.

A check runs after every boot, update and rules change, on every host, and its policies
rarely change. Validating them (YAML, pydantic, the rules in them as udev reads them)
costs more than the rest of a check. So a run keeps the desired state it derived in the
state directory (a repair, serve or a run with metrics, which write state anyway; a plain
check where the directory exists, as on an installed host; never a dry run), keyed by
each policy file's path and the SHA-256 of the very bytes that were parsed, and by the
validator: a hash of the code that reads and checks policies (checker/policy and
checker/rules), so that a build that checks more never replays what an older one let
through, whatever its version number says. Any run whose policy files have exactly
those bytes takes it from there and never imports YAML or pydantic. A file that changed
by one byte, or another validator, validates afresh.

The cache decides what root writes, so it is trusted only as a policy is: the real
directory it is in (after following links) owned by root (or the user running the tool)
and writable by no one else; the file itself opened without following a link, and owned
and writable likewise. A cache that fails this is ignored with a warning. What is taken
from it is held again to the rules for where a policy may write (checker.policy.places).
Anything else about it (missing, unreadable, corrupt, another validator) is a miss.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import logging
import os
import stat as stat_module
from collections.abc import Sequence
from typing import Any

from checker import __version__
from checker.atomic import write_atomic
from checker.policy.desired import DesiredPolicy, DesiredRules, DesiredSymlink, DeviceRef
from checker.policy.files import PolicyBytes
from checker.policy.places import dev_path_problem, rules_file_problem
from checker.rules.parsed import parse_rules
from checker.state import set_aside

log = logging.getLogger("udev-drift")

CACHE_NAME = "policy-cache.json"
FORMAT = 2
MAX_CACHE_BYTES = 64 * 1024 * 1024
_CHECKER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The code whose answer the cache keeps: what reads, checks and expands a policy.
_VALIDATOR_FOLDERS = ("policy", "rules")
_VALIDATOR_FILES = ("paths.py", os.path.join("edits", "markers.py"))


@functools.lru_cache(maxsize=1)
def validator_fingerprint() -> str:
    """SHA-256 over the version and the code of the validator, read once per process.

    From the source files where they are (an installed package); from the compiled code
    where there are none (the single-file binary holds only bytecode).
    """
    digest = hashlib.sha256(__version__.encode())
    try:
        names = [os.path.join(folder, name) for folder in _VALIDATOR_FOLDERS
                 for name in sorted(os.listdir(os.path.join(_CHECKER, folder))) if name.endswith(".py")]
        parts = [(name, _read(os.path.join(_CHECKER, name))) for name in names + list(_VALIDATOR_FILES)]
    except OSError:
        parts = _compiled_validator()
    for name, code in parts:
        digest.update(f"{name}\0{len(code)}\0".encode())
        digest.update(code)
    return digest.hexdigest()


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _compiled_validator() -> list[tuple[str, bytes]]:
    """The validator's modules as marshalled code objects, found without running them."""
    import importlib.util
    import marshal
    import pkgutil

    modules = [f"checker.{folder}.{info.name}" for folder in _VALIDATOR_FOLDERS
               for info in sorted(pkgutil.iter_modules([os.path.join(_CHECKER, folder)]),
                                  key=lambda info: info.name)]
    modules += [f"checker.{folder}" for folder in _VALIDATOR_FOLDERS]
    modules += ["checker.paths", "checker.edits.markers"]
    parts = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        code = loader.get_code(name) if loader is not None and hasattr(loader, "get_code") else None
        parts.append((name, marshal.dumps(code) if code is not None else b"?"))
    return parts


def _unsafe(st: os.stat_result) -> str | None:
    if st.st_uid not in (0, os.geteuid()):
        return f"owned by uid {st.st_uid}"
    if st.st_mode & (stat_module.S_IWGRP | stat_module.S_IWOTH):
        return f"writable by group or others (mode {stat_module.S_IMODE(st.st_mode):04o})"
    return None


def _open_trusted(path: str) -> bytes | None:
    """The cache's bytes, or None when it is missing or not to be trusted (with a warning)."""
    directory = os.path.realpath(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:  # out of the way, so that the next store can write
            set_aside(path, "not trusted as a policy cache: a symbolic link")
        else:  # missing (the first run), or no state directory: a miss
            log.debug("%s: no policy cache (%s)", path, error.strerror)
        return None
    try:
        st = os.fstat(fd)
        if not stat_module.S_ISREG(st.st_mode):  # a FIFO, a directory: out of the way
            set_aside(path, "not trusted as a policy cache: not a regular file")
            return None
        why = _unsafe(st)
        if why is None:
            dir_why = _unsafe(os.stat(directory))
            why = f"its directory {directory} is {dir_why}" if dir_why else None
        if why:
            log.warning("%s: not trusted as a policy cache (%s); validating the policies afresh",
                        path, why)
            return None
        data = os.read(fd, MAX_CACHE_BYTES + 1)
        return data if len(data) <= MAX_CACHE_BYTES else None
    except OSError as error:
        log.debug("%s: unreadable policy cache (%s)", path, error)
        return None
    finally:
        os.close(fd)


def _to_json(policy: DesiredPolicy) -> dict[str, Any]:
    return {
        "name": policy.name, "path": policy.path, "description": policy.description,
        "reload": policy.reload, "trigger": policy.trigger,
        "rules": [{"entry": r.entry, "file": r.file, "ensure": r.ensure, "content": r.content,
                   "line": r.policy_line} for r in policy.rules],
        "symlinks": [{"entry": s.entry, "link": s.link, "by": s.device.by, "value": s.device.value,
                      "required": s.required, "exclusive": s.exclusive, "line": s.policy_line}
                     for s in policy.symlinks],
    }


def _checked_places(data: dict[str, Any]) -> None:
    """Where a cached policy writes is held to the rules a policy file is held to."""
    for rule in data["rules"]:
        problem = rules_file_problem(rule["file"])
        if problem:
            raise ValueError(problem)
    for link in data["symlinks"]:
        problem = dev_path_problem(link["link"]) or (
            dev_path_problem(link["value"]) if link["by"] == "node" else None)
        if problem:
            raise ValueError(problem)


def _from_json(data: dict[str, Any]) -> DesiredPolicy:
    _checked_places(data)
    name, path = data["name"], data["path"]
    return DesiredPolicy(
        name=name, path=path, description=data["description"],
        rules=tuple(DesiredRules(policy=name, entry=r["entry"], file=r["file"], ensure=r["ensure"],
                                 content=r["content"], rules=parse_rules(r["content"]).rules,
                                 policy_path=path, policy_line=r["line"]) for r in data["rules"]),
        symlinks=tuple(DesiredSymlink(policy=name, entry=s["entry"], link=s["link"],
                                      device=DeviceRef(s["by"], s["value"]), required=s["required"],
                                      policy_path=path, policy_line=s["line"], exclusive=s["exclusive"])
                       for s in data["symlinks"]),
        reload=data["reload"], trigger=data["trigger"],
    )


class PolicyCache:
    def __init__(self, directory: str, writable: bool) -> None:
        self.path = os.path.join(directory, CACHE_NAME)
        self.writable = writable

    def _read(self) -> dict[str, Any]:
        raw = _open_trusted(self.path)
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as error:
            log.debug("%s: unreadable policy cache (%s)", self.path, error)
            return {}
        if (not isinstance(data, dict) or data.get("format") != FORMAT
                or data.get("validator") != validator_fingerprint()):
            return {}
        entries = data.get("policies")
        return entries if isinstance(entries, dict) else {}

    def lookup(self, files: Sequence[PolicyBytes]) -> list[DesiredPolicy] | None:
        """The desired state of exactly these files' bytes, if every one is known."""
        entries = self._read()
        if not entries:
            return None
        found: list[DesiredPolicy] = []
        for read in files:
            entry = entries.get(os.path.abspath(read.path))
            if not isinstance(entry, dict) or entry.get("sha256") != read.sha256:
                return None
            try:
                found.append(_from_json(entry["desired"]))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                log.warning("%s: a cached policy is refused (%s); validating the policies afresh",
                            self.path, error)
                return None
        log.debug("policies taken from %s (validated before, unchanged since)", self.path)
        return found

    def store(self, files: Sequence[PolicyBytes], policies: Sequence[DesiredPolicy]) -> None:
        """Remember these policies, keyed by the bytes they were validated from."""
        if not self.writable or len(files) != len(policies):
            return
        entries = {os.path.abspath(read.path): {"sha256": read.sha256, "desired": _to_json(policy)}
                   for read, policy in zip(files, policies)}
        document = {"format": FORMAT, "version": __version__, "validator": validator_fingerprint(),
                    "policies": entries}
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            write_atomic(self.path, (json.dumps(document, sort_keys=True) + "\n").encode("utf-8"))
            os.chmod(self.path, 0o600)
        except Exception as error:  # noqa: BLE001 - a cache that cannot be written is only slower
            log.debug("%s: policy cache not written (%s)", self.path, error)
