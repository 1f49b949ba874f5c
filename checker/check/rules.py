"""Comparing the rules a policy wants with the rules files as udev reads them.

Pure: takes observed files and desired entries, returns findings. Rules are compared by
their canonical form, so whitespace, commas, continuations and the order of match keys
never make drift, while a changed key, operator or value, or a rule udev would drop, does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from checker.edits.blocks import scan_markers, unmarked_run
from checker.edits.diffs import unified_diff
from checker.edits.ensure import (
    Edit,
    ensure_absent,
    ensure_block,
    ensure_file,
    ensure_lines,
)
from checker.findings import Finding, Status
from checker.observe.files import ObservedRulesFile, RulesFiles
from checker.policy.desired import DesiredPolicy, DesiredRules
from checker.records import replace
from checker.rules.canonical import UDEV_LINE_SIZE
from checker.rules.model import Rule
from checker.rules.parsed import parse_rules
from checker.rules.semantics import DEFAULT
from checker.rules.textlines import open_continuation, split_keepends, strip_ending

LOOKS_LIKE = 0.8  # similarity above which a file's rule is named as "probably meant"


def _entry_names(entries: Sequence[DesiredRules]) -> str:
    names: list[str] = []
    for entry in entries:
        base = entry.entry.split("]")[0] + "]"
        if base not in names:
            names.append(base)
    return ", ".join(names)


def _lines_text(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:8])
    return ("line " if len(numbers) == 1 else "lines ") + shown + (" ..." if len(numbers) > 8 else "")


def _dropped_details(rules: Sequence[Rule]) -> list[str]:
    return [f"line {rule.line}: udev drops this rule: {rule.problem}" for rule in rules if rule.problem]


class NearMisses:
    """Finds the rule in a file that was probably meant to be a wanted one: the same rule
    that udev drops, or (with `fuzzy`) a close one. The token index is built on the first
    fuzzy question, and each question looks at no more than MAX_CANDIDATES rules that
    share the wanted rule's rarest match: hints must not cost what the check costs."""

    MAX_CANDIDATES = 200

    def __init__(self, observed: ObservedRulesFile, fuzzy: bool = True) -> None:
        self.observed = observed
        self.fuzzy = fuzzy
        self.dropped: dict[str, Rule] = {}
        for rule in observed.parsed.rules:
            if rule.problem:
                self.dropped.setdefault(rule.canonical, rule)
        self._by_token: dict[tuple[str, str | None, str, str], list[Rule]] | None = None

    def _index(self) -> dict[tuple[str, str | None, str, str], list[Rule]]:
        if self._by_token is None:
            self._by_token = {}
            for rule in self.observed.parsed.rules:
                for token in rule.tokens:
                    if token.is_match:
                        key = (token.key, token.attr, token.op, token.value)
                        self._by_token.setdefault(key, []).append(rule)
        return self._by_token

    def hint(self, wanted: Rule) -> str | None:
        same = self.dropped.get(wanted.canonical)
        if same is not None:
            return f"line {same.line} holds this rule, but udev drops it: {same.problem}"
        if not self.fuzzy:
            return None
        index = self._index()
        postings = [index.get((t.key, t.attr, t.op, t.value), []) for t in wanted.tokens if t.is_match]
        postings = [p for p in postings if p]
        if not postings:
            return None
        from difflib import SequenceMatcher  # only for a drift: not on a compliant run

        matcher = SequenceMatcher(None, "", wanted.text)
        best: tuple[float, Rule] | None = None
        for rule in min(postings, key=len)[: self.MAX_CANDIDATES]:
            matcher.set_seq1(rule.text)
            if matcher.real_quick_ratio() < LOOKS_LIKE or matcher.quick_ratio() < LOOKS_LIKE:
                continue
            ratio = matcher.ratio()
            if ratio >= LOOKS_LIKE and (best is None or ratio > best[0]):
                best = (ratio, rule)
        if best is None:
            return None
        rule = best[1]
        if rule.problem:
            return f"line {rule.line} is close to it, but udev drops it: {rule.problem}"
        return f"line {rule.line} is close to it but differs"


def _apply_visibility(finding: Finding, observed: ObservedRulesFile) -> Finding:
    """Shadowing and masking: the file's text may be right, udev still ignores it."""
    if observed.masked_by:
        reason = (f"{observed.masked_by} links to /dev/null, so udev reads no file of this name")
    elif observed.shadowed_by:
        reason = (f"udev reads {observed.shadowed_by} instead: a file of the same name "
                  "in a directory it reads first")
    else:
        return finding
    if finding.drift:  # what is wrong with the text, beside udev not reading it
        finding.add_reasons([f"{finding.status}: {finding.message}"])
    finding.status = "masked" if observed.masked_by else "shadowed"
    finding.message = reason
    finding.drift = True
    return finding


def _with_diff(finding: Finding, observed: ObservedRulesFile, edit: Edit) -> Finding:
    if not finding.drift or observed.kind not in ("file", "missing"):
        return finding
    new_text = edit(observed.text)
    if new_text != observed.text:
        finding.diff = unified_diff(observed.path, observed.text, new_text)
        finding.edit = edit
    return finding


def _unusable(observed: ObservedRulesFile) -> tuple[Status, str] | None:
    if observed.kind == "masked":
        return "masked", "the file is a link to /dev/null: udev reads no file of this name"
    if observed.kind == "not-a-file":
        return "not-a-file", "expected a regular file, found something else at this path"
    return None


def _rules_inside(observed: ObservedRulesFile, lines: list[str], begin: int, end: int,
                  whole: bool) -> list[Rule]:
    """The rules between a block's markers, as udev reads them. Only the block is parsed,
    unless (`whole`) a line before it continues onto it or may stop udev's reading: then
    the whole file, as udev would."""
    if whole:
        return [r for r in observed.parsed.rules if begin < r.line - 1 < end]
    block = parse_rules("".join(lines[begin + 1:end]), observed.semantics)
    # The block's own numbering starts at 1: shift it to the file's lines.
    return [replace(rule, line=rule.line + begin + 1, end_line=rule.end_line + begin + 1)
            for rule in block.rules]


class PlacedRules(Sequence[Rule]):
    """The entries' rules as they stand in a file whose managed block holds exactly their
    text from line `offset` + 1 on: parsed only when a rule is read. A host found as the
    policy wants needs no more than their count and the devices they name, both in the
    entries' summaries (kept in the policy cache): 30,000 rules are then never parsed."""

    def __init__(self, entries: Sequence[DesiredRules], offset: int,
                 whole: ObservedRulesFile | None = None) -> None:
        self.entries = tuple(entries)
        self.offset = offset
        self._rules: tuple[Rule, ...] | None = None
        # the file, when nothing but comments and blank lines stands outside the block: its
        # whole parse is then the block's rules where they stand, and the same (cached)
        # parse the rule set's evaluation reads: parsed once, no shifted copies
        self._whole = whole

    def _parsed(self) -> tuple[Rule, ...]:
        if self._rules is None and self._whole is not None:
            self._rules = self._whole.parsed.rules
        if self._rules is None:
            # as the block is read when its text is not the policy's (_rules_inside)
            block = parse_rules("".join(entry.content for entry in self.entries))
            shift = self.offset
            self._rules = tuple(replace(rule, line=rule.line + shift, end_line=rule.end_line + shift)
                                for rule in block.rules)
        return self._rules

    @overload
    def __getitem__(self, index: int) -> Rule: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Rule]: ...
    def __getitem__(self, index: int | slice) -> Rule | Sequence[Rule]:
        return self._parsed()[index]

    def __len__(self) -> int:
        return sum(entry.summary.count for entry in self.entries)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._parsed())

    def kernels(self) -> list[str | None]:
        """checker.rules.literal.literal_kernel of each rule, from the summaries."""
        return [kernel for entry in self.entries for kernel in entry.summary.kernels]

    def identity(self) -> tuple[object, ...]:
        """What the rules are a function of, beside the policy (whose content the verdict
        cache's key holds): where the block starts, and which entries it holds."""
        return ("placed", self.offset, [entry.entry for entry in self.entries])


def _placed(entries: Sequence[DesiredRules], observed: ObservedRulesFile, lines: list[str],
            begin: int, end: int, content: str) -> PlacedRules | None:
    """The block's rules without parsing it, when that gives what parsing it would: its text
    is the entries' text, read by the reader their rules were validated with, and no entry
    runs on into the next (a continuation), so that parsing it whole and parsing each entry
    give the same rules."""
    if observed.semantics != DEFAULT or any(entry.summary.open_end for entry in entries):
        return None
    if end - begin - 1 != sum(entry.content.count("\n") for entry in entries):
        return None  # a cheap no: another number of lines (content ends every line with \n)
    if "".join(lines[begin + 1:end]) != content:
        return None
    alone = all(_no_rule(line) for line in lines[:begin]) and all(_no_rule(line) for line in lines[end + 1:])
    return PlacedRules(entries, begin + 1, observed if alone else None)


def _no_rule(line: str) -> bool:
    """A comment or blank line as udev reads one (it strips only spaces and tabs before
    the '#'), never one ending in a backslash."""
    text = strip_ending(line).lstrip(" \t")
    return not text or (text[0] == "#" and not text.endswith("\\"))


# A physical line of UDEV_LINE_SIZE bytes or more stops udev's reading of the file; one
# of fewer characters than a quarter of that is short whatever its characters.
_SURELY_SHORT = UDEV_LINE_SIZE // 4


def _may_stop_reading(lines: list[str]) -> bool:
    """Whether one of these lines may be long enough for udev to stop reading the file
    there: only the whole file's parse then tells which rules it reads."""
    return any(len(line) >= _SURELY_SHORT for line in lines)


def check_block(policy: str, entries: Sequence[DesiredRules], observed: ObservedRulesFile) -> Finding:
    content = "".join(entry.content for entry in entries)
    count = sum(entry.summary.count for entry in entries)
    finding = Finding(policy, "rule", observed.path, f"{observed.path} block",
                      _entry_names(entries), "ok", False,
                      f"managed block present ({count} rules)")
    unusable = _unusable(observed)
    if unusable:
        finding.status, finding.message = unusable
        finding.drift = True
        return _apply_visibility(finding, observed)
    lines = split_keepends(observed.text)
    scan = scan_markers(lines, policy)
    if not observed.exists:
        finding.status, finding.message = "missing", "the rules file is missing"
    elif scan.intact:
        begin, end = scan.spans[0]
        # a continuation into the block, or a line that may stop udev's reading before its
        # end: only the whole file's parse says what udev reads of the block
        whole = open_continuation(lines[:begin]) or _may_stop_reading(lines[:end + 1])
        placed = None if whole else _placed(entries, observed, lines, begin, end, content)
        if placed is not None:
            finding.message = f"managed block at lines {begin + 1}-{end + 1} as the policy wants"
            finding.present_rules = placed
            return _apply_visibility(finding, observed)
        desired = tuple(rule for entry in entries for rule in entry.rules)
        inside = _rules_inside(observed, lines, begin, end, whole)
        if [r.canonical for r in inside] != [r.canonical for r in desired] or any(r.problem for r in inside):
            finding.status = "changed"
            finding.message = f"managed block at lines {begin + 1}-{end + 1} differs from the policy"
            finding.details.extend(_dropped_details(inside))
        else:
            finding.message = f"managed block at lines {begin + 1}-{end + 1} as the policy wants"
            finding.present_rules = tuple(inside)
    elif scan.absent:
        desired = tuple(rule for entry in entries for rule in entry.rules)
        run = unmarked_run(lines, observed.parsed, desired)
        if run:
            finding.status = "damaged"
            finding.message = (f"block markers missing: its rules stand unmarked at lines "
                               f"{run[0] + 1}-{run[1] + 1}")
        else:
            finding.status, finding.message = "missing", "managed block missing"
            # A missing block says enough; only the same rules in a form udev drops are
            # worth naming here (a close rule is what `lines` entries need).
            near = NearMisses(observed, fuzzy=False)
            for rule in desired:
                hint = near.hint(rule)
                if hint:
                    finding.details.append(hint)
    elif len(scan.spans) > 1 and not scan.lone_begins and not scan.lone_ends:
        starts = [begin + 1 for begin, _ in scan.spans]
        finding.status = "duplicated"
        finding.message = f"managed block found {len(starts)} times, at {_lines_text(starts)}"
    else:
        problems = [f"BEGIN at line {b + 1} has no END" for b in scan.lone_begins]
        problems += [f"END at line {e + 1} has no BEGIN" for e in scan.lone_ends]
        if scan.spans:
            problems.append(f"{len(scan.spans)} intact block(s) beside them")
        finding.status, finding.message = "damaged", "block markers damaged: " + "; ".join(problems)
    finding.drift = finding.status != "ok"
    if finding.drift:
        desired = tuple(rule for entry in entries for rule in entry.rules)
        _with_diff(finding, observed, ensure_block(policy, content, desired, observed.semantics))
    return _apply_visibility(finding, observed)


def check_owned_file(policy: str, entries: Sequence[DesiredRules], observed: ObservedRulesFile) -> Finding:
    content = "".join(entry.content for entry in entries)
    desired = tuple(rule for entry in entries for rule in entry.rules)
    finding = Finding(policy, "rule", observed.path, observed.path, _entry_names(entries),
                      "ok", False, f"file as the policy wants ({len(desired)} rules)")
    unusable = _unusable(observed)
    if unusable:
        finding.status, finding.message = unusable
    elif not observed.exists:
        finding.status, finding.message = "missing", "the rules file is missing"
    else:
        rules = observed.parsed.rules
        if [r.canonical for r in rules] != [r.canonical for r in desired] or any(r.problem for r in rules):
            finding.status, finding.message = "changed", "the file's rules differ from the policy"
            finding.details.extend(_dropped_details(rules))
        else:
            finding.present_rules = tuple(rules)
    finding.drift = finding.status != "ok"
    _with_diff(finding, observed, ensure_file(content, observed.semantics))
    return _apply_visibility(finding, observed)


def check_lines(entry: DesiredRules, observed: ObservedRulesFile) -> Finding:
    finding = Finding(entry.policy, "rule", observed.path, f"{observed.path} {entry.entry}",
                      entry.entry, "ok", False, f"all {len(entry.rules)} rules present")
    unusable = _unusable(observed)
    if unusable:
        finding.status, finding.message = unusable
    elif not observed.exists:
        finding.status, finding.message = "missing", "the rules file is missing"
    else:
        have: dict[str, Rule] = {}
        for rule in observed.rules_like(entry.rules):
            if not rule.problem:
                have.setdefault(rule.canonical, rule)
        missing = [rule for rule in entry.rules if rule.canonical not in have]
        finding.present_rules = tuple(have[r.canonical] for r in entry.rules if r.canonical in have)
        if missing:
            finding.status = "missing"
            finding.message = f"{len(missing)} of {len(entry.rules)} rules missing"
            near = NearMisses(observed)
            for rule in missing:
                hint = near.hint(rule)
                finding.details.append(f"missing: {rule.text.strip()}" + (f" ({hint})" if hint else ""))
    finding.drift = finding.status != "ok"
    _with_diff(finding, observed, ensure_lines(entry.content, entry.rules, observed.semantics))
    return _apply_visibility(finding, observed)


def check_absent(entry: DesiredRules, observed: ObservedRulesFile) -> Finding:
    finding = Finding(entry.policy, "rule", observed.path, f"{observed.path} {entry.entry}",
                      entry.entry, "ok", False, "none of the unwanted rules present")
    if observed.kind != "file" or observed.masked_by or observed.shadowed_by:
        # udev does not read this file: its rules cannot act, whatever it holds.
        if observed.kind != "missing":
            finding.message = "udev does not read this file, so its rules cannot act"
        return finding
    unwanted = {rule.canonical for rule in entry.rules}
    present = [r for r in observed.rules_like(entry.rules) if not r.problem and r.canonical in unwanted]
    if present:
        finding.status, finding.drift = "unexpected", True
        finding.message = (f"{len(present)} unwanted rule{'s' if len(present) > 1 else ''} "
                           f"present at {_lines_text([r.line for r in present])}")
        _with_diff(finding, observed, ensure_absent(entry.rules, observed.semantics))
    return finding


def check_policy_rules(policy: DesiredPolicy, files: RulesFiles) -> list[Finding]:
    """One finding per managed item: a block or owned file per file, else per entry."""
    grouped: dict[tuple[str, str], list[DesiredRules]] = {}
    order: list[tuple[str, str] | DesiredRules] = []
    for entry in policy.rules:
        if entry.ensure in ("block", "file"):
            key = (entry.ensure, entry.file)
            if key not in grouped:
                grouped[key] = []
                order.append(key)
            grouped[key].append(entry)
        else:
            order.append(entry)
    findings: list[Finding] = []
    for item in order:
        if isinstance(item, DesiredRules):
            observed = files.get(item.file)
            check = check_lines if item.ensure == "lines" else check_absent
            findings.append(check(item, observed))
        else:
            ensure, path = item
            check_group = check_block if ensure == "block" else check_owned_file
            findings.append(check_group(policy.name, grouped[item], files.get(path)))
    return findings
