"""`udev-drift install`: put what makes the host check itself in place, in one idempotent step.

What goes in (target.py says how the target is looked at):

    always            /etc/udev-drift/policies.d (0755), /var/lib/udev-drift (0700),
                      the textfile directory (0755) unless --no-textfile
    systemd target    /etc/systemd/system/udev-drift.{service,timer,path}, udev-drift-serve.service;
                      udev-drift.timer and udev-drift.path enabled (and started on a live host)
    no systemd        /etc/cron.d/udev-drift
    dpkg / dnf / yum  the hook of each package manager the target has

How it decides what to touch: a file that is missing is written (mode 0644, atomically);
a file that already holds exactly the wanted text is left alone; a file it wrote before
(recorded in the manifest with its SHA-256) and that nobody changed since is updated; a
file it wrote and that someone edited is kept and named (run install again after removing
it to get the new one); any other file in the way is a conflict, and install then changes
nothing at all and says which files are in the way. A directory is made only when missing.
Every file, directory and enable link it made is recorded in the manifest
(install/manifest.py), and uninstall (install/uninstaller.py) takes away exactly those.

Run twice, the second run finds everything in place and says "nothing to do".
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat as stat_module
from collections.abc import Iterable
from typing import IO

from checker import __version__
from checker.errors import UdevDriftError
from checker.install.hooks import CRON_DAEMONS, CRON_ENTRY, PLUGIN_CONFIGS, cron_entry, hooks
from checker.install.manifest import Manifest, load, save, sha256
from checker.install.systemctl import Systemctl, links
from checker.install.target import (
    Settings,
    Target,
)
from checker.install.units import ENABLED, units
from checker.paths import MANIFEST, POLICY_DIR, STATE_DIR, UNIT_DIR
from checker.records import dataclass, field
from checker.safe_files import confined
from checker.safe_files.atomic import write_confined
from checker.state import StateDir, unsafe_because

NOTHING_TO_DO = "nothing to do"
POLICIES_PARENT = "/etc/udev-drift"
DIRECTORY_MODES = {POLICIES_PARENT: 0o755, POLICY_DIR: 0o755, STATE_DIR: 0o700}
PARENT_MODE = 0o755


class InstallError(UdevDriftError):
    """Something in the way of the install; nothing was changed."""

    exit_status = 3


@dataclass
class Decision:
    path: str
    text: str
    action: str   # "new", "update", "same", "edited", "conflict"
    why: str = ""
    old: bytes | None = None


@dataclass
class Outcome:
    written: int = 0
    made: int = 0
    removed: int = 0
    ran: int = 0
    enabled: bool = False
    kept: list[str] = field(default_factory=list)

    def changed(self) -> bool:
        return bool(self.written or self.made or self.removed or self.ran)


class Installer:
    def __init__(self, target: Target, settings: Settings, systemctl: Systemctl, out: IO[str],
                 dry_run: bool = False) -> None:
        self.target = target
        self.host = target.host
        self.settings = settings
        self.systemctl = systemctl
        self.out = out
        self.dry_run = dry_run
        self.outcome = Outcome()

    # -- what is wanted ------------------------------------------------------------------
    def wanted_files(self) -> dict[str, str]:
        files: dict[str, str] = {}
        if self.target.systemd:
            for name, text in units(self.settings, self.host, self.target.unit_dialect).items():
                files[f"{UNIT_DIR}/{name}"] = text
        else:
            files[CRON_ENTRY] = cron_entry(self.settings, self.host)
        files.update(hooks(self.settings, self.host, self.target.package_managers))
        return files

    def wanted_directories(self, files: Iterable[str]) -> list[tuple[str, int]]:
        leaves = dict(DIRECTORY_MODES)
        if self.settings.textfile_dir is not None:
            leaves.setdefault(self.settings.textfile_dir, 0o755)
        for path in files:
            leaves.setdefault(os.path.dirname(path), PARENT_MODE)
        wanted: dict[str, int] = {}
        for leaf, mode in leaves.items():
            parts = leaf.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                path = "/" + "/".join(parts[:depth])
                wanted.setdefault(path, mode if path == leaf else PARENT_MODE)
        return sorted(wanted.items(), key=lambda item: (item[0].count("/"), item[0]))

    def decide(self, path: str, text: str, manifest: Manifest) -> Decision:
        root = self.host.root
        try:
            st = confined.lstat_in(root, path)
        except OSError as error:
            return Decision(path, text, "conflict", f"cannot look at it: {error.strerror}")
        if st is None:
            return Decision(path, text, "new")
        if not stat_module.S_ISREG(st.st_mode):
            kind = "a link" if stat_module.S_ISLNK(st.st_mode) else "not a regular file"
            return Decision(path, text, "conflict", f"is {kind}")
        try:
            old = confined.read_in(root, path) or b""
        except OSError as error:
            return Decision(path, text, "conflict", f"cannot read it: {error.strerror}")
        if old == text.encode():
            return Decision(path, text, "same", old=old)
        recorded = manifest.files.get(path)
        if recorded is None:
            return Decision(path, text, "conflict", "is not one udev-drift install wrote, and differs "
                                                    "from what it would write", old)
        if recorded == sha256(old):
            return Decision(path, text, "update", old=old)
        return Decision(path, text, "edited", old=old)

    # -- doing it ------------------------------------------------------------------------
    def run(self) -> Outcome:
        state = StateDir(self.host.path(STATE_DIR), self.host.root)
        self.say(self.header())
        secured = self.secure_state_directory()
        manifest = load(state, directory_verified=not (secured and self.dry_run)) or Manifest()
        before = manifest.to_json()
        files = self.wanted_files()
        decisions = [self.decide(path, text, manifest) for path, text in files.items()]
        conflicts = [d for d in decisions if d.action == "conflict"]
        if conflicts:
            lines = [f"{d.path}: {d.why}" for d in conflicts]
            raise InstallError("\n".join([
                "nothing was installed: these files are in the way:", *lines,
                "move them away (or remove them) and run udev-drift install again"]))
        manifest.settings = {"binary": self.settings.binary, "textfile_dir": self.settings.textfile_dir,
                             "version": __version__}
        try:
            self.remove_stale(manifest, set(files))
            self.make_directories(self.wanted_directories(files), manifest)
            for decision in decisions:
                self.apply(decision, manifest)
            if self.target.systemd:
                self.enable(manifest, written={d.path for d in decisions if d.action in ("new", "update")})
        except BaseException:
            # What was made before the failure is recorded, so that uninstall can take it
            # away; a manifest that cannot be written must not hide the failure itself.
            if not self.dry_run and manifest.to_json() != before:
                with contextlib.suppress(UdevDriftError, OSError):
                    save(state, manifest)
            raise
        if not self.dry_run and manifest.to_json() != before:
            save(state, manifest)
        self.notes()
        self.summary()
        return self.outcome

    def header(self) -> str:
        version = self.target.systemd_version
        said = (f"{version.number}, from {version.source}" if version.number is not None
                else f"version not found ({version.source}): units for {self.target.unit_dialect}")
        if self.target.live:
            how = f"systemd {said} (running: units enabled and started)"
        elif self.target.systemd:
            how = f"systemd {said} (not running: units enabled with systemctl --root={self.host.root})"
        else:
            how = "no systemd: cron"
        managers = ", ".join(self.target.package_managers) or "none found"
        dry = " · dry run: nothing is changed" if self.dry_run else ""
        return f"udev-drift install · root {self.host.root} · {how} · package hooks: {managers}{dry}"

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def did(self, verb: str, rest: str) -> None:
        """One line per change; a dry run says on each line that it changed nothing."""
        if self.dry_run:
            self.say(f"  dry run: would {verb} {rest}")
        else:
            past = {"write": "wrote", "update": "updated", "make directory": "made directory",
                    "remove": "removed", "run": "ran"}[verb]
            self.say(f"  {past} {rest}")

    def secure_state_directory(self) -> bool:
        """A state directory someone else could write is made root's again (0700): what they
        could plant there (a manifest, a backup link) would act with root's powers. True
        when it was (or, on a dry run, would be)."""
        try:
            fd = confined.open_directory(self.host.root, STATE_DIR)
        except OSError:
            return False  # not there (made below), or in the way (said below)
        try:
            why = unsafe_because(os.fstat(fd))
            if why is None:
                return False
            mode = DIRECTORY_MODES[STATE_DIR]
            self.say(f"  {'dry run: would make' if self.dry_run else 'made'} {STATE_DIR} root's, "
                     f"mode {mode:04o}: it {why}")
            if not self.dry_run:
                try:
                    os.fchown(fd, 0, 0)
                    os.fchmod(fd, mode)
                except OSError as error:
                    raise InstallError(f"{STATE_DIR}: cannot make it root's: {error.strerror}") from None
            return True
        finally:
            os.close(fd)

    def make_directories(self, wanted: list[tuple[str, int]], manifest: Manifest) -> None:
        root = self.host.root
        for path, mode in wanted:
            try:
                os.close(confined.open_directory(root, path))
                continue  # there (a link to a directory, in the tree, is one)
            except FileNotFoundError:
                link = confined.readlink_in(root, path)
                if link is not None:  # leads nowhere inside the tree (outside it, to the kernel)
                    raise InstallError(f"{path}: is a link to {link}, which is no directory in "
                                       f"{'the tree' if self.host.is_tree else 'the host'}: "
                                       "a directory is needed there") from None
            except OSError:
                raise InstallError(f"{path}: is in the way: a directory is needed there") from None
            self.did("make directory", f"{path} ({mode:04o})")
            self.outcome.made += 1
            if self.dry_run:
                continue
            parent, name = confined.split(path)
            try:
                with confined.directory(root, parent) as parent_fd:
                    os.mkdir(name, mode, dir_fd=parent_fd)
                    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 dir_fd=parent_fd)
                try:
                    os.fchmod(fd, mode)  # the umask took bits off
                    if os.geteuid() == 0:
                        os.fchown(fd, 0, 0)
                finally:
                    os.close(fd)
            except OSError as error:
                raise InstallError(f"{path}: cannot make the directory: {error.strerror}") from None
            manifest.directories.append(path)

    def apply(self, decision: Decision, manifest: Manifest) -> None:
        if decision.action == "same":
            return
        if decision.action == "edited":
            self.say(f"  kept {decision.path}: edited since udev-drift install wrote it, so not "
                     "overwritten (remove it and run install again for the new one)")
            self.outcome.kept.append(decision.path)
            return
        data = decision.text.encode()
        verb = "write" if decision.action == "new" else "update"
        self.did(verb, decision.path)
        self.outcome.written += 1
        if self.dry_run:
            self.show_diff(decision)
            return
        write_confined(self.host.root, decision.path, data)
        manifest.files[decision.path] = sha256(data)

    def show_diff(self, decision: Decision) -> None:
        old = (decision.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = decision.text.splitlines(keepends=True)
        source = "/dev/null" if decision.old is None else decision.path
        for line in difflib.unified_diff(old, new, source, decision.path):
            self.out.write("    " + line if line.endswith("\n") else "    " + line + "\n")

    def remove_stale(self, manifest: Manifest, wanted: set[str]) -> None:
        """Files an earlier install wrote that this one would not (the target changed:
        systemd came, a package manager went): removed while unchanged."""
        for path in sorted(set(manifest.files) - wanted):
            try:
                data = confined.read_in(self.host.root, path)
            except OSError:
                current = ""
            else:
                if data is None:
                    del manifest.files[path]
                    continue
                current = sha256(data)
            if current != manifest.files[path]:
                self.say(f"  kept {path}: no longer needed here, but edited since install wrote it")
                self.outcome.kept.append(path)
                del manifest.files[path]  # the admin's file now
                continue
            self.did("remove", f"{path} (no longer needed here)")
            self.outcome.removed += 1
            if not self.dry_run:
                try:
                    confined.unlink_in(self.host.root, path)
                except OSError as error:
                    raise InstallError(f"{path}: cannot remove: {error.strerror}") from None
                del manifest.files[path]

    def enable(self, manifest: Manifest, written: set[str]) -> None:
        systemctl = self.systemctl
        commands: list[tuple[str, ...]] = []
        if self.target.live:
            if any(path.startswith(UNIT_DIR + "/") for path in written):
                commands.append(("daemon-reload",))
            if not (systemctl.enabled(ENABLED) and systemctl.active(ENABLED)):
                commands.append(("enable", "--now", *ENABLED))
        elif not systemctl.enabled(ENABLED):
            commands.append(("enable", *ENABLED))
        for command in commands:
            self.did("run", " ".join(systemctl.command(*command)))
            self.outcome.ran += 1
            self.outcome.enabled |= command[0] == "enable"
            if self.dry_run:
                continue
            links_before, dirs_before = links(self.host, UNIT_DIR)
            try:
                systemctl.run(*command)
            finally:
                links_after, dirs_after = links(self.host, UNIT_DIR)
                for path, link_target in links_after.items():
                    if links_before.get(path) != link_target:
                        manifest.links[path] = link_target
                for path in sorted(dirs_after - dirs_before, key=lambda p: p.count("/")):
                    manifest.directories.append(path)

    def notes(self) -> None:
        """What the admin must still do; repeated on every run until done."""
        host = self.host
        policies = host.path(POLICY_DIR)
        names = os.listdir(policies) if os.path.isdir(policies) else []
        if not any(name.endswith((".yaml", ".yml")) for name in names):
            self.say(f"  note: no policy in {POLICY_DIR} yet: add one (udev-drift policies lists the "
                     "shipped ones); until then the checks skip (systemd) or say so (hooks, cron)")
        if not os.access(host.path(self.settings.binary), os.X_OK):
            self.say(f"  note: {self.settings.binary} is not there{' in the tree' if host.is_tree else ''}: "
                     "the units and hooks run it, so put it there (or install again with --binary)")
        for manager in self.target.package_managers:
            if manager in PLUGIN_CONFIGS and not os.path.exists(host.path(PLUGIN_CONFIGS[manager][0])):
                self.say(f"  note: {manager}'s post-transaction-actions plugin is not installed: "
                         f"install {PLUGIN_CONFIGS[manager][1]}, or the {manager} hook does nothing")
        if not self.target.systemd and not any(os.path.exists(host.path(d)) for d in CRON_DAEMONS):
            self.say(f"  note: no cron daemon found: {CRON_ENTRY} runs only where cron does")

    def summary(self) -> None:
        done = self.outcome
        if not done.changed():
            count = len(done.kept)
            kept = f" ({count} edited file{'s' if count != 1 else ''} kept)" if count else ""
            self.say(f"{NOTHING_TO_DO}: every file, directory and unit is in place{kept}")
            return
        verb = "would install" if self.dry_run else "installed"
        parts = [f"{done.written} file{'s' if done.written != 1 else ''} written",
                 f"{done.made} director{'ies' if done.made != 1 else 'y'} made"]
        if done.removed:
            parts.append(f"{done.removed} removed")
        if done.enabled:
            parts.append(f"{' and '.join(ENABLED)} enabled{' and started' if self.target.live else ''}")
        elif done.ran:
            parts.append("systemd reloaded")
        self.say(f"{verb}: {', '.join(parts)} · manifest {MANIFEST}")
