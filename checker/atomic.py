"""Writing a file so that it is, at every moment, either wholly old or wholly new.

The new text goes to a temporary file in the same directory, under a name udev never
reads (it reads only `*.rules`), created exclusively and without following links; it is
given the old file's owner, mode and extended attributes (the SELinux label), fsynced,
renamed over the target, and the directory is fsynced so the rename itself survives a
crash. On any error the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_module

from checker.errors import UdevDriftError

NEW_FILE_MODE = 0o644
TEMP_SUFFIX = ".udev-drift.tmp"


class WriteError(UdevDriftError):
    """A file could not be written; the original is as it was."""

    exit_status = 3


class ExistsError(WriteError):
    """The file asked to be new exists: it was left as it was."""

    exit_status = 2


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


def remove_stale_temps(dir_fd: int, name: str) -> None:
    """Remove temporary files for `name` that a killed run left (their pid is gone)."""
    prefix = f".{name}."
    for entry in os.listdir(dir_fd):
        if not (entry.startswith(prefix) and entry.endswith(TEMP_SUFFIX)):
            continue
        pid = entry[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(entry, dir_fd=dir_fd)


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
    """Replace (or create) the regular file at `path` with `data`, atomically.

    The file keeps the mode of the file it replaces (an admin chose it), or gets 0644 when
    new; `mode` gives it that mode whatever was there (the metrics textfile must be 0644
    for node_exporter). Refuses to write through a symbolic link at `path`: the link would
    be replaced by a file, and what it pointed to would not be changed as the caller believes.
    With `replace` False the file must be new: an existing one (even one that appears while
    the new text is written) is left as it was and ExistsError is raised.
    """
    directory, name = os.path.split(path)
    try:
        dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise WriteError(f"{path}: cannot open its directory: {_describe(error)}") from None
    try:
        _write_in(dir_fd, path, name, data, mode, replace)
    finally:
        os.close(dir_fd)


def write_atomic_at(dir_fd: int, name: str, data: bytes, mode: int | None = None,
                    shown: str | None = None) -> None:
    """write_atomic for `name` in the directory open as `dir_fd` (reached safely by the
    caller); `shown` is the path said in errors."""
    _write_in(dir_fd, shown or name, name, data, mode)


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


def _write_in(dir_fd: int, path: str, name: str, data: bytes, mode: int | None, replace: bool = True) -> None:
    original = _original(dir_fd, path, name)
    if original is not None and not replace:
        os.close(original)
        raise ExistsError(f"{path}: exists already; not replacing it")
    # Only tidying: the write itself will say what is wrong with the directory.
    with contextlib.suppress(OSError):
        remove_stale_temps(dir_fd, name)
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
        if replace:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            temp = ""
        else:
            # link() fails where rename() would replace: a file that appeared meanwhile stays.
            try:
                os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise ExistsError(f"{path}: exists already; not replacing it") from None
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
