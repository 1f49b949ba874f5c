"""Whether a preview run by a package manager's hook stops the update, and what the hook
is told by apt.

/etc/udev-drift/preview.yaml (optional; without it a hook warns and never blocks):

    preview:
      block: true        # refuse a transaction that would take away what a policy wants
      on_error: allow    # a preview that fails lets the update go on (or: block)

The admin goes ahead anyway with `--force`, or UDEV_DRIFT_PREVIEW=allow in the
environment of the package manager (UDEV_DRIFT_PREVIEW=skip does not preview at all).
"""

from __future__ import annotations

import os
from typing import IO

from checker.errors import UsageError
from checker.records import dataclass

ENVIRONMENT = "UDEV_DRIFT_PREVIEW"
MAX_CONFIG_BYTES = 64 * 1024
MAX_HOOK_INPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class HookConfig:
    block: bool = False
    on_error: str = "allow"  # or "block"


def load_config(path: str) -> HookConfig:
    """The configuration at `path` (a real path); the defaults when there is none."""
    from checker.safe_files.safe_open import UnusableFile, read_regular

    try:  # never through a link, never waiting on a FIFO
        data = read_regular(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return HookConfig()
    except UnusableFile as error:
        raise UsageError(f"{path}: {error}: not a preview configuration") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror}") from None
    import yaml

    try:
        document = yaml.safe_load(data.decode("utf-8", "replace"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}{where}: not valid YAML") from None
    if document is None:
        return HookConfig()
    section = document.get("preview") if isinstance(document, dict) else None
    if not isinstance(section, dict) or set(document) - {"preview"}:
        raise UsageError(f"{path}: expected one mapping `preview:` (with block: and on_error:)")
    unknown = set(section) - {"block", "on_error"}
    if unknown:
        raise UsageError(f"{path}: preview: unknown key {sorted(unknown)[0]!r} (known: block, on_error)")
    block = section.get("block", False)
    on_error = section.get("on_error", "allow")
    if not isinstance(block, bool):
        raise UsageError(f"{path}: preview.block: expected true or false, got {block!r}")
    if on_error not in ("allow", "block"):
        raise UsageError(f"{path}: preview.on_error: expected allow or block, got {on_error!r}")
    return HookConfig(block, on_error)


def environment_says() -> str | None:
    """"allow", "skip", or None (the variable unset or empty)."""
    value = os.environ.get(ENVIRONMENT, "").strip().lower()
    if not value:
        return None
    if value not in ("allow", "skip"):
        raise UsageError(f"{ENVIRONMENT}={value}: expected allow or skip")
    return value


# Fields before the .deb's path on a package line, by protocol version: version 2
# "NAME OLDVER DIR NEWVER FILE", version 3 with each version's architecture and multi-arch
# ("NAME OLDVER OLDARCH OLDMULTI DIR NEWVER NEWARCH NEWMULTI FILE"). apt writes the path as
# it is, spaces and all, so it is the rest of the line, never its last word.
APT_FIELDS = {2: 4, 3: 8}


def apt_packages(stream: IO[bytes]) -> tuple[list[str], str | None, list[str]]:
    """The .deb files apt is about to install, from what DPkg::Pre-Install-Pkgs gets on
    standard input (protocol version 2 or 3: a header, a blank line, then one line per
    package whose last field is the .deb's path, or **CONFIGURE** / **REMOVE**; version 1:
    one path per line), and the root dpkg is told to install into
    (`DPkg::Options::=--root=DIR`, %-quoted as apt quotes every value there), if any, and
    the packages it removes (version 3: `NAME OLDVER ARCH MULTI > - - none **REMOVE**`).

    Only absolute paths are taken: apt writes no other, and a relative one would be read
    from wherever apt was started. All of the input is read, whatever it holds: apt
    writes it all before it waits."""
    data = stream.read(MAX_HOOK_INPUT_BYTES)
    while stream.read(1024 * 1024):  # more than any transaction: drained, not kept
        pass
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    root = None
    version = 1
    if lines and lines[0].startswith("VERSION "):
        version = 2 if lines[0].split()[1:2] == ["2"] else 3
        try:
            end = lines.index("")
        except ValueError:
            end = len(lines)
        for line in lines[1:end]:
            key, _, value = line.partition("=")
            if key.lower().startswith("dpkg::options::") and value.startswith("--root="):
                root = _unquote(value.removeprefix("--root="))
        lines = lines[end + 1:]
    found: list[str] = []
    removed: list[str] = []
    for line in lines:
        if version == 1:
            fields = [line]
        else:
            fields = line.split(" ", APT_FIELDS[version])
            if len(fields) <= APT_FIELDS[version]:
                continue  # not a package line (a path split by a newline in its name)
        last = fields[-1]
        if last.endswith(".deb") and last.startswith("/") and last not in found:
            found.append(last)
        elif last == "**REMOVE**" and fields[0] not in removed:
            removed.append(fields[0])
    return found, root, removed


def _unquote(value: str) -> str:
    """apt's QuoteString undone: %XX is the byte XX."""
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(value.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
