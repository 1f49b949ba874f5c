"""The host after a transaction: which rules files each package writes, keeps or removes,
as dpkg and rpm decide for configuration files.

dpkg (conffiles, listed in control.tar's `conffiles`): the md5 that dpkg recorded when it
installed the current version (`Conffiles:` in /var/lib/dpkg/status) tells whether the
admin changed the file. Unchanged: replaced by the new version. Changed, and the package's
version did not change: kept, silently. Changed, and the package's did too (or a file is
in the way of a new conffile): dpkg asks, and its default keeps the admin's file
(`--conffiles new` previews the other answer). A conffile the admin deleted stays deleted.
Files of the installed version that the new one no longer ships are removed (its
/var/lib/dpkg/info/NAME.list), except conffiles, which dpkg leaves in place. `dpkg --remove`
removes every file of the package but its conffiles.

rpm: a plain file is replaced. For `%config` and `%config(noreplace)` rpm compares three
digests: the file on disk, the installed package's (from the rpm database: asked of the
`rpm` command, `rpm --root ROOT -qf`, read-only) and the new package's. As installed:
replaced. The package's version unchanged: the file on disk is left alone. Changed here:
`%config` is replaced and the old one saved as .rpmsave; `%config(noreplace)` is kept and
the new one written beside it as .rpmnew. Where the database cannot be asked (no rpm
command, no database), a file that differs is taken as changed here, and the note says so.
Files of the installed version that the new one no longer ships are removed, as are all of
a package's files on `rpm -e`; a `%config` file changed here is kept as .rpmsave, which
udev does not read, so for udev it is gone all the same.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import weakref
from collections.abc import Sequence
from typing import Literal

from checker.host import Host
from checker.observe.files import MAX_RULES_FILE_BYTES
from checker.preview.package import Package, PackageError, PackageFile, is_rules_path
from checker.records import dataclass, field

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
MAX_STATUS_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Change:
    """What stands at a host path after the transaction."""

    kind: Literal["file", "link", "removed", "special"]
    data: bytes = b""
    link: str = ""
    package: Package | None = None
    member: str = ""  # the path in the package the change comes from

    @property
    def origin(self) -> str:
        if self.package is None:
            return ""
        return f"{self.package.label} ({self.package.file_name}: {self.member})"


@dataclass
class Transaction:
    changes: dict[str, Change] = field(default_factory=dict)  # host path -> change
    notes: list[str] = field(default_factory=list)  # decisions on config files, for people
    packages: list[Package] = field(default_factory=list)

    @property
    def rules_files(self) -> int:
        return len(self.changes)


def _current(host: Host, path: str) -> bytes | None:
    """The bytes at `path` on the host now (through links), None when no file is there."""
    resolved = host.resolve(path)
    return host.read_file(resolved, MAX_RULES_FILE_BYTES) if resolved is not None else None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# rpm's PGPHASHALGO numbers, as FILEDIGESTALGO holds them (md5 where the tag is absent)
RPM_DIGESTS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
RPM_QUERY_SECONDS = 30


# The hosts whose rpm database did not answer in time (one run's Host each): a database
# that is locked or hung is not asked again by that run, or a package with many %config
# rules files would hold the hook (and the update) for the sum of all their timeouts.
_UNANSWERED: weakref.WeakSet[Host] = weakref.WeakSet()


def _rpm_query(host: Host, query_format: str, *what: str) -> str | None | bool:
    """What `rpm --root ROOT -q --qf FORMAT ...` prints (read-only); False when rpm says the
    package is not installed or the file not owned; None when the database cannot be asked."""
    rpm = shutil.which("rpm")
    if rpm is None or host in _UNANSWERED:
        return None
    try:
        done = subprocess.run([rpm, "--root", host.root, "-q", "--qf", query_format, *what],
                              capture_output=True, timeout=RPM_QUERY_SECONDS, stdin=subprocess.DEVNULL,
                              # a name's bytes as rpm prints them: any, in a tree's database
                              encoding="utf-8", errors="surrogateescape")
    except subprocess.TimeoutExpired:
        _UNANSWERED.add(host)
        return None
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        said = done.stdout + done.stderr
        return False if "not owned" in said or "is not installed" in said else None
    return done.stdout


def rpm_installed_digest(host: Host, path: str) -> tuple[str, str] | None | bool:
    """(hash name, hex digest) of `path` as the installed package that owns it shipped it;
    False when no installed package owns it; None when the rpm database cannot be asked."""
    out = _rpm_query(host, "%{FILEDIGESTALGO}\\n[%{FILENAMES}\\t%{FILEDIGESTS}\\n]", "-f", path)
    if not isinstance(out, str):
        return out
    lines = out.splitlines()
    algorithm = RPM_DIGESTS.get(int(lines[0]) if lines and lines[0].isdigit() else 1, "md5")
    for line in lines[1:]:
        name, _, digest = line.partition("\t")
        if name == path and digest:
            return algorithm, digest
    return None


@dataclass(frozen=True)
class _Installed:
    conffiles: dict[str, str]  # path -> md5 dpkg recorded


def dpkg_installed(host: Host) -> dict[str, _Installed]:
    """Installed packages (name, and name:arch) with their recorded conffile md5s."""
    data = host.read_file(DPKG_STATUS, MAX_STATUS_BYTES)
    if data is None:
        return {}
    text = data.decode("utf-8", "replace")
    found: dict[str, _Installed] = {}
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        name = fields.get("Package")
        state = (fields.get("Status", "").split() or ["not-installed"])[-1]
        if not name or state == "not-installed":
            continue
        conffiles = {}
        for line in fields.get("Conffiles", "").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                conffiles[parts[0]] = parts[1]
        entry = _Installed(conffiles)
        found[name] = entry
        if fields.get("Architecture"):
            found[f"{name}:{fields['Architecture']}"] = entry
    return found


@dataclass(frozen=True)
class RpmInstalled:
    """An installed rpm package's files: (path, rpm's file flags: "c" %config, "n" noreplace)."""

    files: list[tuple[str, str]]


def rpm_installed(host: Host, name: str) -> RpmInstalled | None | bool:
    """The installed package `name` as the rpm database lists it; False when it is not
    installed; None when the database cannot be asked."""
    # the name first, so that a package with no files still says it is installed
    out = _rpm_query(host, "%{NAME}\\n[%{FILENAMES}\\t%{FILEFLAGS:fflags}\\n]", "--", name)
    if not isinstance(out, str):
        return out
    files = []
    for line in out.splitlines()[1:]:
        path, _, flags = line.partition("\t")
        if path.startswith("/"):
            files.append((path, flags))
    return RpmInstalled(files)


def removal(host: Host, name: str) -> Package:
    """The package `name` as a transaction that removes it: dpkg's when dpkg lists it as
    installed, else rpm's when rpm does; a PackageError when neither knows it."""
    if name in dpkg_installed(host):
        return Package(name, "deb", name, "", removal=True)
    if isinstance(rpm_installed(host, name), RpmInstalled):
        return Package(name, "rpm", name, "", removal=True)
    raise PackageError(f"--remove {name}: no installed package of that name (neither dpkg's status "
                       f"nor the rpm database under {host.root} lists it)")


def _dpkg_list(host: Host, package: Package) -> list[str]:
    for name in (f"{package.name}:{package.architecture}", package.name):
        data = host.read_file(f"{DPKG_INFO}/{name}.list", MAX_STATUS_BYTES)
        if data is not None:
            return data.decode("utf-8", "replace").splitlines()
    return []


def plan(host: Host, packages: Sequence[Package], conffiles: Literal["keep", "new"] = "keep") -> Transaction:
    """What each package would leave at each rules path, in the order given."""
    transaction = Transaction(packages=list(packages))
    installed = dpkg_installed(host) if any(p.format == "deb" for p in packages) else {}
    for package in packages:
        shipped = {f.path for f in package.files}
        for path, note in _left_behind(host, package, installed, transaction.notes):
            if is_rules_path(path) and path not in shipped and host.lstat(path) is not None:
                transaction.changes[path] = Change(
                    "removed", package=package,
                    member="(package removed)" if package.removal else "(no longer shipped)")
                said = "is removed, and with it" if package.removal else "no longer ships"
                transaction.notes.append(f"{package.label} ({package.file_name}): {said} {path}: {note}")
        for file in package.files:
            change = _decide(host, package, file, installed, conffiles, transaction.notes)
            if change is not None:
                transaction.changes[file.path] = change
    return transaction


def _left_behind(host: Host, package: Package, installed: dict[str, _Installed],
                 notes: list[str]) -> list[tuple[str, str]]:
    """The installed version's files that the transaction removes unless the new version
    ships them: (path, what the package manager does with it)."""
    if package.format == "deb":
        record = installed.get(f"{package.name}:{package.architecture}") or installed.get(package.name)
        if record is None:
            return []
        return [(path, "dpkg removes it") for path in _dpkg_list(host, package)
                if path not in record.conffiles]
    found = rpm_installed(host, package.name)
    if found is None:
        notes.append(f"{package.label} ({package.file_name}): the rpm database could not be asked: "
                     "rules files the installed version has and this one lacks are not previewed")
    if not isinstance(found, RpmInstalled):
        return []
    return [(path, "rpm removes it" + (f" (a copy changed here is kept as {path}.rpmsave, which udev "
                                       "does not read)" if "c" in flags else ""))
            for path, flags in found.files]


def _written(package: Package, file: PackageFile) -> Change:
    if file.kind == "link":
        return Change("link", link=file.link, package=package, member=file.member)
    if file.kind == "special":
        return Change("special", package=package, member=file.member)
    return Change("file", data=file.data, package=package, member=file.member)


def _decide(host: Host, package: Package, file: PackageFile, installed: dict[str, _Installed],
            answer: str, notes: list[str]) -> Change | None:
    who = f"{package.label} ({package.file_name})"
    if file.config is None or file.kind != "file":
        return _written(package, file)
    current = _current(host, file.path)
    if current is None and host.lstat(file.path) is None:
        if file.config == "conffile":
            record = installed.get(f"{package.name}:{package.architecture}") or installed.get(package.name)
            if record is not None and file.path in record.conffiles:
                notes.append(f"{who}: conffile {file.path} was deleted here: dpkg does not bring it back")
                return None
        return _written(package, file)
    if current == file.data:
        return _written(package, file)
    if file.config == "conffile":
        record = installed.get(f"{package.name}:{package.architecture}") or installed.get(package.name)
        old = record.conffiles.get(file.path) if record is not None else None
        now, new = _md5(current or b""), _md5(file.data)
        if old is not None and now == old:
            notes.append(f"{who}: conffile {file.path} is as the installed version shipped it: replaced")
            return _written(package, file)
        if old is not None and new == old:
            notes.append(f"{who}: conffile {file.path} was changed here and the package's version is "
                         "unchanged: dpkg keeps this host's file")
            return None
        why = "was changed here" if old is not None else "is in the way (the package did not install it)"
        if answer == "new":
            notes.append(f"{who}: conffile {file.path} {why}; dpkg asks: previewed with the package's "
                         "version installed (as answering Y, or --force-confnew)")
            return _written(package, file)
        notes.append(f"{who}: conffile {file.path} {why}; dpkg asks, and its default keeps this "
                     "host's file: previewed as kept (--conffiles new previews the package's version)")
        return None
    return _rpm_config(host, package, file, current or b"", notes)


def _rpm_config(host: Host, package: Package, file: PackageFile, current: bytes,
                notes: list[str]) -> Change | None:
    who = f"{package.label} ({package.file_name})"
    kind = "%config(noreplace)" if file.config == "noreplace" else "%config"
    installed = rpm_installed_digest(host, file.path)
    if isinstance(installed, tuple):
        algorithm, digest = installed
        if hashlib.new(algorithm, current).hexdigest() == digest:
            notes.append(f"{who}: {kind} {file.path} is as the installed package shipped it: replaced")
            return _written(package, file)
        if hashlib.new(algorithm, file.data).hexdigest() == digest:
            notes.append(f"{who}: {kind} {file.path} was changed here and the package's version is "
                         "unchanged: rpm leaves this host's file alone")
            return None
        said = "was changed here (the rpm database says)"
    elif installed is False:
        said = "is in the way (no installed package owns it)"
    else:
        said = ("differs from the new version, and the rpm database could not be asked: taken as "
                "changed here")
    if file.config == "config":
        saved = ".rpmsave" if installed is not False else ".rpmorig"
        notes.append(f"{who}: {kind} {file.path} {said}: rpm replaces it and saves the current file as "
                     f"{file.path}{saved}")
        return _written(package, file)
    notes.append(f"{who}: {kind} {file.path} {said}: rpm keeps it and writes the new one as "
                 f"{file.path}.rpmnew")
    return None
