"""A cache in the state directory that decides what root does: read only when it is
root's, never through a link, never waiting on a FIFO; written atomically.

Two caches use it: the validated policies (checker.policy.cache) and the answers of the
rule set for the devices the policies name (checker.check.verdicts). Both are trusted as
a policy is: the real directory the file is in (after following links) owned by root
(or the user running the tool) and writable by no one else; the file itself opened
without following a link, and owned and writable likewise. A cache that fails this is
ignored with a warning; a link or something that is not a regular file at its name is
set aside (so that the next store can write). Anything else (missing, unreadable,
another format) is a miss.

A cache in a tree checked with --root must also have been written during this boot of this
machine (`origin`): the tree may be an image someone else made, whose root-owned files
hold whatever its maker wrote, caches included, and everything else a key is made of
(the rules, the policies, the devices, the code, even the path it is checked at) is known
to its maker; this boot's random id is not.

`code_fingerprint` hashes the code whose answers a cache keeps, so that a build that
decides differently never replays an older build's answers, whatever its version says.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat as stat_module
from collections.abc import Sequence
from typing import Any

from checker import __version__
from checker.safe_files.atomic import write_atomic
from checker.state import set_aside

log = logging.getLogger("udev-drift")

MAX_CACHE_BYTES = 64 * 1024 * 1024
BOOT_ID = "/proc/sys/kernel/random/boot_id"
HOST = "host"  # the origin of a cache of the running host: its state is its own
CHECKER = os.path.dirname(os.path.abspath(__file__))
# Below this many bytes the interpreter's own SHA-256 is used: importing hashlib loads
# OpenSSL, which costs a run answered from the caches more (about an eighth of a bare
# interpreter's start) than hashing a seed host's few kilobytes does; above it, OpenSSL's
# (ten times faster per byte) pays for its import. Both give the same digest.
SMALL_DIGEST_BYTES = 256 * 1024


class Sha256:
    """SHA-256 of everything given to update(), by the cheaper implementation for its size."""

    def __init__(self, data: bytes = b"") -> None:
        self._held: list[bytes] = []
        self._size = 0
        self._openssl: Any = None
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        if self._openssl is not None:
            self._openssl.update(data)
            return
        self._held.append(data)
        self._size += len(data)
        if self._size > SMALL_DIGEST_BYTES:
            import hashlib

            self._openssl = hashlib.sha256(b"".join(self._held))
            self._held = []

    def hexdigest(self) -> str:
        if self._openssl is not None:
            return str(self._openssl.hexdigest())
        return _small_sha256(b"".join(self._held))


def _small_sha256(data: bytes) -> str:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]  # CPython <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # CPython 3.12+
        except ImportError:  # another interpreter: the standard way
            from hashlib import sha256
    return str(sha256(data).hexdigest())


def code_fingerprint(folders: Sequence[str], files: Sequence[str]) -> str:
    """SHA-256 over the version and the code of `folders` (every .py directly in them) and
    `files` (relative to checker/).

    From the source files where they are (an installed package): each one's identity as
    stat() gives it, not its bytes. Python itself runs a source's cached bytecode while
    the size and mtime agree; the inode and the change time (which no one can put back)
    are added, so that any write, copy or reinstall is a new fingerprint (a reinstall of
    the same code only costs one miss). Reading and hashing every module on every run
    cost a run answered from the caches about a tenth of its time. From the compiled code
    where there are no sources (the single-file binary holds only bytecode).
    """
    digest = Sha256(__version__.encode())
    try:
        names = [os.path.join(folder, name) for folder in folders
                 for name in sorted(os.listdir(os.path.join(CHECKER, folder))) if name.endswith(".py")]
        parts = [(name, _identity(os.path.join(CHECKER, name))) for name in names + list(files)]
    except OSError:
        parts = _compiled(folders, files)
    for name, code in parts:
        digest.update(f"{name}\0{len(code)}\0".encode())
        digest.update(code)
    return digest.hexdigest()


def _identity(path: str) -> bytes:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode()


def _compiled(folders: Sequence[str], files: Sequence[str]) -> list[tuple[str, bytes]]:
    """The modules as marshalled code objects, found without running them."""
    import importlib.util
    import pkgutil

    modules = [f"checker.{folder}.{info.name}" for folder in folders
               for info in sorted(pkgutil.iter_modules([os.path.join(CHECKER, folder)]),
                                  key=lambda info: info.name)]
    modules += [f"checker.{folder}" for folder in folders]
    modules += ["checker." + name.removesuffix(".py").replace(os.sep, ".") for name in files]
    parts = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        code = loader.get_code(name) if loader is not None and hasattr(loader, "get_code") else None
        parts.append((name, code_bytes(code) if code is not None else b"?"))
    return parts


def code_bytes(code: Any) -> bytes:
    """A code object's bytes, the same whatever else refers to its constants.

    marshal's default version (4) marks every object with more than one reference so that
    it is written once: the same module's code then marshals differently once it has run
    (its functions hold its nested code objects). In the binary the loader may hand back the
    code that ran, and a fingerprint taken after a repair differed from the next run's.
    Version 2 writes no such marks."""
    import marshal

    return marshal.dumps(code, 2)


def _unsafe(st: os.stat_result) -> str | None:
    if st.st_uid not in (0, os.geteuid()):
        return f"owned by uid {st.st_uid}"
    if st.st_mode & (stat_module.S_IWGRP | stat_module.S_IWOTH):
        return f"writable by group or others (mode {stat_module.S_IMODE(st.st_mode):04o})"
    return None


def read_trusted(path: str, what: str) -> bytes | None:
    """The cache's bytes, or None when it is missing or not to be trusted (with a warning).
    `what` names the cache in messages ("a policy cache")."""
    directory = os.path.realpath(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:  # out of the way, so that the next store can write
            set_aside(path, f"not trusted as {what}: a symbolic link")
        else:  # missing (the first run), or no state directory: a miss
            log.debug("%s: no %s (%s)", path, what.removeprefix("a "), error.strerror)
        return None
    try:
        st = os.fstat(fd)
        if not stat_module.S_ISREG(st.st_mode):  # a FIFO, a directory: out of the way
            set_aside(path, f"not trusted as {what}: not a regular file")
            return None
        why = _unsafe(st)
        if why is None:
            dir_why = _unsafe(os.stat(directory))
            why = f"its directory {directory} is {dir_why}" if dir_why else None
        if why:
            log.warning("%s: not trusted as %s (%s); working afresh", path, what, why)
            return None
        data = os.read(fd, MAX_CACHE_BYTES + 1)
        return data if len(data) <= MAX_CACHE_BYTES else None
    except OSError as error:
        log.debug("%s: unreadable %s (%s)", path, what.removeprefix("a "), error)
        return None
    finally:
        os.close(fd)


def origin(tree: bool) -> str | None:
    """What a cache must say it was written under to be replayed: HOST on the running
    host; under --root, this boot's id (None where it cannot be read: no cache at all)."""
    if not tree:
        return HOST
    try:
        with open(BOOT_ID, "rb") as handle:
            found = handle.read(64).strip().decode("ascii", "replace")
    except OSError:
        return None
    return f"boot {found}" if found else None


def read_trusted_json(path: str, what: str, corrupt_aside: bool = False,
                      written_under: str | None = HOST) -> dict[str, Any] | None:
    """The cache as a JSON object, or None. With `corrupt_aside`, a file that is not a
    JSON object is set aside with one warning (else it is a quiet miss). A cache written
    under another origin() than `written_under` (None: none) is a quiet miss."""
    if written_under is None:
        return None
    raw = read_trusted(path, what)
    if raw is None:
        return None
    try:
        data = json.loads(raw, parse_int=_bounded_int, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        if corrupt_aside:
            set_aside(path, f"not {what}: {error}")
        else:
            log.debug("%s: unreadable %s (%s)", path, what.removeprefix("a "), error)
        return None
    if not isinstance(data, dict):
        if corrupt_aside:
            set_aside(path, f"not {what}: not a JSON object")
        return None
    if data.get("origin") != written_under:
        log.debug("%s: %s written elsewhere or before this boot: not replayed", path, what)
        return None
    return data


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 30:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a number a cache holds")


def write_trusted_json(path: str, document: dict[str, Any], what: str,
                       written_under: str | None = HOST) -> None:
    """Write the cache (mode 0600, atomically), marked with its origin(); a cache that
    cannot be written is only slower."""
    if written_under is None:
        return
    document = {**document, "origin": written_under}
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        # Only where it would be read from: in a directory someone else may write, the
        # cache would be refused by the next run anyway, and that someone could race root
        # at the name.
        directory = os.path.realpath(os.path.dirname(path))
        why = _unsafe(os.stat(directory))
        if why is not None:
            log.debug("%s: %s not written (its directory %s is %s)", path, what.removeprefix("a "),
                      directory, why)
            return
        # the mode set on the new file before it is renamed into place: a chmod by name
        # would follow a link put there after the rename
        write_atomic(path, (json.dumps(document, sort_keys=True) + "\n").encode("utf-8"), 0o600)
    except Exception as error:  # noqa: BLE001 - a cache that cannot be written is only slower
        log.debug("%s: %s not written (%s)", path, what.removeprefix("a "), error)
