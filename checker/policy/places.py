"""Where a policy may make root write: the rules for its paths, in one light module.

The same rules hold for a path as written in the policy, for the path a `for_each` item
expands it into, and for a path taken back from the policy cache: a rules file directly
in one of udev's rules directories, under a name udev reads; a link or device under /dev.
No '..', '.' or empty component anywhere, so that a path means what it says.
"""

from __future__ import annotations

import re

from checker.paths import UDEV_RULES_DIRS

# What an item may hold where it becomes part of a path: a kernel name, a serial, a
# by-path name ("pci-0000:00:1f.2-ata-2"). No '/', no spaces, nothing a shell or udev
# would read specially.
SAFE_ITEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:@=,-]*")
SAFE_ITEM_TEXT = "letters, digits and . _ + : @ = , - (not first)"


def _components(value: str, what: str) -> str | None:
    if "\0" in value:
        return f"{what} must not contain a NUL character"
    if not value.startswith("/"):
        return f"{what} must be an absolute path, got {value!r}"
    parts = value[1:].split("/")
    if ".." in parts:
        return f"{what} must not contain '..', got {value!r}"
    if "." in parts:
        return f"{what} must not contain '.' as a component, got {value!r}"
    if "" in parts:
        return f"{what} must not have an empty component ('//' or a trailing '/'), got {value!r}"
    return None


def rules_file_problem(value: str) -> str | None:
    """Why `value` is not a rules file a policy may manage, or None."""
    found = _components(value, "file")
    if found:
        return found
    if not value.endswith(".rules"):
        return f"file must end in .rules (udev reads only *.rules), got {value!r}"
    directory, name = value.rsplit("/", 1)
    if directory not in UDEV_RULES_DIRS:
        if any(directory.startswith(d + "/") for d in UDEV_RULES_DIRS):
            return (f"file is in a directory udev never reads (only the rules directories "
                    f"themselves), got {value!r}")
        return (f"file must be in one of udev's rules directories ({', '.join(UDEV_RULES_DIRS)}), "
                f"got {value!r}")
    if name.startswith("."):
        return f"file has a hidden name, which udev never reads, got {value!r}"
    return None


def dev_path_problem(value: str) -> str | None:
    """Why `value` is not a path under /dev a policy may name, or None."""
    found = _components(value, "path")
    if found:
        return found
    if not value.startswith("/dev/"):
        return f"expected a path under /dev/, got {value!r}"
    return None


def item_problem(item: str) -> str | None:
    """Why an item may not become part of a path, or None."""
    if SAFE_ITEM.fullmatch(item):
        return None
    return f"an item used in a path may hold only {SAFE_ITEM_TEXT}, got {item!r}"
