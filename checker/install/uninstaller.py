"""`udev-drift uninstall`: take away exactly what `udev-drift install` added.

What it removes is what the install manifest lists, and only that:

- the units it wrote are disabled first (`systemctl disable`, with --now on a live host);
- each enable link that is still there and still points where it pointed;
- each file it wrote, while it still holds the bytes install wrote (same SHA-256). A file
  edited since is the admin's now: kept, and named in the output;
- each directory it made, deepest first, when empty. One that holds something else (the
  state directory's backups, a policy) is kept and named;
- the metrics file the installed checks wrote (DIR/udev_drift.prom): left behind, it
  would be served as a stale result for ever by node_exporter.

A tree that was installed into and uninstalled from without any run in between is, file
for file, mode for mode and link for link, as it was before the install.
"""

from __future__ import annotations

import os
import stat as stat_module
from typing import IO, Callable

from checker.errors import UdevDriftError
from checker.exporters.textfile import open_directory
from checker.install.manifest import Manifest, load, remove, sha256
from checker.install.systemctl import Systemctl
from checker.install.target import Target
from checker.install.units import ENABLED, SERVE, SERVICE
from checker.paths import MANIFEST, PREVIEW_TEXTFILE_NAME, STATE_DIR, TEXTFILE_NAME, UNIT_DIR
from checker.safe_files import confined
from checker.safe_files.atomic import WriteError
from checker.state import StateDir


class UninstallError(UdevDriftError):
    exit_status = 3


def _exists_in(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


class Uninstaller:
    def __init__(self, target: Target, systemctl: Systemctl, out: IO[str], dry_run: bool = False) -> None:
        self.target = target
        self.host = target.host
        self.systemctl = systemctl
        self.out = out
        self.dry_run = dry_run
        self.removed = {"file": 0, "directory": 0}
        self.kept: list[str] = []
        self.gone: set[str] = set()  # host paths removed (or, on a dry run, that would be)
        self.before_disable: set[str] = set()

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def did(self, verb: str, rest: str) -> None:
        if self.dry_run:
            self.say(f"  dry run: would {verb} {rest}")
        else:
            self.say(f"  {'ran' if verb == 'run' else 'removed'} {rest}")

    def run(self) -> None:
        state = StateDir(self.host.path(STATE_DIR), self.host.root)
        manifest = load(state)
        dry = " · dry run: nothing is changed" if self.dry_run else ""
        self.say(f"udev-drift uninstall · root {self.host.root}{dry}")
        if manifest is None:
            self.say(f"nothing to do: no install manifest at {MANIFEST} (udev-drift install has not run "
                     "here, or uninstall already has)")
            return
        removable = {path for path in manifest.files if self.unchanged(path, manifest.files[path])}
        self.before_disable = {path for path in [*manifest.links, *manifest.directories]
                               if self.lexists(path)}
        self.disable(manifest, removable)
        self.remove_links(manifest)
        self.remove_files(manifest, removable)
        self.remove_textfile(manifest)
        if self.target.live and any(path.startswith(UNIT_DIR + "/") for path in removable):
            self.run_systemctl("daemon-reload")
        if not self.dry_run:
            remove(state)
        self.gone.add(MANIFEST)
        self.remove_directories(manifest)
        verb = "would uninstall" if self.dry_run else "uninstalled"
        kept = f" · kept {len(self.kept)} (named above)" if self.kept else ""
        files, directories = self.removed["file"], self.removed["directory"]
        self.say(f"{verb}: {files} file{'s' if files != 1 else ''} and link{'s' if files != 1 else ''}, "
                 f"{directories} director{'ies' if directories != 1 else 'y'} removed{kept}")

    def unchanged(self, path: str, recorded: str) -> bool:
        try:
            data = confined.read_in(self.host.root, path)
        except OSError:
            return False
        return data is not None and sha256(data) == recorded

    # Every look and every removal is inside the root: the directories on the way followed
    # as in a chroot, the name itself never (checker.safe_files.confined).
    def lexists(self, path: str) -> bool:
        try:
            return confined.lstat_in(self.host.root, path) is not None
        except OSError:
            return False

    def readlink(self, path: str) -> str | None:
        return confined.readlink_in(self.host.root, path)

    def unlink(self, path: str) -> None:
        confined.unlink_in(self.host.root, path)

    def rmdir(self, path: str) -> None:
        confined.rmdir_in(self.host.root, path)

    def disable(self, manifest: Manifest, removable: set[str]) -> None:
        """Disable the units whose files go, so that no link is left pointing at nothing."""
        if not self.target.systemd:
            return
        names = [name for name in (*ENABLED, SERVE) if f"{UNIT_DIR}/{name}" in removable]
        if self.target.live:
            if names:
                self.run_systemctl("disable", "--now", *names)
            if f"{UNIT_DIR}/{SERVICE}" in removable:
                self.run_systemctl("stop", SERVICE)
        elif names and any(self.systemctl.state("is-enabled", name) == "enabled" for name in names):
            self.run_systemctl("disable", *names)
        # systemctl disable removes the links (and a .wants directory it emptied) itself:
        # say so for each, as a dry run says it would.
        for path in sorted(manifest.links):
            if path in self.before_disable and (self.dry_run or not self.lexists(path)):
                self.did("remove", f"{path} (by systemctl disable)")
                self.removed["file"] += 1
                self.gone.add(path)

    def run_systemctl(self, *args: str) -> None:
        self.did("run", " ".join(self.systemctl.command(*args)))
        if not self.dry_run:
            self.systemctl.run(*args)

    def remove_links(self, manifest: Manifest) -> None:
        for path, target in sorted(manifest.links.items()):
            now = self.readlink(path)
            if path in self.gone or now is None:
                continue
            if now != target:
                self.keep(path, f"now points to {now}, not {target}")
                continue
            self.remove_one(path, self.unlink)

    def remove_files(self, manifest: Manifest, removable: set[str]) -> None:
        for path in sorted(manifest.files):
            if path in removable:
                self.remove_one(path, self.unlink)
            elif self.lexists(path):
                self.keep(path, "edited since udev-drift install wrote it (remove it by hand if "
                                "you no longer want it)")

    def remove_textfile(self, manifest: Manifest) -> None:
        directory = manifest.settings.get("textfile_dir")
        if not isinstance(directory, str):
            return
        path = f"{directory.rstrip('/')}/{TEXTFILE_NAME}"
        # Reached without following a link: its parent may belong to the service user.
        try:
            dir_fd = open_directory(directory, start=self.host.root)
        except WriteError as error:
            if os.path.lexists(self.host.path(path)):
                self.keep(path, str(error).split(": ", 1)[-1])
            return
        try:
            if _exists_in(dir_fd, TEXTFILE_NAME):
                self.remove_one(path, lambda _: os.unlink(TEXTFILE_NAME, dir_fd=dir_fd),
                                "(the metrics of the checks install set up: "
                                "node_exporter would serve them stale)")
            if _exists_in(dir_fd, PREVIEW_TEXTFILE_NAME):  # written by the preview hooks
                self.remove_one(f"{directory.rstrip('/')}/{PREVIEW_TEXTFILE_NAME}",
                                lambda _: os.unlink(PREVIEW_TEXTFILE_NAME, dir_fd=dir_fd),
                                "(the last preview of the hooks install set up)")
        finally:
            os.close(dir_fd)

    def remove_directories(self, manifest: Manifest) -> None:
        for path in reversed(manifest.directories):
            try:
                st = confined.lstat_in(self.host.root, path)
            except OSError:
                continue
            if st is None and path in self.before_disable:
                self.say(f"  removed {path} (by systemctl disable)")
                self.removed["directory"] += 1
                continue
            if st is None or not stat_module.S_ISDIR(st.st_mode):
                continue
            try:
                names = confined.listdir_in(self.host.root, path)
            except OSError:
                continue
            left = sorted(name for name in names if f"{path}/{name}" not in self.gone)
            if left:
                self.keep(path, f"not empty: holds {', '.join(left[:3])}{' ...' if len(left) > 3 else ''}")
                continue
            self.remove_one(path, self.rmdir)

    def remove_one(self, path: str, how: Callable[[str], None], why: str = "") -> None:
        self.did("remove", f"{path} {why}".rstrip())
        self.removed["directory" if how == self.rmdir else "file"] += 1
        self.gone.add(path)
        if self.dry_run:
            return
        try:
            how(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise UninstallError(f"{path}: cannot remove: {error.strerror}") from None

    def keep(self, path: str, why: str) -> None:
        self.say(f"  kept {path}: {why}")
        self.kept.append(path)
