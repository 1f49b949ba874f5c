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
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from checker.atomic import write_atomic
from checker.errors import UdevDriftError

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


def load(path: str) -> Manifest | None:
    """The manifest at `path`, or None when install has not run (or uninstall has)."""
    try:
        with open(path, "rb") as source:
            data = json.loads(source.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot read the install manifest: {error} "
                            "(restore it from a backup, or remove it and undo the install by hand)") from None
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
        return Manifest(files={str(k): str(v) for k, v in data["files"].items()},
                        directories=[str(d) for d in data["directories"]],
                        links={str(k): str(v) for k, v in data["links"].items()},
                        settings=dict(data.get("settings", {})))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"{path}: not an install manifest udev-drift can read ({error}); "
                            "remove it and undo the install by hand") from None


def save(path: str, manifest: Manifest) -> None:
    text = json.dumps(manifest.to_json(), indent=2) + "\n"
    write_atomic(path, text.encode())


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise ManifestError(f"{path}: cannot remove the install manifest: {error.strerror}") from None
