"""A host's rules files -> the entries of the policy that protects what they hold now.

For each file: the rules the admin added to a vendor file become one `block` entry when
they stand together (the first repair then only puts markers around them), `lines`
entries when they stand in several places (a block would move them together); a file
that is the admin's own becomes a `file` entry. Vendor rules the admin deleted or changed
are reported, and with `include_removals` become `absent` (the vendor's version) and
`lines` (the admin's version) entries. Nothing here writes anything.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Mapping, Sequence

from checker.adopt.additions import compare, runs
from checker.adopt.entries import AdoptedRules, Adoption
from checker.adopt.links import adopt_links, links_of
from checker.adopt.portable import PolicyLines, policy_lines
from checker.adopt.pristine import find_pristine, read_in_root
from checker.adopt.render import Fitter
from checker.adopt.template import Piece, fold
from checker.check.every_event import every_event_rules
from checker.edits.blocks import lines_inside_blocks
from checker.errors import UsageError
from checker.host import Host
from checker.observe.udev import UdevState
from checker.paths import ADMIN_RULES_DIRS, UDEV_RULES_DIRS
from checker.policy.desired import DesiredPolicy
from checker.records import dataclass, field, replace
from checker.rules.model import Rule, RulesText
from checker.rules.parsed import parse_rules
from checker.rules.semantics import DEFAULT, UdevSemantics
from checker.rules.textlines import split_keepends
from checker.safe_files.confined import lstat_in, readlink_in
from checker.safe_files.safe_open import UnusableFile


@dataclass(frozen=True)
class Managed:
    """What the host's policies protect already: adopting it again would only contradict them."""

    owned: Mapping[str, str] = field(default_factory=dict)  # file -> the policy owning it whole
    present: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (file, canonical) -> policy
    links: Mapping[str, str] = field(default_factory=dict)  # link -> the policy that declares it

    @classmethod
    def of(cls, policies: Sequence[DesiredPolicy]) -> Managed:
        owned: dict[str, str] = {}
        present: dict[tuple[str, str], str] = {}
        links = {link.link: policy.name for policy in policies for link in policy.symlinks}
        for policy in policies:
            for entry in policy.rules:
                if entry.ensure == "file":
                    owned.setdefault(entry.file, policy.name)
                if entry.ensure != "absent":
                    for rule in entry.rules:
                        present.setdefault((entry.file, rule.canonical), policy.name)
        return cls(owned, present, links)


def default_files(host: Host) -> list[str]:
    """Every *.rules file in /etc/udev/rules.d and /run/udev/rules.d, sorted."""
    found = []
    for directory in ADMIN_RULES_DIRS:
        try:
            # Listed where the files are read: inside the root, links followed as in a chroot.
            names = os.listdir(host.path(host.resolve(directory) or directory))
        except OSError:
            continue
        found += [f"{directory}/{name}" for name in names if name.endswith(".rules")]
    return sorted(found)


def check_named(path: str) -> str:
    """A rules file named on the command line, as a host path; a usage error otherwise."""
    normal = os.path.normpath(path)
    in_rules_dir = normal.startswith("/") and os.path.dirname(normal) in UDEV_RULES_DIRS
    if not in_rules_dir or not normal.endswith(".rules"):
        raise UsageError(f"{path}: expected a *.rules file in one of udev's rules directories "
                         f"({', '.join(UDEV_RULES_DIRS)})")
    return normal


def _lines_text(lines: Sequence[str], rule: Rule) -> str:
    text = "".join(lines[rule.line - 1:rule.end_line])
    return text if text.endswith(("\n", "\r")) else text + "\n"


def _adoptable(rule: Rule, path: str, notes: list[str], refused: Mapping[int, str] | None = None) -> bool:
    if rule.problem:
        notes.append(f"{path}:{rule.line}: udev drops this rule ({rule.problem}): not adopted")
        return False
    if refused and rule.line in refused:
        notes.append(f"{path}:{rule.line}: {refused[rule.line]}: not adopted")
        return False
    if "{{" in rule.text or "}}" in rule.text:
        notes.append(f"{path}:{rule.line}: {PLACEHOLDER_NOTE}: not adopted")
        return False
    return True


def _placeholder_line(lines: Sequence[str], start: int, stop: int) -> int | None:
    """The first line (1-based) of lines[start:stop] holding '{{' or '}}': in a policy's
    content that is a placeholder (or an error), even in a comment."""
    for index in range(start, stop):
        if "{{" in lines[index] or "}}" in lines[index]:
            return index + 1
    return None


PLACEHOLDER_NOTE = "holds '{{' or '}}', which a policy cannot carry"


def _own_file(path: str, written: PolicyLines, parsed: RulesText, source: str,
              notes: list[str]) -> list[AdoptedRules]:
    lines = written.lines
    if not parsed.rules:
        notes.append(f"{path}: holds no rule: nothing to adopt")
        return []
    if lines_inside_blocks(lines):
        notes.append(f"{path}: already holds a udev-drift block: not adopted as a whole file")
        return []
    if not all(_adoptable(rule, path, notes, written.refused) for rule in parsed.rules):
        notes.append(f"{path}: not adopted as a whole file (a policy would refuse the rules above)")
        return []
    at = _placeholder_line(lines, 0, len(lines))
    if at is not None:
        notes.append(f"{path}:{at}: {PLACEHOLDER_NOTE}: not adopted as a whole file")
        return []
    first, last = parsed.rules[0].line - 1, parsed.rules[-1].end_line
    folded = fold(lines, parsed.rules)
    if folded.items is None:
        pieces = [Piece("".join(lines))]
    else:  # the header and the tail as they are, around the template
        pieces = [Piece("".join(lines[:first]))] if first else []
        pieces.append(folded)
        if last < len(lines):
            pieces.append(Piece("".join(lines[last:])))
    comment = (f"{path}: {source}.",
               f"The policy owns the whole file ({len(parsed.rules)} rules).")
    return [AdoptedRules(path, "file", piece, comment if number == 0 else ())
            for number, piece in enumerate(pieces)]


def _removals(path: str, pristine_text: str, written: PolicyLines, parsed: RulesText, deleted: Sequence[Rule],
              changed: Sequence[tuple[Rule, Rule]], include: bool, notes: list[str]) -> list[AdoptedRules]:
    for rule in deleted:
        notes.append(f"{path}: a vendor rule is gone (line {rule.line} of the pristine copy): "
                     f"{rule.text.strip()}")
    for was, now in changed:
        notes.append(f"{path}:{now.line}: changes the vendor rule {was.text.strip()!r}")
    if not include:
        return []
    present = {rule.canonical for rule in parsed.rules}
    gone = [rule for rule in [*deleted, *(was for was, _ in changed)]
            if rule.canonical not in present and _adoptable(rule, path, notes)]
    gone.sort(key=lambda rule: rule.line)
    kept = [now for _, now in changed if _adoptable(now, path, notes, written.refused)]
    entries = []
    if gone:
        old_lines = split_keepends(pristine_text)
        entries.append(AdoptedRules(path, "absent", Piece("".join(_lines_text(old_lines, r) for r in gone)),
                                    ("Vendor rules the admin deleted or changed: kept out.",)))
    if kept:
        text = "".join(_lines_text(written.lines, rule) for rule in kept)
        entries.append(AdoptedRules(path, "lines", Piece(text),
                                    ("The admin's own versions of vendor rules: kept in.",)))
    return entries


def _not_managed(rule: Rule, path: str, managed: Managed, notes: list[str]) -> bool:
    policy = managed.present.get((path, rule.canonical))
    if policy is not None:
        notes.append(f"{path}:{rule.line}: the policy {policy} protects this rule already")
    return policy is None


def _edited_vendor_file(path: str, written: PolicyLines, parsed: RulesText, pristine_text: str, source: str,
                        include_removals: bool, managed: Managed, semantics: UdevSemantics,
                        notes: list[str]) -> tuple[list[AdoptedRules], list[Rule]]:
    lines = written.lines
    changes = compare(parse_rules(pristine_text, semantics), parsed, lines_inside_blocks(lines))
    added = tuple(rule for rule in changes.added if _adoptable(rule, path, notes, written.refused)
                  and _not_managed(rule, path, managed, notes))
    entries: list[AdoptedRules] = []
    groups = []
    for group in runs(added, parsed):
        at = _placeholder_line(lines, group[0].line - 1, group[-1].end_line)
        if at is None:
            groups.append(group)
        else:
            notes.append(f"{path}:{at}: {PLACEHOLDER_NOTE}: the {len(group)} added rules at lines "
                         f"{group[0].line}-{group[-1].end_line} are not adopted")
    added = tuple(rule for group in groups for rule in group)
    if len(groups) == 1:
        entries.append(AdoptedRules(path, "block", fold(lines, groups[0]), (
            f"{path}: {len(added)} rules the admin added, at lines "
            f"{groups[0][0].line}-{groups[0][-1].end_line}",
            f"(compared with {source}).",
            "The first repair puts markers around them and moves nothing.")))
    elif groups:
        notes.append(f"{path}: the added rules stand in {len(groups)} places: adopted as `lines` "
                     f"entries (a block would move them together)")
        for number, group in enumerate(groups):
            comment = (f"{path}: {len(added)} rules the admin added, in {len(groups)} places",
                       f"(compared with {source}).",
                       "Each must be present somewhere in the file.") if number == 0 else ()
            entries.append(AdoptedRules(path, "lines", fold(lines, group), comment))
    entries += _removals(path, pristine_text, written, parsed, changes.deleted, changes.changed,
                         include_removals, notes)
    return entries, list(added)


def _said_add_only(entries: list[AdoptedRules], adopted: Sequence[Rule]) -> list[AdoptedRules]:
    """Adopted as they are; the policy's comment says when check will report their links
    (made at add only, removed by the next change event)."""
    lines = [rule.line for rule in adopted if every_event_rules(rule) is not None]
    if not entries or not lines:
        return entries
    said = ", ".join(str(n) for n in lines[:6]) + (" ..." if len(lines) > 6 else "")
    note = (f"Line{'s' if len(lines) > 1 else ''} {said} make{'' if len(lines) > 1 else 's'} a link with "
            'ACTION=="add" only: the next change event',
            'removes it, so check reports the link not-made until the rule reads ACTION!="remove".')
    return [replace(entries[0], comment=(*entries[0].comment, *note)), *entries[1:]]


def _rules_text(host: Host, path: str, notes: list[str]) -> str | None:
    """The text of the rules file, read inside the root (pristine.read_in_root), or None
    with a note saying why it is not adopted."""
    try:
        return read_in_root(host, path)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{path}: no such file") from None
    except UnusableFile as error:
        st = lstat_in(host.root, path)
        if st is not None and stat_module.S_ISLNK(st.st_mode):
            notes.append(f"{path}: a link (to {readlink_in(host.root, path)}), not a file: not adopted")
        elif st is not None and not stat_module.S_ISREG(st.st_mode):
            notes.append(f"{path}: not a regular file: not adopted")
        else:
            notes.append(f"{path}: {error}: not adopted")
    except OSError as error:
        notes.append(f"{path}: cannot read ({error.strerror or error}): not adopted")
    return None


def adopt(host: Host, paths: Sequence[str], vendor_files: Mapping[str, str],
          include_removals: bool, udev: UdevState | None, managed: Managed = Managed(),
          semantics: UdevSemantics = DEFAULT) -> Adoption:
    """The adopted policy's entries for the rules files at `paths` (host paths, sorted),
    leaving out what the host's policies (`managed`) protect already. The files are read
    as the host's udev (`semantics`) reads them; what the policy holds is read alike by
    that udev and by the policy loader (checker.adopt.portable)."""
    adoption = Adoption(semantics=semantics)
    notes = adoption.notes
    found: list[tuple[str, list[AdoptedRules], list[Rule]]] = []
    for path in sorted(set(paths)):
        if path in managed.owned:
            notes.append(f"{path}: the policy {managed.owned[path]} owns it whole already")
            continue
        text = _rules_text(host, path, notes)
        if text is None:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            notes.append(f"{path}: not valid UTF-8 text: not adopted")
            continue
        parsed = parse_rules(text, semantics)
        pristine = find_pristine(host, path, text, vendor_files, notes, semantics)
        if pristine.text is None and pristine.owner is not None:
            notes.append(f"{path}: {pristine.source}: not adopted")
            continue
        if pristine.text is None:
            kept = [rule for rule in parsed.rules if (path, rule.canonical) in managed.present]
            if kept:
                notes.append(f"{path}: the policy {managed.present[(path, kept[0].canonical)]} protects "
                             f"{len(kept)} of its rules already: not adopted as a whole file")
                continue
            written = policy_lines(split_keepends(text), parsed.rules, semantics)
            entries = _own_file(path, written, parsed, pristine.source, notes)
            adopted = list(parsed.rules) if entries else []
        else:
            written = policy_lines(split_keepends(text), parsed.rules, semantics)
            entries, adopted = _edited_vendor_file(path, written, parsed, pristine.text, pristine.source,
                                                   include_removals, managed, semantics, notes)
            if not entries:
                notes.append(f"{path}: nothing added to {pristine.source}")
        notes.extend(f"{path}:{line}: {said}: the policy holds the rule udev {semantics.version} reads"
                     for line, said in written.rewritten.items()
                     if any(rule.line == line for rule in adopted))
        found.append((path, _said_add_only(entries, adopted), adopted))
    # One policy holds only so much, and the validator has the last word on each file:
    # what cannot go in is named and left out, and the other files are adopted all the same.
    fitter = Fitter(notes, semantics)
    fitting = fitter.files([(path, entries) for path, entries, _ in found])
    link_pairs: list[tuple[str, str]] = []
    for path, entries, adopted in found:
        if path not in fitting:
            continue
        adoption.rules.extend(entries)
        unknown: list[str] = []
        for rule in adopted:
            link_pairs.extend(links_of(rule, unknown))
        if unknown:
            shown = ", ".join(dict.fromkeys(unknown[:6])) + (" ..." if len(unknown) > 6 else "")
            notes.append(f"{path}: links of {len(unknown)} adopted rules name no single disk by "
                         f"KERNEL== or depend on the event, and are not adopted ({shown})")
    for link in sorted({link for link, _ in link_pairs if link in managed.links}):
        notes.append(f"{link}: the policy {managed.links[link]} checks this link already")
    unchecked = [pair for pair in link_pairs if pair[0] not in managed.links]
    adoption.links = fitter.links(adopt_links(unchecked, host, udev, notes))
    return adoption
