"""A package's own copy of one of its files, from the package manager's cache.

dpkg keeps no pristine copy of an installed file, but apt keeps the .deb it installed
from in /var/cache/apt/archives until it is cleaned: the file is read from that .deb
(`dpkg-deb --fsys-tarfile`) when its version is the installed one. Live hosts only; the
caller knows the owning package (checker.check.explain.owner_query).
"""

from __future__ import annotations

import glob
import io
import logging
import shutil
import subprocess
import tarfile

log = logging.getLogger("udev-drift")

APT_ARCHIVES = "/var/cache/apt/archives"
QUERY_TIMEOUT = 30.0
MAX_DEB_BYTES = 512 * 1024 * 1024


def _installed_version(package: str) -> str | None:
    binary = shutil.which("dpkg-query")
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "-W", "-f", "${Version}", package], capture_output=True,
                              text=True, timeout=QUERY_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _member_names(path: str) -> list[str]:
    """How a .deb names the file: ./etc/..., and on a merged-/usr host both /lib and /usr/lib."""
    names = [path]
    if path.startswith("/usr/lib/"):
        names.append(path[len("/usr"):])
    elif path.startswith("/lib/"):
        names.append("/usr" + path)
    return ["." + name for name in names]


def cached_deb_file(package: str, path: str) -> tuple[str, str] | None:
    """(the text of `path` as package ships it, the .deb it came from), or None when the
    cache holds no .deb of the installed version, or it lacks the file."""
    version = _installed_version(package)
    binary = shutil.which("dpkg-deb")
    if version is None or binary is None:
        return None
    # apt names the file with ':' (an epoch) escaped as %3a.
    stem = f"{glob.escape(package)}_{glob.escape(version.replace(':', '%3a'))}"
    debs = sorted(glob.glob(f"{APT_ARCHIVES}/{stem}_*.deb"))
    for deb in debs:
        try:
            done = subprocess.run([binary, "--fsys-tarfile", deb], capture_output=True, timeout=QUERY_TIMEOUT,
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode != 0 or len(done.stdout) > MAX_DEB_BYTES:
            continue
        try:
            with tarfile.open(fileobj=io.BytesIO(done.stdout), mode="r:") as archive:
                for name in _member_names(path):
                    try:
                        member = archive.getmember(name)
                    except KeyError:
                        continue
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        return handle.read().decode("utf-8", "surrogateescape"), deb
        except tarfile.TarError as error:
            log.debug("%s: cannot read: %s", deb, error)
    return None
