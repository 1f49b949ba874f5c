"""The rule set's answers, remembered: an unchanged host is answered without the evaluator.

What checker.check.effects puts on the findings (effect, status not-made / ineffective,
cause, details) depends only on: the bytes of every rules file udev reads, and the list
of names in every rules directory (a new file, a removed one, a mask, a link); the
findings as the text and link checks left them (which the policies and /dev decide);
the policies themselves (their validated form); which block devices are present (when
a policy names links: another device may claim one), and the facts of every other device
whose claim on a wanted link was weighed (kept with the answers, compared on replay); the
stable facts of each device asked
about (kernel name, node, number, subsystem, attributes, properties, parents; never a
counter such as `stat`, unless a rules file names it); the udev semantics applied; and
the code that decides (the version and a hash of checker/rules, checker/evaluate,
checker/check). The key is a SHA-256 over all of it: a rules file is hashed by its bytes,
never trusted by size and mtime. A hit puts the stored answers on the findings and never
builds the rule set; anything else evaluates and stores.

The file (`verdict-cache.json` in the state directory) is trusted as the policy cache is
(checker.trusted_cache): root's, never read through a link; a corrupt one is set aside
with one warning.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import checker
from checker import records
from checker.check.named_devices import Device, PolicyDevices, attribute_names, devices_asked
from checker.check.rules import PlacedRules
from checker.findings import Cause, Finding, PolicyReport
from checker.host import Host
from checker.paths import UDEV_RULES_DIRS
from checker.trusted_cache import Sha256, code_fingerprint, origin, read_trusted_json, write_trusted_json

log = logging.getLogger("udev-drift")

VERDICT_CACHE_NAME = "verdict-cache.json"
FORMAT = 2  # 2: each change kept once, with the findings it was made on
KEEP = 8  # answers for this many keys (a host that goes back and forth is still a hit)
_WHAT = "a verdict cache"
# The semantics answers follow where the files say none (checker.evaluate.result's
# UDEV_VERSION, which a test holds this to: importing it here would import the evaluator's
# state and facts into every run answered from the cache). A run that applies another
# udev's (--udev 219) never replays them: the semantics in force is in the key.
UDEV_SEMANTICS = "252"
# Attributes that count (I/O statistics): left out of the key unless a rules file names
# one in braces (ATTR{stat}, %s{inflight}), when they are in it like any other.
VOLATILE_ATTRIBUTES = ("stat", "inflight", "iodone_cnt", "ioerr_cnt", "iorequest_cnt", "device_busy")
# What a finding looks like to the rule set's answers, and what the answers set.
ANSWER_FIELDS = ("status", "drift", "message", "details", "effect", "effect_reason", "cause")


@functools.lru_cache(maxsize=1)
def decider_fingerprint() -> str:
    """The code whose answers are kept: rules as udev reads them, the evaluator, the checks."""
    return code_fingerprint(("rules", "evaluate", "check"),
                            ("paths.py", "findings.py", "records.py", os.path.join("observe", "files.py"),
                             os.path.join("observe", "udev.py"), os.path.join("observe", "devices.py")))


class _Hasher:
    def __init__(self) -> None:
        self.digest = Sha256()
        # one digest per label as well, for --debug: which input made a key new (only
        # then: it hashes every byte twice)
        self.parts: dict[str, Sha256] | None = {} if log.isEnabledFor(logging.DEBUG) else None

    def _update(self, label: str, data: bytes) -> None:
        self.digest.update(f"{label}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        self.digest.update(data)
        if self.parts is not None:
            self.parts.setdefault(label, Sha256()).update(data)

    def add(self, label: str, value: Any) -> None:
        """A value made of JSON's types (the policies, the findings), its dicts built in
        one order by the code (which is in the key): repr() spells it twice as fast as
        json.dumps(sort_keys=True) did, a tenth of a large host's cache hit."""
        self._update(label, repr(value).encode("utf-8", "surrogateescape"))

    def add_canon(self, label: str, value: Any) -> None:
        """Any value: dataclasses, mappings, sets (facts)."""
        self._update(label, repr(_canon(value)).encode("utf-8", "surrogateescape"))

    def add_bytes(self, label: str, data: bytes) -> None:
        self._update(label, data)

    def described(self) -> str:
        parts = self.parts or {}
        return ", ".join(f"{label} {part.hexdigest()[:12]}" for label, part in parts.items())


_FIELDS: dict[type, tuple[str, ...]] = {}


def _canon(value: Any) -> Any:
    """A stable form of what facts and findings hold (sets sorted: their order changes
    from run to run), made of tuples, strings and numbers."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    kind = type(value)
    if records.is_record(value):
        names = _FIELDS.get(kind)
        if names is None:
            names = _FIELDS[kind] = tuple(f.name for f in records.fields(value))
        return (kind.__name__, *(_canon(getattr(value, name)) for name in names))
    if isinstance(value, Mapping):
        return ("{", *sorted((str(k), _canon(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return ("set", *sorted(repr(_canon(v)) for v in value))
    if isinstance(value, (tuple, list)):
        return ("(", *(_canon(v) for v in value))
    return repr(value)  # Unknown and whatever else: its repr names what it is


def rules_listing(host: Host, files: Any) -> list[tuple[str, str, str, bytes]]:
    """Every name in every rules directory udev reads, as (directory, name, kind, bytes):
    kind "file" (bytes: the file's), "masked", "shadowed" (a same name in an earlier
    directory wins: its bytes are not read), "other" (not a *.rules name, missing, not a
    regular file). `files` is the run's RulesFiles: a file read here is read once."""
    listing: list[tuple[str, str, str, bytes]] = []
    chosen: set[str] = set()
    seen: list[str] = []
    for directory in UDEV_RULES_DIRS:
        resolved = host.resolve(directory)
        if any(resolved == host.resolve(earlier) for earlier in seen):
            listing.append((directory, "", "same-as-earlier", b""))
            continue
        seen.append(directory)
        names = files.names(directory)
        if names is None:
            listing.append((directory, "", "unlisted", b""))
            continue
        for name in sorted(names):
            if not name.endswith(".rules"):
                listing.append((directory, name, "other", b""))
                continue
            if name in chosen:
                listing.append((directory, name, "shadowed", b""))
                continue
            chosen.add(name)
            observed = files.get(f"{directory}/{name}")
            data = observed.text.encode("utf-8", "surrogateescape") if observed.kind == "file" else b""
            listing.append((directory, name, observed.kind, data))
    return listing


def _finding_state(finding: Finding) -> tuple[Any, ...]:
    """Everything a finding says that the evaluation may read (what to_json() holds, and
    the present rules), as one tuple: no dict per finding (20,000 on a shelf of disks)."""
    cause = finding.cause
    why = None if cause is None else (cause.file, cause.line, cause.rule, cause.why, cause.text, cause.event)
    return (finding.policy, finding.kind, finding.path, finding.item, finding.entry, finding.status,
            finding.drift, finding.message, tuple(finding.details), finding.diff, finding.was,
            finding.device, finding.effect, why, finding.effect_reason, _present_state(finding.present_rules))


def _present_state(rules: Sequence[Any]) -> Any:
    """The present rules by where and what they are; rules placed as the policy's text
    (checker.check.rules.PlacedRules) by what they are a function of, unparsed."""
    if isinstance(rules, PlacedRules):
        return rules.identity()
    return [(r.line, r.end_line, r.text) for r in rules]


def _answers_of(finding: Finding) -> dict[str, Any]:
    values = {name: getattr(finding, name) for name in ANSWER_FIELDS}
    values["details"] = list(finding.details)
    values["cause"] = records.asdict(finding.cause) if finding.cause is not None else None
    return values


def stable_facts(facts: Any, named: frozenset[str]) -> Any:
    """The device's facts without the attributes that count (unless a rules file names them)."""
    volatile = frozenset(VOLATILE_ATTRIBUTES) - named

    def node(n: Any) -> Any:
        if not volatile:
            return n
        attributes = {k: v for k, v in n.attributes.items() if k not in volatile}
        return records.replace(n, attributes=attributes)

    return records.replace(facts, node=node(facts.node), parents=tuple(node(p) for p in facts.parents))


class VerdictCache:
    """The answers of past runs, keyed by everything they depend on."""

    def __init__(self, directory: str, writable: bool, tree: bool = False) -> None:
        """`tree`: the cache is a --root tree's (checker.trusted_cache.origin)."""
        self.path = os.path.join(directory, VERDICT_CACHE_NAME)
        self.writable = writable
        self.origin = origin(tree)
        self.hits = 0
        self.misses = 0
        self._named: frozenset[str] = frozenset()

    # --- the key ------------------------------------------------------------------------
    def key(self, host: Host, files: Any, policies: Sequence[Any], reports: Sequence[PolicyReport],
            devices: Iterable[tuple[Any, Any]], present: Iterable[str] = (),
            listing: list[tuple[str, str, str, bytes]] | None = None) -> str:
        """`devices`: (device, what its facts at "add" are made of) of every device a
        question is about: the facts themselves, or what they are a function of. `present`:
        the kernel names of every block device present (when a policy names links: another
        device may claim one); the facts of those whose claims were weighed are kept with
        the answers and compared on replay (see replay()). `listing`: rules_listing() of
        `host` and `files`, when the caller has it already."""
        from checker.policy.cache import desired_json, validator_fingerprint

        h = _Hasher()
        semantics = getattr(files, "semantics", None)
        in_force = semantics.name if semantics is not None else UDEV_SEMANTICS
        h.add("tool", [checker.__version__, decider_fingerprint(), in_force, host.root, host.is_tree])
        named: set[str] = set()
        for directory, name, kind, data in listing if listing is not None else rules_listing(host, files):
            h.add("file", [directory, name, kind])
            if kind == "file":
                h.add_bytes("bytes", data)
                named.update(v for v in VOLATILE_ATTRIBUTES if b"{" + v.encode() + b"}" in data)
        for policy in policies:
            if policy.source_sha256 is not None:
                # the bytes validated, with the validator's fingerprint, make the desired state
                h.add("policy", [policy.path, policy.source_sha256, validator_fingerprint()])
            else:
                h.add("policy", desired_json(policy))
        for report in reports:
            h.add("report", [report.name, report.path, [_finding_state(f) for f in report.findings]])
        frozen = self._named = frozenset(named)
        h.add("present", sorted(present))
        plain: list[Any] = []  # devices under --root: what their facts are made of, as JSON
        # in a stable order: the devices come from a set, whose order changes between runs
        for device, facts in sorted(devices, key=lambda pair: (pair[0].kernel, pair[0].sys_path or "",
                                                               pair[0].node or "")):
            where = [device.kernel, device.sys_path, device.node]
            if hasattr(facts, "node"):
                h.add_canon("device", [where, stable_facts(facts, frozen)])
            else:
                plain.append([*where, facts])
        h.add("devices", plain)
        key = h.digest.hexdigest()
        if h.parts is not None:
            log.debug("verdict cache key %s: %s", key[:12], h.described())
        return key

    def device_digest(self, device: Any, facts: Any) -> str:
        """A device's identity and what its facts are made of (key() first: the attributes
        the rules files name)."""
        h = _Hasher()
        where = [device.kernel, device.sys_path, device.node]
        if hasattr(facts, "node"):
            h.add_canon("device", [where, stable_facts(facts, self._named)])
        else:
            h.add("device", [*where, facts])
        return h.digest.hexdigest()

    # --- reading and writing ------------------------------------------------------------
    def _entries(self) -> dict[str, Any]:
        data = read_trusted_json(self.path, _WHAT, corrupt_aside=True, written_under=self.origin)
        if data is None or data.get("format") != FORMAT:
            return {}
        entries = data.get("entries")
        if not isinstance(entries, dict):
            from checker.state import set_aside

            set_aside(self.path, "not a verdict cache: no entries")
            return {}
        return entries

    def replay(self, key: str, reports: Sequence[PolicyReport],
               decides: Callable[[Device], Any] | None = None) -> bool:
        """Put the answers kept for `key` on the findings; False when there are none, or
        when a device whose claim on a wanted link was weighed is not as it was then
        (`decides`: what a device's facts are made of now)."""
        entry = self._entries().get(key)
        findings = [f for report in reports for f in report.findings]
        try:
            if not isinstance(entry, dict):
                raise LookupError
            for kernel, sys_path, node, digest in entry.get("considered", []):
                device = Device(str(kernel), sys_path, node)
                if decides is None or self.device_digest(device, decides(device)) != digest:
                    raise LookupError
            changes = [(_checked(values), [findings[i] for i in _indices(indices, len(findings))])
                       for values, indices in entry["answers"]]
        except (LookupError, TypeError, ValueError):
            self.misses += 1
            return False
        for values, changed in changes:
            for finding in changed:
                for name, value in values.items():
                    # each finding its own list: a later step may add to one's details
                    setattr(finding, name, list(value) if name == "details" else value)
        self.hits += 1
        log.debug("the rule set's answers taken from %s (nothing they depend on changed)", self.path)
        return True

    def store(self, key: str, reports: Sequence[PolicyReport], before: list[dict[str, Any]],
              considered: Iterable[tuple[Device, Any]] = ()) -> None:
        """Keep what the evaluation changed on the findings (`before`: snapshot()), and the
        digests of the other devices whose claims were weighed (`considered`: (device, what
        its facts are made of))."""
        if not self.writable:
            return
        findings = [f for report in reports for f in report.findings]
        # What the evaluation changed, per finding: most findings of a large host change
        # alike (effect "yes"), so each change is kept once with the findings it was made on.
        grouped: dict[str, list[Any]] = {}
        for i, (finding, was) in enumerate(zip(findings, before)):
            after = _answers_of(finding)
            changed = {name: value for name, value in after.items() if value != was[name]}
            if changed:
                grouped.setdefault(repr(sorted(changed.items())), [changed, []])[1].append(i)
        answers = list(grouped.values())
        entries = {k: v for k, v in self._entries().items() if isinstance(v, dict)}
        entries.pop(key, None)
        while len(entries) >= KEEP:
            entries.pop(next(iter(entries)))
        others = sorted([d.kernel, d.sys_path, d.node, self.device_digest(d, facts)]
                        for d, facts in considered)
        entries[key] = {"answers": answers, **({"considered": others} if others else {})}
        write_trusted_json(self.path, {"format": FORMAT, "version": checker.__version__,
                                       "entries": entries}, _WHAT, self.origin)


def judge_effects(host: Host, files: Any, devices: Any, policies: Sequence[Any],
                  reports: Sequence[PolicyReport], verdicts: VerdictCache | None) -> None:
    """checker.check.effects' answers on the findings: from `verdicts` when nothing they
    depend on changed (the evaluator is then not even imported), else evaluated (and kept)."""
    found = PolicyDevices(host, devices)
    asked = devices_asked(found, policies, reports)
    if not asked:
        return  # nothing present to ask about: the rule set is not even read
    # every rules file's bytes, read (and encoded) once: for the key, and on a running host
    # for the attributes the rules can name, which are all a device's facts then read
    listing = rules_listing(host, files) if verdicts is not None or not host.is_tree else None
    if listing is not None and not host.is_tree:
        found.attribute_names = attribute_names(data for _, _, kind, data in listing if kind == "file")
    key = None
    if verdicts is not None:
        # another present device may claim a wanted link: which devices are present is in
        # the key, and the facts of those whose claims were weighed are kept with the answers
        present = sorted(found.present()) if any(policy.symlinks for policy in policies) else []
        key = verdicts.key(host, files, policies, reports, [(d, found.what_decides(d)) for d in asked],
                           present, listing)
        if verdicts.replay(key, reports, found.what_decides):
            return
    before = snapshot(reports)
    from checker.check.effects import Effects

    effects = Effects(host, files, devices, found)
    effects.judge(policies, reports)
    if verdicts is not None and key is not None:
        verdicts.store(key, reports, before, [(d, found.what_decides(d)) for d in effects.considered])


def snapshot(reports: Sequence[PolicyReport]) -> list[dict[str, Any]]:
    return [_answers_of(f) for report in reports for f in report.findings]


def _indices(value: Any, size: int) -> list[int]:
    if not isinstance(value, list) or not all(type(i) is int and 0 <= i < size for i in value):
        raise ValueError("not indices of the findings")
    return value


def _checked(values: Any) -> dict[str, Any]:
    """Answers read back (the fields the evaluation changed) are held to the shape a
    finding has."""
    if not isinstance(values, dict) or not values or not set(values) <= set(ANSWER_FIELDS):
        raise ValueError("not a finding's answers")
    out = dict(values)
    if "details" in out and (not isinstance(out["details"], list)
                             or not all(isinstance(d, str) for d in out["details"])):
        raise ValueError("details")
    for name in ("status", "message"):
        if name in out and not isinstance(out[name], str):
            raise ValueError(name)
    if "drift" in out and not isinstance(out["drift"], bool):
        raise ValueError("drift")
    if out.get("effect") not in (None, "yes", "no", "unknown"):
        raise ValueError("effect")
    if out.get("effect_reason") is not None and not isinstance(out["effect_reason"], str):
        raise ValueError("effect_reason")
    if out.get("cause") is not None:
        out["cause"] = Cause(**out["cause"])
    return out
