"""One run: policies to desired state, the host observed, compared, repaired, reported."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from checker.check.explain import explain_drift, remember_kept
from checker.check.links import check_policy_symlinks
from checker.check.load_warnings import load_warnings
from checker.check.rules import check_policy_rules
from checker.check.verdicts import VerdictCache, judge_effects
from checker.errors import PolicyError, collecting, raise_all
from checker.findings import PolicyReport, Report
from checker.host import Host
from checker.observe.accounts import Accounts
from checker.observe.devices import Devices, devices_for
from checker.observe.files import RulesFiles
from checker.observe.links import Links
from checker.observe.versions import UdevChoice, udev_semantics
from checker.policy.cache import PolicyCache
from checker.policy.conflicts import check_conflicts
from checker.policy.desired import DesiredPolicy
from checker.policy.files import PolicyBytes, policy_files, read_policies
from checker.records import replace
from checker.rules.semantics import DEFAULT
from checker.settings import RunSettings
from checker.state import StateDir
from checker.udevadm import owed as udevadm_owed
from checker.udevadm.calls import Udevadm

log = logging.getLogger("udev-drift")


def run(settings: RunSettings) -> Report:
    """One run as the settings ask: load the policies, then check, dry-run or repair."""
    host = Host(settings.root)
    state = StateDir(settings.state_path, settings.root)
    # The validated policies are kept in the state directory for the runs after this one:
    # by runs that write state anyway, and by a plain check where the directory exists
    # (an installed host, or one repaired before). A dry run writes nothing at all.
    writes_state = (settings.repair and not settings.dry_run) or settings.records_metrics
    keeps_cache = writes_state or (not settings.dry_run and state.exists())
    # Under --root, only caches this boot wrote are replayed: the tree may be an image
    # someone else made, caches included (checker.trusted_cache.origin).
    cache = PolicyCache(state.located(), writable=keeps_cache, tree=host.is_tree)
    # The rule set's answers are kept beside the policies, by the same runs.
    verdicts = VerdictCache(state.located(), writable=keeps_cache, tree=host.is_tree)
    policies = load_desired(settings.policy_paths, safe_permissions=settings.safe_permissions, cache=cache,
                            host=host)
    log.debug("loaded %d policies from %s", len(policies), ", ".join(settings.policy_paths))
    for warning in load_warnings(policies, Accounts(host)):
        log.warning("%s", warning)
    # Under --root the tree is not the running system: no udevadm, whatever is asked.
    udevadm = None if host.is_tree else Udevadm(settings.udevadm, timeout=settings.udevadm_timeout)
    udev = udev_semantics(host, settings.udev, udevadm)
    # the report says which semantics applied, and the note when it is a guess
    log.info("applying %s", udev.describe())
    if settings.repair and settings.dry_run:
        return dry_run(policies, host, state, udevadm, verdicts, udev)
    if settings.repair:
        with state.lock(settings.lock_timeout):
            return repair(policies, host, state, udevadm, verdicts, udev)
    if udevadm is not None:
        owed = udevadm_owed.owed(state)
        if owed:
            log.warning("%s: pending from a repair whose udevadm call failed: udev may still run "
                        "the old rules; the next repair runs them again",
                        udevadm_owed.describe(owed))
    return check(policies, host, state, verdicts=verdicts, udev=udev)


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
            return _with_sources(known, files)
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
    return _with_sources(desired, files)


def _with_sources(policies: list[DesiredPolicy], files: Sequence[PolicyBytes]) -> list[DesiredPolicy]:
    """Each policy with the digest of the bytes it came from (one policy per file read)."""
    if len(policies) != len(files):
        return policies
    return [replace(policy, source_sha256=read.sha256) for policy, read in zip(policies, files)]


def check(policies: Sequence[DesiredPolicy], host: Host, state: StateDir | None = None,
          files: RulesFiles | None = None, devices: Devices | None = None,
          verdicts: VerdictCache | None = None, udev: UdevChoice | None = None) -> Report:
    """Compare the host with the policies. Reads only; `state` adds why files drifted;
    `verdicts` remembers (and, when it may, keeps) the rule set's answers.

    `devices` is how devices are found; by default libudev is asked once for this run (on
    the running host, when a policy names a symlink), else the file system alone.
    `udev` is whose rules language and evaluation apply (`files` must read with it).
    """
    with host.reading():  # a check changes nothing: each path is lstat()ed once
        files = files or RulesFiles(host, udev.semantics if udev else DEFAULT)
        devices = devices or devices_for(policies, host)
        links = Links(host)
        reports = [
            PolicyReport(policy.name, policy.path,
                         check_policy_rules(policy, files) + check_policy_symlinks(policy, links, devices))
            for policy in policies
        ]
        judge_effects(host, files, devices, policies, reports, verdicts)
        report = Report(reports, root=host.root, udev=udev.to_json() if udev else None)
        if state is not None:
            explain_drift(report, policies, files, state, host)
    return report


def repair(policies: Sequence[DesiredPolicy], host: Host, state: StateDir,
           udevadm: Udevadm | None, verdicts: VerdictCache | None = None,
           udev: UdevChoice | None = None) -> Report:
    """Repair every drift it safely can, then check again. The caller holds the lock."""
    from checker.repair import apply_plan, plan_repair  # not on the path of a plain check

    semantics = udev.semantics if udev else DEFAULT
    files = RulesFiles(host, semantics)
    before = check(policies, host, state, files, verdicts=verdicts, udev=udev)
    plan = plan_repair(policies, before, files, host)
    actions = apply_plan(plan, host, state, udevadm)
    host.forget()
    after_files = RulesFiles(host, semantics)
    after = check(policies, host, None, after_files, verdicts=verdicts, udev=udev)
    previous = {(f.policy, f.item): f for f in before.drifted}
    for finding in (f for p in after.policies for f in p.findings):
        old = previous.get((finding.policy, finding.item))
        if old is not None:
            finding.was = old.status
            if finding.drift:  # still wrong: why it drifted still holds
                finding.add_reasons(old.details)
    after.actions = actions
    after.mode = "repair"
    after.repaired = any(action.action in ("write", "link") for action in actions)
    remember_kept(after, policies, after_files, state)
    return after


def dry_run(policies: Sequence[DesiredPolicy], host: Host, state: StateDir,
            udevadm: Udevadm | None, verdicts: VerdictCache | None = None,
            udev: UdevChoice | None = None) -> Report:
    """What a repair would do, changing nothing."""
    from checker.repair import describe_plan, plan_repair

    files = RulesFiles(host, udev.semantics if udev else DEFAULT)
    report = check(policies, host, state, files, verdicts=verdicts, udev=udev)
    plan = plan_repair(policies, report, files, host)
    report.actions = describe_plan(plan, state, udevadm)
    report.mode = "dry-run"
    return report
