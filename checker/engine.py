"""One run: policies to desired state, the host observed, compared, repaired, reported."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checker.check.explain import FINGERPRINTS, explain, fingerprints_of
from checker.check.links import Devices, check_policy_symlinks, devices_for
from checker.check.rules import check_policy_rules
from checker.errors import PolicyError, collecting, raise_all
from checker.findings import PolicyReport, Report
from checker.host import Host
from checker.observe.files import RulesFiles
from checker.policy.cache import PolicyCache
from checker.policy.conflicts import check_conflicts
from checker.policy.desired import DesiredPolicy
from checker.policy.files import policy_files, read_policies
from checker.repair import apply_plan, describe_plan, plan_repair
from checker.state import LOCK_WAIT_SECONDS, StateDir
from checker.udevadm import DEFAULT_TIMEOUT as DEFAULT_UDEVADM_TIMEOUT
from checker.udevadm import Udevadm

log = logging.getLogger("udev-drift")


@dataclass(frozen=True)
class RunSettings:
    """What one check or repair is asked to do, made once from the command line (`check`,
    and every check of `serve`). Paths are absolute; the defaults are already applied."""

    policy_paths: list[str]  # policy files or directories of them
    root: str  # "/" for the running host, else the tree's absolute path
    state_path: str  # the state directory
    repair: bool = False
    dry_run: bool = False  # with repair: describe the plan, change nothing
    udevadm: str = "udevadm"
    udevadm_timeout: float = DEFAULT_UDEVADM_TIMEOUT
    lock_timeout: float = LOCK_WAIT_SECONDS
    safe_permissions: bool = False  # refuse policies someone other than root could write
    records_metrics: bool = False  # the run writes its counters to the state directory anyway


def run(settings: RunSettings) -> Report:
    """One run as the settings ask: load the policies, then check, dry-run or repair."""
    host = Host(settings.root)
    state = StateDir(settings.state_path)
    # The validated policies are kept in the state directory for the runs after this one:
    # by runs that write state anyway, and by a plain check where the directory exists
    # (an installed host, or one repaired before). A dry run writes nothing at all.
    writes_state = (settings.repair and not settings.dry_run) or settings.records_metrics
    keeps_cache = writes_state or (not settings.dry_run and state.exists())
    cache = PolicyCache(state.path, writable=keeps_cache)
    policies = load_desired(settings.policy_paths, safe_permissions=settings.safe_permissions, cache=cache,
                            host=host)
    log.debug("loaded %d policies from %s", len(policies), ", ".join(settings.policy_paths))
    # Under --root the tree is not the running system: no udevadm, whatever is asked.
    udevadm = None if host.is_tree else Udevadm(settings.udevadm, timeout=settings.udevadm_timeout)
    if settings.repair and settings.dry_run:
        return dry_run(policies, host, state, udevadm)
    if settings.repair:
        with state.lock(settings.lock_timeout):
            return repair(policies, host, state, udevadm)
    return check(policies, host, state)


def load_desired(paths: Sequence[str], safe_permissions: bool = False,
                 cache: PolicyCache | None = None, host: Host | None = None) -> list[DesiredPolicy]:
    """Load, validate and expand every policy, or raise with every problem found.

    Each policy file is opened once; what is hashed, cached and parsed is the bytes read.
    With `safe_permissions` (a run as root), a policy that someone other than root could
    have written (the file, or any directory on the way to it) is refused first. Policies
    whose exact bytes were validated before are taken from `cache`. Conflicts between
    policies are judged on the files of `host` (one file may have two names). Nothing
    on the host is read before all this succeeded.
    """
    files = read_policies(policy_files(list(paths)), strict=safe_permissions)
    if cache is not None:
        known = cache.lookup(files)
        if known is not None:
            check_conflicts(known, host)
            return known
    # YAML and pydantic are imported only here, when a policy must really be validated.
    from checker.policy.expand import expand_policy
    from checker.policy.loader import load_read_policies

    errors: list[PolicyError] = []
    desired: list[DesiredPolicy] = []
    for loaded in load_read_policies(files):
        with collecting(errors):
            desired.append(expand_policy(loaded))
    raise_all(errors)
    check_conflicts(desired, host)
    if cache is not None:
        cache.store(files, desired)
    return desired


def check(policies: Sequence[DesiredPolicy], host: Host, state: StateDir | None = None,
          files: RulesFiles | None = None, devices: Devices | None = None) -> Report:
    """Compare the host with the policies. Reads only; `state` adds why files drifted.

    `devices` is how devices are found; by default libudev is asked once for this run (on
    the running host, when a policy names a symlink), else the file system alone.
    """
    files = files or RulesFiles(host)
    devices = devices or devices_for(policies, host)
    reports = [
        PolicyReport(policy.name, policy.path,
                     check_policy_rules(policy, files) + check_policy_symlinks(policy, host, devices))
        for policy in policies
    ]
    report = Report(reports, root=host.root)
    if state is not None and report.drifted:
        known: dict[str, Any] = state.read_json(FINGERPRINTS)
        for finding in report.drifted:
            if finding.kind == "rule":
                wanted = _wanted_rules(policies, finding.policy, finding.path)
                notes = explain(files.get(finding.path), wanted, known.get(finding.path), host)
                finding.details[:0] = notes
    return report


def _wanted_rules(policies: Sequence[DesiredPolicy], name: str, path: str) -> set[str]:
    return {rule.canonical for policy in policies if policy.name == name
            for entry in policy.rules if entry.file == path and entry.ensure != "absent"
            for rule in entry.rules}


def _managed_files(policies: Sequence[DesiredPolicy]) -> list[str]:
    return sorted({entry.file for policy in policies for entry in policy.rules})


def repair(policies: Sequence[DesiredPolicy], host: Host, state: StateDir,
           udevadm: Udevadm | None) -> Report:
    """Repair every drift it safely can, then check again. The caller holds the lock."""
    files = RulesFiles(host)
    before = check(policies, host, state, files)
    plan = plan_repair(policies, before, files, host)
    actions = apply_plan(plan, host, state, udevadm)
    host.forget()
    after_files = RulesFiles(host)
    after = check(policies, host, None, after_files)
    previous = {(f.policy, f.item): f for f in before.drifted}
    for finding in (f for p in after.policies for f in p.findings):
        old = previous.get((finding.policy, finding.item))
        if old is not None:
            finding.was = old.status
            if finding.drift:
                finding.details[:0] = old.details
    after.actions = actions
    after.mode = "repair"
    after.repaired = any(action.action in ("write", "link") for action in actions)
    # Remember the managed files as they are now right, to explain a later drift.
    kept = {f.path for p in after.policies for f in p.findings if f.kind == "rule" and not f.drift}
    known = state.read_json(FINGERPRINTS)
    known.update(fingerprints_of([after_files.get(path) for path in _managed_files(policies)
                                  if path in kept]))
    state.write_json(FINGERPRINTS, known)
    return after


def dry_run(policies: Sequence[DesiredPolicy], host: Host, state: StateDir,
            udevadm: Udevadm | None) -> Report:
    """What a repair would do, changing nothing."""
    files = RulesFiles(host)
    report = check(policies, host, state, files)
    plan = plan_repair(policies, report, files, host)
    report.actions = describe_plan(plan, udevadm)
    report.mode = "dry-run"
    return report
