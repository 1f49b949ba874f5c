"""The rule set compiled once for many evaluations: each rule's tokens in udev's order, the
kinds of work its line can do (udev-rules.c's mask) and where its GOTO lands; and what the
whole set can name or set (link templates, property writers), for causes and slices.

Below the engine so that an Evaluation can hold its RuleSet without importing the engine.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Sequence

from checker.evaluate.link_names import as_written, escape_of
from checker.evaluate.substitute import UDEV_PATH_SIZE, Piece, byte_length, to_text
from checker.evaluate.trace import Where
from checker.evaluate.truncate219 import cut_word
from checker.evaluate.values import Text, Unknown
from checker.records import dataclass, field
from checker.rules.canonical import RANK, RANK_GOTO, RANK_LABEL, Meaning, effective_meanings, interpret
from checker.rules.model import Rule, RulesText
from checker.rules.parser import effective_meanings_of, parse_rules
from checker.rules.parser219 import meanings_219
from checker.rules.semantics import DEFAULT, UdevSemantics

A_MIN = RANK["A_OPTIONS_STRING_ESCAPE_NONE"]
_DEVLINK_KIND = frozenset(RANK[n] for n in ("A_DEVLINK", "A_OWNER", "A_GROUP", "A_MODE",
                                            "A_OWNER_ID", "A_GROUP_ID", "A_MODE_ID"))
UPDATE_MATCHES = frozenset(RANK[n] for n in (
    "M_PROGRAM", "M_IMPORT_FILE", "M_IMPORT_PROGRAM", "M_IMPORT_BUILTIN", "M_IMPORT_DB",
    "M_IMPORT_CMDLINE", "M_IMPORT_PARENT"))

HAS_GOTO, UPDATE_SOMETHING, HAS_DEVLINK, HAS_NAME, HAS_STATIC_NODE = 1, 2, 4, 8, 16
CAN_SET_NAME = 32  # udev 219: the rule is skipped whole where the event cannot set names

# What each builtin may set (udev-builtin-*.c); "*" where it could be anything (hwdb).
BUILTIN_SETS: dict[str, tuple[str, ...]] = {
    "blkid": ("ID_FS_*", "ID_PART_*"), "btrfs": ("ID_BTRFS_READY",), "hwdb": ("*",),
    "input_id": ("ID_INPUT*",), "keyboard": (), "kmod": (), "net_id": ("ID_NET_*",),
    "net_setup_link": ("*",), "path_id": ("ID_PATH*",), "usb_id": ("ID_*",), "uaccess": (),
}  # fmt: skip


@dataclass(frozen=True, slots=True)  # 50,000 lines: no dict each
class Line:
    """One rule as udev keeps it: its tokens in udev's order, and where its GOTO lands."""

    where: Where
    matches: tuple[Meaning, ...]
    assigns: tuple[Meaning, ...]
    kind: int  # HAS_GOTO | UPDATE_SOMETHING | ...
    goto: int | None  # index of the LABEL's line in the file
    label: str | None
    goto_label: str | None


@dataclass(frozen=True)
class RulesFile:
    path: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class RuleSet:
    """The rules files udev reads, in its order, compiled once for many evaluations."""

    files: tuple[RulesFile, ...]
    # a slice (checker.evaluate.slice) keeps the whole set it was cut from, for causes
    origin: RuleSet | None = field(default=None, compare=False, repr=False)
    # whose udev applies them (checker.rules.semantics): 252, or 219 (differences below)
    semantics: UdevSemantics = DEFAULT

    @staticmethod
    def from_texts(files: Iterable[tuple[str, str]], semantics: UdevSemantics = DEFAULT) -> RuleSet:
        return RuleSet.from_parsed(((path, parse_rules(text, semantics)) for path, text in files), semantics)

    @staticmethod
    def from_parsed(files: Iterable[tuple[str, RulesText]], semantics: UdevSemantics = DEFAULT) -> RuleSet:
        """The files must have been parsed with the same semantics."""
        # Compiling makes a few objects per token and no reference cycles: the cyclic
        # collector, run again and again over them, took two thirds of the time of a
        # 20,000-rule set. It is paused only here.
        paused = gc.isenabled()
        gc.disable()
        try:
            return RuleSet(tuple(_compile(path, parsed.rules, semantics) for path, parsed in files),
                           semantics=semantics)
        finally:
            if paused:
                gc.enable()

    def __len__(self) -> int:
        return sum(len(f.lines) for f in self.files)

    def symlink_templates(self) -> dict[Where, list[str]]:
        return symlink_templates(self.origin or self)

    def property_writers(self) -> list[tuple[Where, str, bool]]:
        return property_writers(self.origin or self)


def _kept_despite_problem(rule: Rule) -> bool:
    """A GOTO without a LABEL after it: udev ignores the GOTO and keeps the rest (the parser
    says so in a warning, or, when nothing else is left of the rule, in its problem)."""
    problem = rule.problem or ""
    if problem.startswith('GOTO="') and ("has no LABEL" in problem or "never links its GOTOs" in problem):
        return True
    return any("has no LABEL" in warning for warning in rule.warnings)


def _compile(path: str, rules: Sequence[Rule], semantics: UdevSemantics = DEFAULT) -> RulesFile:
    lines: list[Line] = []
    old = semantics.is_219
    for rule in rules:
        lost_goto = _kept_despite_problem(rule)
        if rule.problem is not None and not lost_goto:
            continue
        if old:
            meanings: Sequence[Meaning] = effective_meanings(meanings_219(rule.tokens))
        else:  # the parser's, when it still has them: as interpreting the tokens gives them
            meanings = effective_meanings_of(rule) or effective_meanings(
                interpret(t.key, t.attr, t.op, t.value) for t in rule.tokens)
        label = goto = None
        matches: list[Meaning] = []
        assigns: list[Meaning] = []
        kind = 0
        for m in meanings:
            if m.rank == RANK_LABEL:
                label = m.value
            elif m.rank == RANK_GOTO:
                goto = None if lost_goto else m.value
            elif m.rank < A_MIN:
                matches.append(m)
                if m.rank in UPDATE_MATCHES:
                    kind |= UPDATE_SOMETHING
            else:
                assigns.append(m)
                if m.rank == RANK["A_NAME"]:
                    kind |= HAS_NAME
                elif m.rank in _DEVLINK_KIND:
                    kind |= HAS_DEVLINK
                elif m.rank == RANK["A_OPTIONS_STATIC_NODE"]:
                    kind |= HAS_STATIC_NODE
                else:
                    kind |= UPDATE_SOMETHING
        if goto is not None:
            kind |= HAS_GOTO
        if old:
            kind = _kind_219(meanings, kind)
        lines.append(Line(Where(path, rule.end_line), tuple(matches), tuple(assigns), kind,
                          None, label, goto))
    # rule_resolve_goto(): the first later line with that LABEL
    resolved: list[Line] = []
    for index, line in enumerate(lines):
        if line.goto_label is None:
            resolved.append(line)
            continue
        target = next((j for j in range(index + 1, len(lines)) if lines[j].label == line.goto_label), None)
        if target is None:  # the parser checked; keep udev's behaviour: ignore the GOTO
            resolved.append(Line(line.where, line.matches, line.assigns, line.kind & ~HAS_GOTO,
                                 None, line.label, None))
        else:
            resolved.append(Line(line.where, line.matches, line.assigns, line.kind, target,
                                 line.label, line.goto_label))
    return RulesFile(path, tuple(resolved))


def _kind_219(meanings: Sequence[Meaning], kind: int) -> int:
    """udev 219 has no mask of what a line may do: every rule runs (UPDATE_SOMETHING is
    in every mask), except that a rule with NAME, SYMLINK (matches included), OWNER, GROUP
    or MODE is skipped whole, GOTO and all, when the event cannot set names (a remove, or
    a device with no node or interface: udev_rules_apply_to_event()'s can_set_name)."""
    if any(m.key in ("NAME", "SYMLINK", "OWNER", "GROUP", "MODE") for m in meanings):
        kind |= CAN_SET_NAME
    return kind | UPDATE_SOMETHING


def symlink_templates(rules: RuleSet) -> dict[Where, list[str]]:
    """For each line, patterns of the links its SYMLINK assignments could name."""
    found: dict[Where, list[str]] = {}
    for rules_file in rules.files:
        for line in rules_file.lines:
            esc = line_escape(line)
            for m in line.assigns:
                if m.key == "SYMLINK":
                    found.setdefault(line.where, []).extend(symlink_patterns(m.value, esc))
    return found


def line_escape(line: Line) -> str:
    """The line's string_escape (checker.evaluate.link_names.escape_of)."""
    return escape_of(m.value for m in line.assigns if m.key == "OPTIONS")


def symlink_patterns(template: str, esc: str = "unset", kernel: str | None = None) -> list[str]:
    """fnmatch patterns of the links a SYMLINK value (substitutions normalized) can name,
    as udev writes them (link_names.as_written, the evaluator's own step): a substitution
    may be anything, also empty (then "a/%E{X}/b" names a/b); %k is `kernel` when given."""
    pieces: list[Piece] = []
    at = 0
    for found in _SUBSTITUTION.finditer(template):
        pieces.append(template[at:found.start()])
        word = found.group(0)
        if word in ("%%", "$$"):
            pieces.append(word[0])
        elif word == "%k" and kernel is not None:
            pieces.append(kernel)
        else:
            pieces.append(Unknown("*", "a substitution"))
        at = found.end()
    pieces.append(template[at:])
    names, patterns, endless = split_links(as_written([p for p in pieces if p != ""], esc), esc == "none")
    return names + patterns + (["*"] if endless else [])  # the event never ends: any link


def value_link_patterns(value: str, esc: str) -> tuple[str, ...]:
    """symlink_patterns() of a SYMLINK value as compiled (its substitutions normalized)
    under the line's string_escape, each pair once: the slices, the link makers and the
    claimers ask it of the same values in one run."""
    found = _LINK_PATTERNS.get((value, esc))
    if found is None:
        if len(_LINK_PATTERNS) >= _LINK_PATTERNS_KEPT:
            _LINK_PATTERNS.clear()
        found = _LINK_PATTERNS[(value, esc)] = tuple(symlink_patterns(value, esc))
    return found


_LINK_PATTERNS: dict[tuple[str, str], tuple[str, ...]] = {}
_LINK_PATTERNS_KEPT = 65536


def widen_empty(pattern: str) -> str:
    """A "*" standing for a substitution may be empty, and udev then drops the slash it
    leaves ("a/*/b" also names "a/b")."""
    if "*/" not in pattern:
        return pattern
    pattern = pattern.replace("/*/", "*/")
    return "*" + pattern[2:] if pattern.startswith("*/") else pattern


_SUBSTITUTION = re.compile(r"%%|\$\$|%[a-zA-Z](\{[^}]*\})?")


def property_writers(rules: RuleSet) -> list[tuple[Where, str, bool]]:
    """Every line in udev's order with the properties it may set: (where, name pattern,
    explicit); explicit for ENV{X}=, not for an import. Lines that set nothing are listed
    with an empty pattern so that callers know the order."""
    found: list[tuple[Where, str, bool]] = []
    for rules_file in rules.files:
        for line in rules_file.lines:
            found.append((line.where, "", False))
            for m in line.assigns:
                if m.key == "ENV":
                    found.append((line.where, m.attr or "", True))
            for m in line.matches:
                if m.key == "IMPORT":
                    if m.attr == "builtin":
                        name = m.value.split()[0] if m.value.split() else ""
                        builtin = next((b for b in BUILTIN_SETS if b.startswith(name)), name)
                        patterns = BUILTIN_SETS.get(builtin, ("*",))
                    elif m.attr in ("db", "cmdline", "parent"):
                        patterns = (m.value,)
                    else:
                        patterns = ("*",)
                    found.extend((line.where, p, False) for p in patterns)
    return found


def split_links(pieces: list[Piece], unknown_may_split: bool,
                 old: bool = False) -> tuple[list[str], list[str], bool]:
    """The links a SYMLINK value names: split at spaces (skip_leading_chars() first); and
    whether a known one is too long for udev's filename[UDEV_PATH_SIZE] with "/dev/"
    (udev 219 cuts it to fit instead: truncate219.cut_word())."""
    if all(isinstance(piece, str) for piece in pieces):  # known in full: plain strings
        return _split_known(pieces, old)  # type: ignore[arg-type]
    words: list[list[Piece]] = [[]]
    for piece in pieces:
        if isinstance(piece, Unknown):
            words[-1].append(piece)
            continue
        parts = piece.split(" ")
        words[-1].append(parts[0])
        for part in parts[1:]:
            words.append([part])
    names: list[str] = []
    patterns: list[str] = []
    endless = False
    for word in words:
        text: Text = to_text([p.lstrip(" \t\n\r") if isinstance(p, str) and i == 0 else p
                              for i, p in enumerate(word)])
        if isinstance(text, str):
            endless = _add_word(text, old, names) or endless
        else:
            patterns.append("*" if unknown_may_split else widen_empty(simplify_link(text.pattern)))
    return names, patterns, endless


def _split_known(pieces: list[str], old: bool) -> tuple[list[str], list[str], bool]:
    """split_links() of a value known in full, word by word as it splits them: a word's
    first piece loses its leading whitespace."""
    if len(pieces) == 1:
        texts = [word.lstrip(" \t\n\r") for word in pieces[0].split(" ")]
    else:
        words: list[list[str]] = [[]]
        for piece in pieces:
            parts = piece.split(" ")
            words[-1].append(parts[0])
            for part in parts[1:]:
                words.append([part])
        texts = [word[0].lstrip(" \t\n\r") + "".join(word[1:]) if word else "" for word in words]
    names: list[str] = []
    endless = False
    for word in texts:
        endless = _add_word(word, old, names) or endless
    return names, [], endless


def _add_word(word: str, old: bool, names: list[str]) -> bool:
    """Adds the link a known SYMLINK word names (udev 219 cuts it first) to `names`; True
    when it is too long for a path, so that udev never ends the event on it."""
    if old:
        word = cut_word(word)
    if len("/dev/") + byte_length(word) >= UDEV_PATH_SIZE:
        return True
    if word:
        names.append(simplify_link(word))
    return False


def simplify_link(name: str) -> str:
    """The link udev makes for a SYMLINK word: /dev/ joined to it and simplified (path_simplify():
    repeated and leading slashes and "." parts go). A name ending in "/" is kept as written:
    udev makes no link for it."""
    if name.endswith("/") or ("//" not in name and not name.startswith("/") and "." not in name):
        return name
    return "/".join(part for part in name.split("/") if part not in ("", "."))
