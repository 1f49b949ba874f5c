"""Writing a file so that it is, at every moment, either wholly old or wholly new.

The new text goes to a temporary file in the same directory, under a name udev never
reads (it reads only `*.rules`), created exclusively and without following links; it is
given the old file's owner, mode and extended attributes (the SELinux label), fsynced,
renamed over the target, and the directory is fsynced so the rename itself survives a
crash. On any error the temporary file is removed and the target is untouched.

Everything is relative to a directory descriptor (`write_in`); `write_confined` opens it
inside a --root tree (checker.safe_files.confined). A repair passes the identity of the file it read
(`expect`): the new file then goes in only over that very file, so a package manager's
rename that lands meanwhile is kept, never overwritten (renameat2 RENAME_EXCHANGE lets
the replaced file be looked at, and put back, after the swap).

Temporary files a killed run left are removed by later writes in the same directory
(`remove_stale_temps`): only this module's own names, only when their run is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat as stat_module
import time

from checker.errors import UdevDriftError
from checker.records import dataclass
from checker.safe_files import confined

NEW_FILE_MODE = 0o644
TEMP_SUFFIX = ".udev-drift.tmp"


class WriteError(UdevDriftError):
    """A file could not be written; the original is as it was."""

    exit_status = 3


class ExistsError(WriteError):
    """The file asked to be new exists: it was left as it was."""

    exit_status = 2


class Replaced(WriteError):
    """The file was replaced by someone else (a package manager) while it was being
    repaired: their file was left in place, not overwritten."""


@dataclass(frozen=True)
class Identity:
    """Which file stands at a name, and whether it was written since: a file renamed over
    it (a package update) has another inode, one written in place another size or mtime."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


ABSENT = Identity(-1, -1, -1, -1)  # expected: nothing stands at the name


def temp_name(name: str) -> str:
    # Hidden, and not ending in .rules, so neither udev nor a person's ls picks it up;
    # the pid lets a later run tell a temporary file left by a killed run.
    return f".{name}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# What temp_name() makes, and nothing else: .<name>.<pid>.<8 hex>.udev-drift.tmp
_TEMP_NAME = re.compile(r"\..+\.(\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX))
STALE_AFTER_SECONDS = 600.0  # no write of udev-drift takes that long; a reused pid does not keep it


def remove_stale_temps(dir_fd: int) -> list[str]:
    """Remove the temporary files (or links) a killed run left in this directory; return
    their names.

    Only names of temp_name()'s pattern, only regular files and links (a link's target is
    never touched), and only when the run that made it is gone (its pid is not alive)
    or it is older than STALE_AFTER_SECONDS: a run that is writing it now keeps it.
    """
    removed: list[str] = []
    now = time.time()
    for entry in os.listdir(dir_fd):
        match = _TEMP_NAME.fullmatch(entry)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        st = confined.lstat_at(dir_fd, entry)
        if st is None or not (stat_module.S_ISREG(st.st_mode) or stat_module.S_ISLNK(st.st_mode)):
            continue
        if _alive(int(match.group(1))) and now - st.st_mtime < STALE_AFTER_SECONDS:
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry, dir_fd=dir_fd)
            removed.append(entry)
    return removed


def _copy_xattrs(source_fd: int, target_fd: int) -> None:
    try:
        names = os.listxattr(source_fd)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.ENOSYS):
            return
        raise
    for name in names:
        try:
            os.setxattr(target_fd, name, os.getxattr(source_fd, name))
        except OSError as error:
            # A file system without that namespace cannot carry it; nothing to keep.
            if error.errno not in (errno.ENOTSUP, errno.EPERM):
                raise


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


def write_atomic(path: str, data: bytes, mode: int | None = None, *, replace: bool = True) -> None:
    """As write_in, for a path whose directory is opened as the kernel would (trusted).
    With `replace` False the file must be new: an existing one (even one that appears while
    the new text is written) is left as it was and ExistsError is raised."""
    directory, name = os.path.split(path)
    try:
        dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise WriteError(f"{path}: cannot open its directory: {_describe(error)}") from None
    try:
        write_in(dir_fd, path, name, data, mode, replace=replace)
    finally:
        os.close(dir_fd)


def write_confined(root: str, host_path: str, data: bytes, mode: int | None = None,
                   make: int | None = None, follow: bool = True) -> None:
    """As write_in, for a host path inside `root` (confined.open_directory: links in the
    directories followed as in a chroot, or refused with follow=False); `make` makes
    missing directories with that mode."""
    try:
        directory, name = confined.split(host_path)
        dir_fd = confined.open_directory(root, directory, follow=follow, make=make)
    except OSError as error:
        raise WriteError(f"{host_path}: cannot open its directory: {_describe(error)}") from None
    try:
        write_in(dir_fd, host_path, name, data, mode)
    finally:
        os.close(dir_fd)


def write_atomic_at(dir_fd: int, name: str, data: bytes, mode: int | None = None,
                    shown: str | None = None) -> None:
    """write_atomic for `name` in the directory open as `dir_fd` (reached safely by the
    caller); `shown` is the path said in errors."""
    write_in(dir_fd, shown or name, name, data, mode)


def _original(dir_fd: int, path: str, name: str) -> int | None:
    """An open descriptor on the existing file (to copy its metadata), or None."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise WriteError(f"{path}: is a symbolic link; not writing through it") from None
        raise WriteError(f"{path}: cannot open: {_describe(error)}") from None
    if not stat_module.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WriteError(f"{path}: is not a regular file; not replacing it")
    return fd


def write_in(dir_fd: int, path: str, name: str, data: bytes, mode: int | None = None,
             expect: Identity | None = None, replace: bool = True) -> None:
    """Replace (or create) the regular file `name` in the open directory `dir_fd` with
    `data`, atomically; `path` is how messages name it.

    The file keeps the mode of the file it replaces (an admin chose it), or gets 0644 when
    new; `mode` gives it that mode whatever was there (the metrics textfile must be 0644
    for node_exporter). Refuses to write through a symbolic link at `name`: the link would
    be replaced by a file, and what it pointed to would not be changed as the caller believes.

    `expect`: the file that must be the one replaced (ABSENT: no file). If another stands
    there when the new one goes in, the new one is dropped and `Replaced` raised: a
    package manager's rename landing during a repair is never overwritten. With `replace`
    False the file must be new: an existing one (even one that appears while the new text is
    written) is left as it was and ExistsError is raised.
    """
    original = _original(dir_fd, path, name)
    if original is not None and not replace:
        os.close(original)
        raise ExistsError(f"{path}: exists already; not replacing it")
    # Only tidying: the write itself will say what is wrong with the directory.
    with contextlib.suppress(OSError):
        remove_stale_temps(dir_fd)
    temp = temp_name(name)
    fd = -1
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dir_fd)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if original is not None:
            old = os.fstat(original)
            if os.geteuid() == 0:
                os.fchown(fd, old.st_uid, old.st_gid)
            os.fchmod(fd, stat_module.S_IMODE(old.st_mode) if mode is None else mode)
            _copy_xattrs(original, fd)
        else:
            if os.geteuid() == 0:
                os.fchown(fd, 0, 0)
            os.fchmod(fd, NEW_FILE_MODE if mode is None else mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if not replace:
            # link() fails where rename() would replace: a file that appeared meanwhile stays.
            try:
                os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise ExistsError(f"{path}: exists already; not replacing it") from None
        elif expect is None:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            temp = ""
        else:
            temp = _replace_expected(dir_fd, path, temp, name, expect)
    except _TheirsKept:
        temp = ""
        raise
    except OSError as error:
        raise WriteError(f"{path}: cannot write: {_describe(error)}; the file was left as it was") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if temp:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
        if original is not None:
            os.close(original)
    try:
        os.fsync(dir_fd)
    except OSError as error:
        raise WriteError(f"{path}: written, but its directory could not be synced: "
                         f"{_describe(error)}") from None


REPLACED = "changed while repairing: left as the package manager wrote it; run again"


def _replace_expected(dir_fd: int, path: str, temp: str, name: str, expect: Identity) -> str:
    """Put `temp` in place of `name` only if `name` is still the file `expect` names.
    Returns the name of what is left to remove ("" when nothing)."""
    if _identity_at(dir_fd, name) != expect:
        raise Replaced(f"{path}: {REPLACED}")
    if expect == ABSENT:
        try:
            confined.rename2(dir_fd, temp, name, confined.RENAME_NOREPLACE)
        except OSError as error:
            if error.errno == errno.EEXIST:
                raise Replaced(f"{path}: {REPLACED}") from None
            if error.errno not in (errno.ENOSYS, errno.EINVAL):
                raise
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # no renameat2: best effort
        return ""
    # Between the look above and the rename, another rename can still land. An exchange
    # instead of a rename keeps what was replaced under the temporary name, to look at it.
    try:
        confined.rename2(dir_fd, temp, name, confined.RENAME_EXCHANGE)
    except OSError as error:
        if error.errno == errno.ENOENT:  # removed meanwhile
            raise Replaced(f"{path}: {REPLACED}") from None
        if error.errno not in (errno.ENOSYS, errno.EINVAL):
            raise
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # no renameat2: best effort
        return ""
    if _identity_at(dir_fd, temp) == expect:
        return temp  # the file as read: replaced, as meant; now removed
    # Someone else's file was replaced: put it back, and drop ours.
    try:
        confined.rename2(dir_fd, temp, name, confined.RENAME_EXCHANGE)
    except OSError:
        try:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as error:
            raise _TheirsKept(f"{path}: replaced by someone else during the repair, and their "
                              f"file could not be put back: {_describe(error)}; it is at "
                              f"{os.path.join(os.path.dirname(path), temp)}") from None
        return ""
    raise Replaced(f"{path}: {REPLACED}")


class _TheirsKept(WriteError):
    """Someone else's file is at the temporary name: it must not be removed."""


def _identity_at(dir_fd: int, name: str) -> Identity:
    st = confined.lstat_at(dir_fd, name)
    return ABSENT if st is None else Identity.of(st)
