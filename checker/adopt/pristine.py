"""The best untouched copy of a rules file the host holds, and what it is.

In this order: a copy the admin names (`--vendor FILE`, for the file of the same name);
a file a package manager left beside it (`.rpmnew`, `.dpkg-dist`, `.dpkg-new`,
`.ucf-dist`: the package's own version, not installed because the admin had edited the
file); the vendor file of the same name in /usr/lib or /lib when the /etc or /run file is
an edited copy of it (it still holds most of the vendor's rules); the owning package's
own file, from the .deb apt installed it from (live hosts). A file that a package owns but
of which no pristine copy can be read is named, not guessed at; a file that no package
owns is the admin's own.

Whatever is read from the host (the rules file, a leftover, the vendor file) is read as
every package leftover is: its directory reached from the root one component at a time
(a link on the way followed as a chroot would, so never out of a --root tree), the file
itself opened without following a link and without blocking, read only when fstat says
it is a regular file, and only up to a bound. A leftover linked to /proc/kmsg or to any
file of the host is passed over, with a note, not read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from checker.adopt.additions import compare
from checker.check.explain import owner_query
from checker.edits.blocks import lines_inside_blocks
from checker.errors import UsageError
from checker.host import Host
from checker.observe.packages import cached_deb_file
from checker.paths import VENDOR_RULES_DIRS
from checker.records import dataclass
from checker.rules.model import RulesText
from checker.rules.parsed import parse_rules
from checker.rules.semantics import DEFAULT, UdevSemantics
from checker.rules.textlines import split_keepends
from checker.safe_files import confined
from checker.safe_files.safe_open import UnusableFile, open_regular, read_open, read_regular

PRISTINE_LEFTOVERS = (".rpmnew", ".dpkg-dist", ".dpkg-new", ".ucf-dist")
# An /etc file that keeps less than this share of the vendor file's rules replaces it
# (the admin's own file of the same name), rather than being an edited copy of it.
EDITED_COPY_SHARE = 0.5
MAX_RULES_BYTES = 8 * 1024 * 1024
HOW_TO_GET = {
    "rpm": "yumdownloader PACKAGE, then rpm2cpio PACKAGE.rpm | cpio -i --to-stdout ./PATH",
    "dpkg": "apt-get download PACKAGE, then dpkg-deb --fsys-tarfile PACKAGE.deb | tar -xO ./PATH",
}


@dataclass(frozen=True)
class Pristine:
    """The copy to compare with; `text` None means the file is the admin's own (no package
    owns it) or, with `owner`, that its package's copy cannot be read here."""

    text: str | None
    source: str  # for people: which copy, and why it was chosen
    owner: str | None = None


def read_text(path: str) -> str:
    """A copy the admin named (--vendor FILE): its text; one clear line when it cannot be read.

    The admin's own argument, so a link in it is followed; but what is there must be a
    regular file of bounded size: a FIFO would hang adopt, a device would never end."""
    try:
        raw = read_regular(os.path.realpath(path), MAX_RULES_BYTES)
    except UnusableFile as error:
        raise UsageError(f"{path}: {error}: not a rules file to compare with") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror}") from None
    return raw.decode("utf-8", "surrogateescape")


def read_in_root(host: Host, host_path: str, limit: int = MAX_RULES_BYTES) -> str:
    """The text of the regular file at `host_path`, read inside the host's root.

    Raises FileNotFoundError (or NotADirectoryError) when nothing is there, UnusableFile
    for a link, FIFO, device, directory or a file larger than `limit`, OSError otherwise.
    """
    directory, name = confined.split(host_path)
    dir_fd = confined.open_directory(host.root, directory)
    try:
        fd = open_regular(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        return read_open(fd, limit).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)


def _readable(host: Host, host_path: str, notes: list[str]) -> str | None:
    """The text of a candidate pristine copy, or None (with a note when something is there
    that is not read)."""
    try:
        return read_in_root(host, host_path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UnusableFile as error:
        notes.append(f"{host_path}: {error}: not read as the pristine copy")
    except OSError as error:
        notes.append(f"{host_path}: cannot read ({error.strerror or error}): not used as the pristine copy")
    return None


def _edited_copy_of(vendor_text: str, current: RulesText, text: str, semantics: UdevSemantics) -> bool:
    vendor = parse_rules(vendor_text, semantics)
    if not vendor.rules:
        return False
    changes = compare(vendor, current, lines_inside_blocks(split_keepends(text)))
    return changes.vendor_share >= EDITED_COPY_SHARE


def find_pristine(host: Host, path: str, text: str, vendor_files: Mapping[str, str],
                  notes: list[str] | None = None, semantics: UdevSemantics = DEFAULT) -> Pristine:
    """The pristine copy of the rules file at host path `path`, whose text is `text`.
    `vendor_files` maps a file name to a copy the admin named (a local path); `notes` gets
    the candidates passed over (a link, a FIFO, one too large)."""
    notes = [] if notes is None else notes
    name = os.path.basename(path)
    named = vendor_files.get(name)
    if named is not None:
        return Pristine(read_text(named), f"{named} (named with --vendor)")
    for suffix in PRISTINE_LEFTOVERS:
        leftover = _readable(host, path + suffix, notes)
        if leftover is not None:
            return Pristine(leftover, f"{path}{suffix} (the package's version, left beside it)")
    current = parse_rules(text, semantics)
    if os.path.dirname(path) not in VENDOR_RULES_DIRS:
        for directory in VENDOR_RULES_DIRS:
            vendor = f"{directory}/{name}"
            vendor_text = _readable(host, vendor, notes)
            if vendor_text is not None and _edited_copy_of(vendor_text, current, text, semantics):
                return Pristine(vendor_text, f"{vendor} (the vendor file of the same name)")
    found = owner_query(host, path)
    if found is None:
        return Pristine(None, "no package owns it: the whole file is the admin's")
    tool, owner = found
    if tool == "dpkg":
        cached = cached_deb_file(owner, path)
        if cached is not None:
            return Pristine(cached[0], f"the package {owner}'s file, from {cached[1]}")
    return Pristine(None, f"owned by the package {owner}, whose copy of it is not on this host "
                          f"(name one with --vendor FILE: {HOW_TO_GET[tool]})", owner)
