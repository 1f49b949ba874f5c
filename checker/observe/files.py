"""Observing rules files: their text as udev reads it, and whether udev reads them at all.

udev reads `*.rules` from several directories, sorted together by name; for one name the
file in the first directory wins and a link to /dev/null masks the name. A managed file
that a same-named file shadows, or that a mask hides, is drift however right its text is.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
from collections.abc import Sequence

from checker.errors import HostReadError
from checker.host import Host
from checker.paths import UDEV_RULES_DIRS
from checker.records import dataclass, replace
from checker.rules.model import Rule, RulesText
from checker.rules.parsed import parse_rules
from checker.rules.parser import rules_selected
from checker.rules.select import could_hold
from checker.rules.semantics import DEFAULT, UdevSemantics

MAX_RULES_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ObservedRulesFile:
    path: str  # host path
    exists: bool
    kind: str  # "file", "missing", "masked" (a link to /dev/null), "not-a-file"
    text: str  # decoded with surrogateescape, so any byte survives a round trip
    stat: os.stat_result | None
    shadowed_by: str | None  # a same-named file in a directory udev reads first
    masked_by: str | None  # a same-named link to /dev/null that hides this name
    semantics: UdevSemantics = DEFAULT  # whose udev reads it (the host's)

    @property
    def parsed(self) -> RulesText:
        """The whole file as udev reads it, parsed when first asked for: a check of an
        intact managed block reads only the block (a vendor file can hold 20,000 rules)."""
        return parse_rules(self.text, self.semantics)  # parse_rules keeps its last results

    def rules_like(self, wanted: Sequence[Rule]) -> Sequence[Rule]:
        """The file's rules that could be one of `wanted`, each as `parsed` has it: only
        the lines whose text could hold one are interpreted (every line, when the text
        cannot tell). Whether a wanted rule is there is the same answer either way."""
        keep = could_hold(wanted)
        if keep is not None:
            selected = rules_selected(self.text, keep, self.semantics)
            if selected is not None:
                return selected
        return self.parsed.rules


def _rules_dir_of(path: str) -> str | None:
    directory = os.path.dirname(path)
    return directory if directory in UDEV_RULES_DIRS else None


def _same_dir(host: Host, a: str, b: str) -> bool:
    """True when two rules directories are one (/lib -> usr/lib on merged-/usr hosts)."""
    return host.resolve(a) == host.resolve(b)


def _read(host: Host, path: str) -> bytes:
    """The bytes at `path` (already resolved): opened without following a link and without
    waiting on a FIFO, and read only when it is a regular file, because what was looked at
    may have been swapped since (in a tree another user owns), for a FIFO that would hang
    the run or a link that leads out of the tree."""
    from checker.safe_files.safe_open import UnusableFile, open_regular

    real = host.path(path)
    try:
        fd = open_regular(real)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_RULES_FILE_BYTES + 1)
    except UnusableFile as error:
        said = f"{path}: cannot read the rules file: {error} (changed while it was read?)"
        raise HostReadError(said) from None
    except OSError as error:
        reason = error.strerror or str(error)
        hint = " (run as root, or fix the file's permissions)" if error.errno == errno.EACCES else ""
        raise HostReadError(f"{path}: cannot read the rules file: {reason}{hint}") from None
    if len(data) > MAX_RULES_FILE_BYTES:
        raise HostReadError(
            f"{path}: larger than {MAX_RULES_FILE_BYTES // (1024 * 1024)} MiB; "
            "refusing to read it as a rules file")
    return data


class RulesFiles:
    """Reads each rules file once per run, however many policies name it.

    Every look at the file system goes through the five methods below (`names`, `lstat`,
    `readlink`, `stat_resolved`, `resolve`, `read`): a subclass that answers some paths
    itself (checker.preview's overlay: the host as a package transaction would leave it)
    is then checked exactly as the host is.
    """

    def __init__(self, host: Host, semantics: UdevSemantics = DEFAULT) -> None:
        self.host = host
        self.semantics = semantics  # whose udev reads the files: every file is parsed so
        self._cache: dict[str, ObservedRulesFile] = {}

    # --- the file system, as this run sees it -----------------------------------------
    def names(self, directory: str) -> list[str] | None:
        """The names in a rules directory (a host path), or None when it cannot be listed."""
        try:
            return os.listdir(self.host.path(directory))
        except OSError:
            return None

    def lstat(self, path: str) -> os.stat_result | None:
        return self.host.lstat(path)

    def readlink(self, path: str) -> str | None:
        return self.host.readlink(path)

    def stat_resolved(self, path: str) -> os.stat_result | None:
        return self.host.stat_resolved(path)

    def resolve(self, path: str) -> str | None:
        return self.host.resolve(path)

    def read(self, path: str) -> bytes:
        """The bytes of the regular file at `path` (already resolved)."""
        return _read(self.host, path)

    def get(self, path: str) -> ObservedRulesFile:
        if path not in self._cache:
            observed = self._observe(path)
            if self.semantics != DEFAULT:
                observed = replace(observed, semantics=self.semantics)
            self._cache[path] = observed
        return self._cache[path]

    def forget(self, path: str) -> None:
        self._cache.pop(path, None)

    def _shadowing(self, path: str) -> tuple[str | None, str | None]:
        directory = _rules_dir_of(path)
        if directory is None:
            return None, None
        name = os.path.basename(path)
        for higher in UDEV_RULES_DIRS[: UDEV_RULES_DIRS.index(directory)]:
            if _same_dir(self.host, higher, directory):
                continue
            candidate = f"{higher}/{name}"
            if self.lstat(candidate) is None:
                continue
            if self.readlink(candidate) == "/dev/null":
                return None, candidate
            if self._same_file(candidate, path):
                continue  # a link to this very file: udev reads the same bytes under that name
            return candidate, None
        return None, None

    def _same_file(self, a: str, b: str) -> bool:
        first, second = self.stat_resolved(a), self.stat_resolved(b)
        return (first is not None and second is not None
                and (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino))

    def _observe(self, path: str) -> ObservedRulesFile:
        shadowed_by, masked_by = self._shadowing(path)
        st = self.lstat(path)
        if st is None:
            return ObservedRulesFile(path, False, "missing", "", None, shadowed_by, masked_by)
        if stat_module.S_ISLNK(st.st_mode) and self.readlink(path) == "/dev/null":
            return ObservedRulesFile(path, True, "masked", "", st, shadowed_by, path)
        target = self.stat_resolved(path)
        if target is None:
            # A dangling link: udev finds no file there.
            return ObservedRulesFile(path, False, "missing", "", st, shadowed_by, masked_by)
        if not stat_module.S_ISREG(target.st_mode):
            return ObservedRulesFile(path, True, "not-a-file", "", st, shadowed_by, masked_by)
        resolved = self.resolve(path) or path
        text = self.read(resolved).decode("utf-8", "surrogateescape")
        return ObservedRulesFile(path, True, "file", text, st, shadowed_by, masked_by)


def rules_in_udev_order(host: Host, files: RulesFiles | None = None) -> list[ObservedRulesFile]:
    """Every rules file udev reads, in the order it reads them: `*.rules` of all rules
    directories sorted together by name; for one name the first directory wins, and a
    link to /dev/null there masks the name. Files udev cannot read as rules (missing,
    not a regular file) are left out, as udev leaves them out."""
    files = files or RulesFiles(host)
    chosen: dict[str, str] = {}
    seen_dirs: list[str] = []
    for directory in UDEV_RULES_DIRS:
        if any(_same_dir(host, directory, earlier) for earlier in seen_dirs):
            continue
        seen_dirs.append(directory)
        for name in files.names(directory) or ():
            if name.endswith(".rules") and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    ordered = [files.get(chosen[name]) for name in sorted(chosen)]
    return [observed for observed in ordered if observed.kind == "file"]
