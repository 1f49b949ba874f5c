"""Why a managed file drifted, when it can be known.

After each repair run the state directory keeps a fingerprint of every managed rules
file that was right. When one drifts later, the fingerprint tells a replaced file (a new
inode: a package update or an editor that writes a new file) from one edited in place;
files a package manager leaves beside it (.rpmsave, .dpkg-old, ...) are named, saying
whether they still hold the policy's rules; and the owning package is asked of rpm or
dpkg where they exist.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from checker.check.every_event import every_event_rules
from checker.host import Host
from checker.observe.files import ObservedRulesFile, RulesFiles
from checker.rules.parsed import parse_rules
from checker.safe_files.safe_open import UnusableFile, read_regular
from checker.trusted_cache import Sha256

if TYPE_CHECKING:
    from checker.findings import Report
    from checker.policy.desired import DesiredPolicy
    from checker.rules.model import Rule
    from checker.state import StateDir

log = logging.getLogger("udev-drift")

FINGERPRINTS = "fingerprints.json"
PACKAGE_LEFTOVERS = (".rpmsave", ".rpmnew", ".rpmorig", ".dpkg-old", ".dpkg-dist", ".dpkg-new",
                     ".dpkg-bak", ".ucf-old", ".ucf-dist")
OWNER_QUERY_TIMEOUT = 5.0
MAX_LEFTOVER_BYTES = 8 * 1024 * 1024


_PRINT_FIELDS: dict[str, tuple[type, ...]] = {
    "inode": (int,), "device": (int,), "mtime": (int, float), "size": (int,), "sha256": (str,)}


def fingerprints_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a fingerprints.json, or None."""
    for path, known in data.items():
        if not isinstance(known, dict):
            return f"the entry of {path[:200]!r} is not an object"
        for field, types in _PRINT_FIELDS.items():
            value = known.get(field)
            if not isinstance(value, types) or isinstance(value, bool):
                return f"the entry of {path[:200]!r} has no valid {field!r}"
    return None


def fingerprint(observed: ObservedRulesFile) -> dict[str, Any] | None:
    if observed.kind != "file" or observed.stat is None:
        return None
    return {
        "inode": observed.stat.st_ino, "device": observed.stat.st_dev,
        "mtime": observed.stat.st_mtime, "size": len(observed.text),
        "sha256": Sha256(observed.text.encode("utf-8", "surrogateescape")).hexdigest(),
    }


def _when(mtime: float) -> str:
    from datetime import datetime, timezone  # only to explain a drift

    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _history(observed: ObservedRulesFile, known: dict[str, Any] | None) -> str | None:
    if known is None:
        return None
    if observed.kind == "missing" or observed.stat is None:
        return "the file was deleted after the last good run"
    now = fingerprint(observed)
    if now is None or now["sha256"] == known.get("sha256"):
        return None
    if (now["inode"], now["device"]) != (known.get("inode"), known.get("device")):
        return f"the file was replaced on {_when(now['mtime'])} (new inode)"
    return f"the file was edited in place on {_when(now['mtime'])}"


def _leftovers(host: Host, observed: ObservedRulesFile, wanted: set[str]) -> list[str]:
    notes = []
    directory, name = os.path.split(observed.path)
    for suffix in PACKAGE_LEFTOVERS:
        sibling = f"{directory}/{name}{suffix}"
        try:
            # A package manager leaves regular files; a FIFO here would hang every check.
            text = read_regular(host.path(sibling), MAX_LEFTOVER_BYTES).decode("utf-8", "surrogateescape")
        except (OSError, UnusableFile):
            continue
        rules = [rule for rule in parse_rules(text, observed.semantics).rules if not rule.problem]
        held = wanted & {rule.canonical for rule in rules}
        add_only = [rule for rule in rules if rule.canonical not in wanted and _add_only_form(rule, wanted)]
        also = f", and {len(add_only)} in an add-only form" if add_only else ""
        if held or add_only:
            notes.append(f"{name}{suffix} beside it still holds {len(held)} of the policy's "
                         f"{len(wanted)} rules{also}: a package update replaced the file")
        else:
            notes.append(f"{name}{suffix} beside it was left by a package update")
        for rule in add_only:
            notes.append(f"{name}{suffix}:{rule.line} makes the link at add only (ACTION==\"add\"): put "
                         "back as it was, the link would be gone after the next change event (`udevadm "
                         "trigger`, a partition table re-read, closing a watched disk after a write); "
                         "the policy makes it on every event but remove")
    return notes


def _add_only_form(rule: Rule, wanted: set[str]) -> bool:
    """Is the rule the add-only form of policy rules (`ACTION=="add"` with SYMLINK and RUN,
    where the policy has the link on every event and the program on add)?"""
    rewritten = every_event_rules(rule)
    if rewritten is None:
        return False
    forms = parse_rules("".join(line + "\n" for line in rewritten)).rules
    return all(not form.problem and form.canonical in wanted for form in forms)


def owning_package(host: Host, path: str) -> str | None:
    """The package rpm or dpkg says owns `path` (live host only), or None."""
    found = owner_query(host, path)
    return None if found is None else found[1]


def owner_query(host: Host, path: str) -> tuple[str, str] | None:
    """("rpm" | "dpkg", the package that owns `path`) on a live host, or None."""
    if host.is_tree:
        return None
    import shutil  # here, not at the top: only a drifted file on a live host needs them
    import subprocess

    for tool, args in (("rpm", ["-qf", "--queryformat", "%{NAME}-%{VERSION}-%{RELEASE}"]),
                       ("dpkg", ["-S"])):
        binary = shutil.which(tool)
        if binary is None:
            continue
        for name in (path, *_merged_usr_alias(path)):
            try:
                done = subprocess.run([binary, *args, name], capture_output=True, text=True,
                                      timeout=OWNER_QUERY_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
            except (OSError, subprocess.TimeoutExpired):
                break
            if done.returncode == 0 and done.stdout.strip():
                owner = done.stdout.strip().splitlines()[0]
                return tool, owner.split(":")[0] if tool == "dpkg" else owner
    return None


def _merged_usr_alias(path: str) -> tuple[str, ...]:
    """The other name of a file on a merged-/usr host: dpkg knows a package's files by the
    paths in the package (/lib/udev/rules.d/...), which /usr/lib/udev/rules.d/... also is."""
    for short, long in (("/lib/", "/usr/lib/"),):
        if path.startswith(long):
            return (short + path[len(long):],)
        if path.startswith(short):
            return (long + path[len(short):],)
    return ()


def explain(observed: ObservedRulesFile, wanted: set[str], known: dict[str, Any] | None,
            host: Host) -> list[str]:
    """Sentences on why this file drifted, most telling first. `wanted` holds the
    canonical rules the policy wants present in it."""
    notes = []
    history = _history(observed, known)
    if history:
        notes.append(history)
    notes.extend(_leftovers(host, observed, wanted))
    owner = owning_package(host, observed.path)
    if owner:
        notes.append(f"the file belongs to the package {owner}")
    return notes


def fingerprints_of(observed_files: list[ObservedRulesFile]) -> dict[str, Any]:
    """{path: fingerprint} of the files given that exist as regular files."""
    prints = {observed.path: fingerprint(observed) for observed in observed_files}
    return {path: value for path, value in prints.items() if value is not None}


def explain_drift(report: Report, policies: Sequence[DesiredPolicy], files: RulesFiles,
                  state: StateDir, host: Host) -> None:
    """Give each drifted rule finding of the report its reasons (why the file drifted),
    from the fingerprints the last repair kept."""
    drifted = [finding for finding in report.drifted if finding.kind == "rule"]
    if not drifted:
        return
    known: dict[str, Any] = state.read_json(FINGERPRINTS, fingerprints_problem)
    for finding in drifted:
        wanted = _wanted_rules(policies, finding.policy, finding.path)
        finding.add_reasons(explain(files.get(finding.path), wanted, known.get(finding.path), host))


def remember_kept(report: Report, policies: Sequence[DesiredPolicy], files: RulesFiles,
                  state: StateDir) -> None:
    """After a repair: keep the fingerprints of the managed files that are now right, to
    explain a later drift."""
    kept = {f.path for p in report.policies for f in p.findings if f.kind == "rule" and not f.drift}
    managed = sorted({entry.file for policy in policies for entry in policy.rules})
    known = state.read_json(FINGERPRINTS, fingerprints_problem)
    known.update(fingerprints_of([files.get(path) for path in managed if path in kept]))
    state.write_json(FINGERPRINTS, known)


def _wanted_rules(policies: Sequence[DesiredPolicy], name: str, path: str) -> set[str]:
    return {rule.canonical for policy in policies if policy.name == name
            for entry in policy.rules if entry.file == path and entry.ensure != "absent"
            for rule in entry.rules}
