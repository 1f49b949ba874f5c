"""The install manifest: exactly what `udev-drift install` added, so that uninstall can
take exactly that away.

Kept in the state directory as install-manifest.json. Paths are host paths (without the
--root prefix). It records

- files install wrote, each with the SHA-256 of what it wrote: uninstall removes a file
  only while it still holds those bytes (an edited file is the admin's now);
- directories install made (in the order made): uninstall removes each that is empty;
- links `systemctl enable` made, with their targets;
- the settings it was installed with, for the person reading it.

A file or directory that was there before install is never recorded, so never removed.

It is read only from a state directory and a file that are root's and writable by no one
else (checker.state), and every path in it must be absolute and normalised (no `..`, `.`,
`//` or trailing `/`): a manifest is what uninstall deletes by.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from checker.errors import UdevDriftError
from checker.paths import MANIFEST_NAME
from checker.records import dataclass, field
from checker.safe_files.atomic import write_in
from checker.state import StateDir, UnsafeState, check_trusted

FORMAT = 1


class ManifestError(UdevDriftError):
    exit_status = 3


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    files: dict[str, str] = field(default_factory=dict)        # host path -> sha256
    directories: list[str] = field(default_factory=list)       # host paths, in creation order
    links: dict[str, str] = field(default_factory=dict)        # host path -> link target
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "settings": self.settings, "files": dict(sorted(self.files.items())),
                "directories": self.directories, "links": dict(sorted(self.links.items()))}


def normalised(path: Any) -> str:
    """`path` when it is an absolute, normalised host path; else ValueError."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") \
            or path == "/" or os.path.normpath(path) != path:
        raise ValueError(f"{path!r} is not an absolute, normalised path")
    return path


def load(state: StateDir, directory_verified: bool = True) -> Manifest | None:
    """The manifest in the state directory, or None when install has not run (or
    uninstall has). Raises UnsafeState when another user could have written it (the
    directory is not looked at with `directory_verified=False`: a dry install that would
    make it root's first)."""
    path = os.path.join(state.path, MANIFEST_NAME)
    try:
        with state.directory(make=False, verify=directory_verified) as dir_fd:
            fd = os.open(MANIFEST_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        with open(fd, "rb") as source:
            check_trusted(os.fstat(source.fileno()), path)
            data = json.loads(source.read())
    except FileNotFoundError:
        return None
    except UnsafeState:
        raise
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot read the install manifest: {error} "
                            "(restore it from a backup, or remove it and undo the install by hand)") from None
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
        settings = dict(data.get("settings", {}))
        if settings.get("textfile_dir") is not None:
            normalised(settings["textfile_dir"])
        return Manifest(files={normalised(k): str(v) for k, v in data["files"].items()},
                        directories=[normalised(d) for d in data["directories"]],
                        links={normalised(k): str(v) for k, v in data["links"].items()},
                        settings=settings)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"{path}: not an install manifest udev-drift can read ({error}); "
                            "remove it and undo the install by hand") from None


def save(state: StateDir, manifest: Manifest) -> None:
    text = json.dumps(manifest.to_json(), indent=2) + "\n"
    with state.directory() as dir_fd:
        write_in(dir_fd, os.path.join(state.path, MANIFEST_NAME), MANIFEST_NAME, text.encode())


def remove(state: StateDir) -> None:
    path = os.path.join(state.path, MANIFEST_NAME)
    try:
        with state.directory(make=False) as dir_fd:
            os.unlink(MANIFEST_NAME, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise ManifestError(f"{path}: cannot remove the install manifest: {error.strerror}") from None
