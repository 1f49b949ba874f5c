"""Where a policy may make root write: the rules for its paths, in one light module.

The same rules hold for a path as written in the policy, for the path a `for_each` item
expands it into, and for a path taken back from the policy cache: a rules file directly
in one of udev's rules directories, under a name udev reads; a link or device under /dev.
No '..', '.' or empty component anywhere, so that a path means what it says, and no name
the file system would refuse (a component over NAME_MAX, a path over PATH_MAX), so that a
policy that validates can always be checked.
"""

from __future__ import annotations

import functools
import re

from checker.paths import UDEV_RULES_DIRS

# What an item may hold where it becomes part of a path: a kernel name, a serial, a
# by-path name ("pci-0000:00:1f.2-ata-2"). No '/', no spaces, nothing a shell or udev
# would read specially.
SAFE_ITEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:@=,-]*")
SAFE_ITEM_TEXT = "letters, digits and . _ + : @ = , - (not first)"

# Linux's NAME_MAX and PATH_MAX less its terminating NUL, in bytes: past them every call on
# the path fails with ENAMETOOLONG.
NAME_MAX = 255
PATH_MAX = 4095


def shown(value: str, most: int = 80) -> str:
    """`value` for a message: quoted, and cut where it is long, with its size."""
    if len(value) <= most:
        return repr(value)
    return f"{value[:most]!r}... ({len(value.encode('utf-8', 'surrogatepass'))} bytes)"


def length_problem(value: str, what: str) -> str | None:
    """Why the file system would refuse `value` as a path for being too long, or None."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > PATH_MAX:
        return f"{what} is {size} bytes long, more than the {PATH_MAX} a path may have, got {shown(value)}"
    for part in value.split("/"):
        part_size = len(part.encode("utf-8", "surrogatepass"))
        if part_size > NAME_MAX:
            return (f"{what} has a component of {part_size} bytes, more than the {NAME_MAX} a name "
                    f"may have, got {shown(value)}")
    return None


# A path of plain ASCII components, none starting with '.': every check below passes it
# (one byte a character, so a component of at most NAME_MAX characters is short enough).
# The policy cache's 20,000 link paths of a 10,000-disk host are held to the rules on
# every run: the common case takes one match.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_+:@=,-][A-Za-z0-9._+:@=,-]{0,254})+\Z")  # 254: NAME_MAX - 1


def _components(value: str, what: str) -> str | None:
    if len(value) <= PATH_MAX and _PLAIN_PATH.match(value):
        return None
    if "\0" in value:
        return f"{what} must not contain a NUL character"
    if not value.startswith("/"):
        return f"{what} must be an absolute path, got {shown(value)}"
    too_long = length_problem(value, what)
    if too_long:
        return too_long
    parts = value[1:].split("/")
    if ".." in parts:
        return f"{what} must not contain '..', got {shown(value)}"
    if "." in parts:
        return f"{what} must not contain '.' as a component, got {shown(value)}"
    if "" in parts:
        return f"{what} must not have an empty component ('//' or a trailing '/'), got {shown(value)}"
    return None


@functools.lru_cache(maxsize=64)  # a host's entries name a few files, 10,000 times over
def rules_file_problem(value: str) -> str | None:
    """Why `value` is not a rules file a policy may manage, or None."""
    found = _components(value, "file")
    if found:
        return found
    if not value.endswith(".rules"):
        return f"file must end in .rules (udev reads only *.rules), got {shown(value)}"
    directory, name = value.rsplit("/", 1)
    if directory not in UDEV_RULES_DIRS:
        if any(directory.startswith(d + "/") for d in UDEV_RULES_DIRS):
            return (f"file is in a directory udev never reads (only the rules directories "
                    f"themselves), got {shown(value)}")
        return (f"file must be in one of udev's rules directories ({', '.join(UDEV_RULES_DIRS)}), "
                f"got {shown(value)}")
    if name.startswith("."):
        return f"file has a hidden name, which udev never reads, got {shown(value)}"
    return None


def dev_path_problem(value: str) -> str | None:
    """Why `value` is not a path under /dev a policy may name, or None."""
    found = _components(value, "path")
    if found:
        return found
    if not value.startswith("/dev/"):
        return f"expected a path under /dev/, got {shown(value)}"
    return None


def item_problem(item: str) -> str | None:
    """Why an item may not become part of a path, or None."""
    if SAFE_ITEM.fullmatch(item):
        return None
    return f"an item used in a path may hold only {SAFE_ITEM_TEXT}, got {shown(item)}"
