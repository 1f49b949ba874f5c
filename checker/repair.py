"""Repair: plan the changes that bring the host back to its policies, then make them.

`plan_repair` is pure: from the findings of a check it decides the new text of each
drifted rules file (composing every policy's edits for that file), the links to make in
a --root tree, the udevadm calls, and what it must refuse to touch, with the reason.
`apply_plan` is the only code that changes the host.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat as stat_module
import tempfile
from collections.abc import Sequence
from typing import Any

from checker.edits.diffs import unified_diff
from checker.edits.ensure import compose
from checker.findings import Action, Finding, Report, Status
from checker.host import Host
from checker.observe.files import RulesFiles
from checker.policy.desired import DesiredPolicy
from checker.records import dataclass, field
from checker.rules.parsed import parse_rules
from checker.rules.semantics import DEFAULT, UdevSemantics
from checker.safe_files import confined
from checker.safe_files.atomic import (
    ABSENT,
    REPLACED,
    Identity,
    Replaced,
    WriteError,
    remove_stale_temps,
    temp_name,
    write_in,
)
from checker.state import StateDir
from checker.udevadm import owed as udevadm_owed
from checker.udevadm.calls import SETTLE_TIMEOUT, Udevadm

log = logging.getLogger("udev-drift")

# Why a drifted item is left for a person, by status.
REFUSALS: dict[Status, str] = {
    "masked": "udev ignores this name because of a link to /dev/null; remove that link by "
              "hand if the mask is not wanted",
    "shadowed": "udev reads a same-named file in a directory it reads first; move that file "
                "away, or point the policy at it",
    "not-a-file": "something other than a regular file stands at this path; move it away",
    "not-a-link": "something other than a link stands where the link should be; move it away",
    "absent": "the device is not present; plug it in (or make the entry required: false)",
    "unknown-to-udev": "made by hand: add a rule that makes it (SYMLINK+=), then trigger the device",
    "claimed": "more than one device claims this link: make the rules give it to one disk only",
    "ambiguous": "the identity names more than one device: name the one meant by its path",
    "held-by-host": "the host holds the disk: unmount it, swapoff, or take it out of md/LVM by hand",
    # The file is as the policy wants; another rule undoes it. Vendor rules are not edited:
    # the finding's cause names the rule to change.
    "ineffective": "the file holds the rule, but another rule keeps udev from applying it: change "
                   "the rule its cause names (repair does not edit vendor rules)",
    "not-made": "udev would not make this link at the next event: change the rule its cause "
                "names, or add one that makes it, then trigger the device",
}


@dataclass
class FileChange:
    path: str  # host path of the rules file
    old: str
    new: str
    policies: list[str]
    entries: list[str] = field(default_factory=list)  # "policy (rules[0])", for messages
    semantics: UdevSemantics = DEFAULT  # whose udev reads the file: what it must not drop

    @property
    def diff(self) -> str:
        return unified_diff(self.path, self.old, self.new)


@dataclass
class LinkChange:
    link: str  # host path
    target: str  # relative, as udev makes them: ../../sdb


@dataclass
class Plan:
    files: list[FileChange] = field(default_factory=list)
    links: list[LinkChange] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    refusals: list[tuple[Finding, str]] = field(default_factory=list)
    # Host directories a repair of these policies writes in: where a killed run may have
    # left temporary files, tidied by every repair even when nothing else is to be done.
    directories: list[str] = field(default_factory=list)


def _trigger_args(policies: Sequence[DesiredPolicy], names: set[str], changed: set[str],
                  drifted: set[str]) -> list[str] | None:
    """`udevadm trigger` for the devices the policies name, not the whole machine.

    Devices come from the links that drifted and from the KERNEL== matches of the rules of
    the policies whose files changed. A rule without a KERNEL match could apply to any
    block device, so then the block subsystem is triggered.

    The action is "add" when the policy's rules act only on add events (as the XenServer
    rules do): a "change" event would not run them, and udev then removes the links those
    rules made (seen with the real udevd: the link disappears).
    """
    sysnames = set(names)
    whole_block = False
    action = "change"
    for policy in policies:
        if not policy.trigger or policy.name not in changed | drifted:
            continue
        for entry in policy.rules:
            if entry.ensure == "absent":
                continue
            for rule in entry.rules:
                if any(t.key == "ACTION" and t.op == "==" and t.value == "add" for t in rule.tokens):
                    action = "add"
                if policy.name not in changed:
                    continue
                kernels = [t.value for t in rule.tokens if t.key == "KERNEL" and t.op == "=="]
                if kernels:
                    for value in kernels:
                        sysnames.update(v for v in value.split("|") if v)
                else:
                    whole_block = True
    if not sysnames and not whole_block:
        return None
    args = ["trigger", f"--action={action}"]
    if whole_block:
        args.append("--subsystem-match=block")
    else:
        args += [f"--sysname-match={name}" for name in sorted(sysnames)]
    return args


def plan_repair(policies: Sequence[DesiredPolicy], report: Report, files: RulesFiles,
                host: Host) -> Plan:
    plan = Plan()
    managed = {os.path.dirname(entry.file) for policy in policies for entry in policy.rules}
    if host.is_tree:
        managed.update(os.path.dirname(link.link) for policy in policies for link in policy.symlinks)
    plan.directories = sorted(managed)
    by_file: dict[str, list[Finding]] = {}
    trigger_names: set[str] = set()
    for finding in report.drifted:
        if finding.kind == "rule":
            if finding.edit is None:
                plan.refusals.append((finding, REFUSALS.get(finding.status, "no safe repair known")))
            else:
                by_file.setdefault(finding.path, []).append(finding)
        elif finding.status in ("missing", "dangling", "wrong-target") and finding.device:
            if host.is_tree:
                target = os.path.relpath(finding.device, os.path.dirname(finding.path))
                plan.links.append(LinkChange(finding.path, target))
            else:
                # On a live host links are udev's to make: a trigger makes them again.
                trigger_names.add(os.path.basename(finding.device))
        else:
            plan.refusals.append((finding, REFUSALS.get(finding.status, "no safe repair known")))
    changed_policies: set[str] = set()
    for path, findings in by_file.items():
        observed = files.get(path)
        old = observed.text
        new = compose(f.edit for f in findings if f.edit)(old)
        if new != old:
            plan.files.append(FileChange(path, old, new, sorted({f.policy for f in findings}),
                                         sorted({f"policy {f.policy} ({f.entry})" for f in findings}),
                                         observed.semantics))
            changed_policies.update(f.policy for f in findings)
    if not host.is_tree:
        if plan.files and any(p.reload for p in policies if p.name in changed_policies):
            plan.commands.append(["control", "--reload"])
        drifted = {finding.policy for finding in report.drifted}
        trigger = _trigger_args(policies, trigger_names, changed_policies, drifted)
        if trigger:
            plan.commands.append(trigger)
            plan.commands.append(["settle", f"--timeout={SETTLE_TIMEOUT}"])
    return plan


def validate_candidate(change: FileChange, udevadm: Udevadm | None) -> str | None:
    """Why the new text must not be written, or None when it may."""
    before = {rule.text for rule in parse_rules(change.old, change.semantics).rules if rule.problem}
    for rule in parse_rules(change.new, change.semantics).rules:
        if rule.problem and rule.text not in before:
            return f"the new text has a rule udev would drop (line {rule.line}: {rule.problem})"
    if udevadm is not None and udevadm.has_verify():
        with tempfile.TemporaryDirectory(prefix="udev-drift-verify-") as scratch:
            candidate = os.path.join(scratch, os.path.basename(change.path))
            with open(candidate, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(change.new)
            complaint = udevadm.verify(candidate)
            if complaint:
                return f"udevadm verify rejects the new text: {complaint}"
    return None


def _read_at(dir_fd: int, name: str) -> tuple[bytes, Identity] | None:
    """The file's bytes and which file they came from; None when there is none."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    with open(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat_module.S_ISREG(st.st_mode):
            raise OSError(errno.EISDIR if stat_module.S_ISDIR(st.st_mode) else errno.EINVAL,
                          "not a regular file")
        return handle.read(), Identity.of(st)


def _write_file(change: FileChange, host: Host, state: StateDir, udevadm: Udevadm | None) -> Action:
    existing = host.lstat(change.path)
    if existing is not None and stat_module.S_ISLNK(existing.st_mode):
        # A link planted at a managed path could point anywhere (/etc/shadow): never follow
        # it to write, whatever udev would read through it.
        return Action("refuse", change.path,
                      f"is a symbolic link to {host.readlink(change.path)}; not followed to write: "
                      "replace it with a regular file, or point the policy at its target")
    refused = validate_candidate(change, udevadm)
    if refused:
        return Action("refuse", change.path, refused)
    resolved = host.resolve(change.path) or change.path
    directory, name = os.path.split(resolved)
    try:
        # Inside the root whatever links the tree holds (and made when missing).
        dir_fd = confined.open_directory(host.root, directory, make=0o755)
    except OSError as error:
        raise WriteError(f"{os.path.dirname(change.path)}: cannot open or create: {error.strerror}") from None
    try:
        try:
            current = _read_at(dir_fd, name)
        except OSError as error:
            raise WriteError(f"{change.path}: cannot read it again before writing: "
                             f"{error.strerror}") from None
        old_bytes = change.old.encode("utf-8", "surrogateescape")
        if (current[0] if current else b"") != old_bytes:
            return Action("refuse", change.path,
                          "the file changed while this run was looking at it; run again")
        backup = state.backup(change.path, current[0]) if current is not None else ""
        try:
            # Only over the very file read: a package manager's rename landing meanwhile wins.
            write_in(dir_fd, change.path, name, change.new.encode("utf-8", "surrogateescape"),
                     expect=current[1] if current is not None else ABSENT)
        except Replaced:
            return Action("refuse", change.path, REPLACED)
    finally:
        os.close(dir_fd)
    detail = f"backup {backup}" if backup else "new file"
    return Action("write", change.path, detail, diff=change.diff)


def _make_link(change: LinkChange, host: Host, tidied: set[str] | None = None) -> Action:
    """Make the link in a --root tree as udev would: relative, replacing a wrong link.
    `tidied`: the directories this run has already rid of killed runs' leftovers (once per
    directory: listing it again for each of N links in it made a repair quadratic)."""
    directory, name = os.path.split(change.link)
    temp = ""
    try:
        with confined.directory(host.root, directory, make=0o755) as dir_fd:
            if tidied is None or directory not in tidied:
                with contextlib.suppress(OSError):
                    remove_stale_temps(dir_fd)  # left by a run killed here
                if tidied is not None:
                    tidied.add(directory)
            existing = confined.lstat_at(dir_fd, name)
            if existing is not None and not stat_module.S_ISLNK(existing.st_mode):
                return Action("refuse", change.link, REFUSALS["not-a-link"])
            temp = temp_name(name)
            os.symlink(change.target, temp, dir_fd=dir_fd)
            try:
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError:
                os.unlink(temp, dir_fd=dir_fd)
                raise
    except OSError as error:
        raise WriteError(f"{change.link}: cannot make the link: {error.strerror}") from None
    return Action("link", change.link, change.target)


def remove_stale(host: Host, directories: Sequence[str]) -> list[str]:
    """Remove what killed runs left in these directories (checker.safe_files.atomic.remove_stale_temps);
    return the host paths removed. Only tidying: a directory that cannot be read is skipped."""
    removed: list[str] = []
    for directory in directories:
        try:
            with confined.directory(host.root, directory) as dir_fd:
                removed += [os.path.join(directory, name) for name in remove_stale_temps(dir_fd)]
        except OSError:
            continue
    return removed


# -- a repair that undoes the last one ------------------------------------------------------
# Two policy sets that disagree about a file (each used by its own service, say) would
# each put back what the other wrote, for ever, and udev-drift.path would reload udev
# after each. What the last repairs wrote is kept, so that such a flip stops and says so.

REPAIR_RECORD = "last-repairs.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _undoes_last_repair(change: FileChange, record: dict[str, Any]) -> Action | None:
    """A refusal when `change` would write back the text the last repair of its file replaced."""
    last = record.get(change.path)
    if not isinstance(last, dict) or last.get("after") != _digest(change.old) \
            or last.get("before") != _digest(change.new):
        return None
    theirs = ", ".join(str(entry) for entry in last.get("entries", [])) or "another policy"
    ours = ", ".join(change.entries) or ", ".join(f"policy {name}" for name in change.policies)
    return Action("refuse", change.path,
                  f"this repair would undo the repair the last run made to this file (by {theirs}): "
                  f"{ours} wants back the text it replaced. The policies disagree about this "
                  "file; make them agree (nothing written, so that the file does not flip for ever)")


def _remember_repairs(state: StateDir, record: dict[str, Any], written: list[FileChange]) -> None:
    if not written:
        return
    for change in written:
        record[change.path] = {"before": _digest(change.old), "after": _digest(change.new),
                               "entries": change.entries}
    state.write_json(REPAIR_RECORD, {"files": record})


def _last_repairs(state: StateDir) -> dict[str, Any]:
    files = state.read_json(REPAIR_RECORD).get("files")
    return files if isinstance(files, dict) else {}


def apply_plan(plan: Plan, host: Host, state: StateDir, udevadm: Udevadm | None) -> list[Action]:
    for path in remove_stale(host, plan.directories):
        log.info("%s: removed, a temporary file a killed run left", path)
    actions: list[Action] = [Action("refuse", f.path, reason) for f, reason in plan.refusals]
    wrote = False
    record = _last_repairs(state)
    written: list[FileChange] = []
    for change in plan.files:
        action = _undoes_last_repair(change, record) or _write_file(change, host, state, udevadm)
        wrote = wrote or action.action == "write"
        if action.action == "write":
            written.append(change)
        actions.append(action)
    _remember_repairs(state, record, written)
    tidied: set[str] = set()
    actions.extend(_make_link(link, host, tidied) for link in plan.links)
    if udevadm is not None:
        now = [args for args in plan.commands if wrote or args[:2] != ["control", "--reload"]]
        earlier = udevadm_owed.owed(state)
        calls = udevadm_owed.merge(earlier, now)
        if calls:
            # Owed until every call succeeded: a failure here is retried by the next repair.
            udevadm_owed.remember(state, calls)
        for args in calls:
            udevadm.run(args)
            actions.append(Action("run", command=udevadm.command(*args), detail=_retried(args, earlier, now)))
        if earlier or calls:
            udevadm_owed.forget(state)
    return actions


def _retried(args: list[str], earlier: Sequence[list[str]], now: Sequence[list[str]]) -> str:
    if args in earlier and args not in now:
        return "retried: an earlier repair's udevadm call failed"
    return ""


def describe_plan(plan: Plan, state: StateDir, udevadm: Udevadm | None) -> list[Action]:
    """What apply_plan would do, for --dry-run: nothing is written or run."""
    actions: list[Action] = [Action("refuse", f.path, reason) for f, reason in plan.refusals]
    for change in plan.files:
        refused = validate_candidate(change, None)
        if refused:
            actions.append(Action("refuse", change.path, refused))
        else:
            actions.append(Action("write", change.path, "a backup is kept first", diff=change.diff))
    actions.extend(Action("link", link.link, link.target) for link in plan.links)
    if udevadm is not None:
        earlier = udevadm_owed.owed(state)
        actions.extend(Action("run", command=udevadm.command(*args),
                              detail=_retried(args, earlier, plan.commands))
                       for args in udevadm_owed.merge(earlier, plan.commands))
    return actions
