"""The part of a rule set that can change a few answers: which links a device gets, and
whether some rules are reached and match.

A check asks small questions of a large rule set ("is xapi/block/sdb made?", "does the
block's rule at 50-udev.rules:31 run?"). A line can change their answers only by
adding, removing or resetting such a link, by jumping (GOTO) over a line that can, or by
writing something (a property, a tag, a PROGRAM result, an attribute) that such a line
reads; and so on, transitively. Every other line writes only what no kept line reads, so
dropping it changes no kept line's outcome: the sliced rule set gives the same answers
for these questions as the whole one, in a fraction of the time (a 20,000-rule file read
through a host tree's thin facts forks at most lines). Causes still look at the whole set
(`RuleSet.origin`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import replace
from fnmatch import fnmatchcase

from checker.evaluate.engine import (
    BUILTIN_SETS,
    HAS_DEVLINK,
    UPDATE_SOMETHING,
    Line,
    RuleSet,
    RulesFile,
    symlink_patterns,
)
from checker.evaluate.glob import Matcher, token_matches
from checker.evaluate.result import Where
from checker.evaluate.values import Tri
from checker.rules.canonical import normalize_substitutions

_ENV_NAMED = re.compile(r"%E\{([^}]*)\}")
ALL = "*"  # a read or write of every property


def _value_reads(value: str, into: set[str]) -> None:
    if "%" not in value and "$" not in value:
        return
    value = normalize_substitutions(value)
    for name in _ENV_NAMED.findall(value):
        into.add("prop:" + name)
    rest = _ENV_NAMED.sub("", value.replace("%%", ""))
    if "%E" in rest:
        into.add("prop:" + ALL)
    if "%c" in rest:
        into.add("result")
    if "%s" in rest:
        into.add("attrs")
    if "%L" in rest:
        into.add("links")
    if "%D" in rest:
        into.add("name")
    if "%b" in rest or "%d" in rest or "%s" in rest:  # the parent the last parent keys
        into.add("parent")  # matched (%s{attr} falls back to it)


_MATCH_READS = {"TAG": "tags", "TAGS": "tags", "RESULT": "result", "ATTR": "attrs",
                "ATTRS": "attrs", "TEST": "attrs", "SYMLINK": "links", "NAME": "name"}
_PARENT_KEYS = frozenset(("KERNELS", "SUBSYSTEMS", "DRIVERS", "ATTRS", "TAGS"))
_ASSIGN_WRITES = {"TAG": "tags", "SYMLINK": "links", "ATTR": "attrs", "NAME": "name"}
# properties sd-device makes from the links and tags: ENV{DEVLINKS}== reads the links
_ALSO_WRITES = {"SYMLINK": ("prop:DEVLINKS",), "TAG": ("prop:TAGS", "prop:CURRENT_TAGS")}


def _reads(line: Line) -> set[str]:
    """What the line reads of the state earlier lines leave: "prop:NAME" (NAME may be
    "*"), "tags", "result", "attrs", "links", "name", "parent"."""
    reads: set[str] = set()
    for m in line.matches:
        _value_reads(m.value, reads)
        if m.attr:
            _value_reads(m.attr, reads)
        if m.key == "ENV":
            reads.add("prop:" + (m.attr or ALL))
        elif m.key in _MATCH_READS:
            reads.add(_MATCH_READS[m.key])
    for m in line.assigns:
        _value_reads(m.value, reads)
        if m.key == "ENV" and m.op == "+=":
            reads.add("prop:" + (m.attr or ALL))
    return reads


def _writes(line: Line) -> frozenset[str]:
    """What the line may write, in the words of _reads (property names may be patterns)."""
    writes: set[str] = set()
    if any(m.key in _PARENT_KEYS for m in line.matches):
        writes.add("parent")
    if line.kind & UPDATE_SOMETHING:  # only such lines import or run a PROGRAM
        for m in line.matches:
            if m.key == "PROGRAM":
                writes.add("result")
            elif m.key == "IMPORT":
                writes.update("prop:" + p for p in _import_writes(m.attr, m.value))
    for m in line.assigns:
        if m.key == "ENV":
            writes.add("prop:" + (m.attr or ALL))
        elif m.key in _ASSIGN_WRITES:
            writes.add(_ASSIGN_WRITES[m.key])
            writes.update(_ALSO_WRITES.get(m.key, ()))
    return frozenset(writes)


def _import_writes(kind: str | None, value: str) -> tuple[str, ...]:
    if kind == "builtin":
        word = value.split()[0] if value.split() else ""
        builtin = next((b for b in BUILTIN_SETS if b.startswith(word)), word)
        return BUILTIN_SETS.get(builtin, (ALL,))
    if kind in ("db", "cmdline"):
        return (value or ALL,)
    return (ALL,)


def _writes_what(writes: frozenset[str], read: str) -> bool:
    """Does a line with `writes` write what `read` names?"""
    if not read.startswith("prop:"):
        return read in writes
    name = read[5:]
    for written in writes:
        if written.startswith("prop:"):
            pattern = written[5:]
            if name == ALL or pattern == ALL or fnmatchcase(name, pattern) or fnmatchcase(pattern, name):
                return True
    return False


class LinkNames:
    """Many link names, asked whether a SYMLINK pattern could name one of them: a plain
    name is a set lookup, a glob looks only at the names that share its literal start."""

    def __init__(self, links: Iterable[str]) -> None:
        self.names = sorted({link.removeprefix("/dev/") for link in links})
        self._set = frozenset(self.names)

    def __bool__(self) -> bool:
        return bool(self.names)

    def any_match(self, pattern: str) -> bool:
        cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=-1)
        if cut < 0:
            return pattern in self._set
        prefix = pattern[:cut]
        start = bisect_left(self.names, prefix)
        for name in self.names[start:]:
            if not name.startswith(prefix):
                break
            if fnmatchcase(name, pattern):
                return True
        return False


def _touches_links(line: Line, links: LinkNames, old: bool = False) -> bool:
    """Can the line change whether one of `links` is in the device's list?"""
    if not line.kind & HAS_DEVLINK:
        return False
    # with string_escape=none a substituted value may hold spaces: any links at all (and
    # in udev 219 without string_escape=replace, which puts substitutions in as they are)
    unescaped = any(m.key == "OPTIONS" and m.value == "string_escape=none" for m in line.assigns) or (
        old and not any(m.key == "OPTIONS" and m.value == "string_escape=replace" for m in line.assigns))
    for m in line.assigns:
        if m.key != "SYMLINK":
            continue
        if m.op in ("=", ":=") or (unescaped and "%" in m.value.replace("%%", "")):
            return True
        if any(links.any_match(pattern) for pattern in symlink_patterns(m.value)):
            return True
    return False


def slice_rules(rules: RuleSet, links: Iterable[str] = (), lines: Iterable[Where] = ()) -> RuleSet:
    """The lines of `rules` that can change whether the device gets one of `links`
    (relative to /dev) or whether the lines at `lines` are reached and match."""
    names = LinkNames(links)
    wanted = set(lines)
    # every line numbered across files: n = base[f] + index in file f
    base: list[int] = []
    flat: list[Line] = []
    for rules_file in rules.files:
        base.append(len(flat))
        flat.extend(rules_file.lines)
    file_of: list[int] = []
    for f, rules_file in enumerate(rules.files):
        file_of.extend([f] * len(rules_file.lines))
    gotos: dict[int, list[tuple[int, int]]] = {}  # file -> (line index, landing index)
    for f, rules_file in enumerate(rules.files):
        for i, line in enumerate(rules_file.lines):
            if line.goto is not None:
                gotos.setdefault(f, []).append((i, line.goto))
    writes: list[frozenset[str] | None] = [None] * len(flat)  # computed when asked
    kept = [False] * len(flat)
    todo: list[int] = []

    def keep(n: int) -> None:
        if not kept[n]:
            kept[n] = True
            todo.append(n)

    for n, line in enumerate(flat):
        if line.where in wanted or (names and _touches_links(line, names, rules.semantics.is_219)):
            keep(n)
    # reads not yet served: each read is looked for once, among all earlier writers
    served: dict[str, int] = {}  # read -> the latest line index whose earlier writers are kept
    while todo:
        n = todo.pop()
        line = flat[n]
        f = file_of[n]
        i = n - base[f]
        if line.goto is not None:  # the line it lands on runs in its place
            keep(base[f] + line.goto)
        for g, landing in gotos.get(f, ()):  # GOTOs of its file that can jump over it
            if g < i < landing:
                keep(base[f] + g)
        for read in _reads(line):
            start = served.get(read, 0)
            if start >= n:
                continue
            for w in range(start, n):
                if kept[w]:
                    continue
                written = writes[w]
                if written is None:
                    written = writes[w] = _writes(flat[w])
                if written and _writes_what(written, read):
                    keep(w)
            served[read] = n
    files: list[RulesFile] = []
    for f, rules_file in enumerate(rules.files):
        chosen = [i for i in range(len(rules_file.lines)) if kept[base[f] + i]]
        if not chosen:
            continue
        renumber = {old: new for new, old in enumerate(chosen)}
        new_lines = []
        for i in chosen:
            line = rules_file.lines[i]
            if line.goto is not None:
                line = replace(line, goto=renumber[line.goto])
            new_lines.append(line)
        files.append(RulesFile(rules_file.path, tuple(new_lines)))
    return RuleSet(tuple(files), origin=rules.origin or rules, semantics=rules.semantics)


class LinkMakers:
    """The lines that can add a link, indexed by the first part of the names they make:
    'can any line give the device `kernel` the link `link`?' is then a few lookups. No
    such line means the device surely does not get the link at an "add", whatever the
    rest of the rule set does."""

    def __init__(self, rules: RuleSet) -> None:
        self._by_top: dict[str, list[tuple[tuple[str, ...], tuple[tuple[str, Matcher], ...]]]] = {}
        for rules_file in (rules.origin or rules).files:
            for line in rules_file.lines:
                if line.kind & HAS_DEVLINK:
                    self._index(line)

    def _index(self, line: Line) -> None:
        unescaped = any(m.key == "OPTIONS" and m.value == "string_escape=none" for m in line.assigns)
        patterns: list[str] = []
        for m in line.assigns:
            if m.key == "SYMLINK" and m.op != "-=":
                if unescaped and "%" in m.value.replace("%%", ""):
                    patterns.append("*")
                else:
                    patterns.extend(symlink_patterns(m.value))
        if not patterns:
            return
        kernel = tuple((m.op, Matcher.of(m.value)) for m in line.matches if m.key == "KERNEL")
        for pattern in patterns:
            top = pattern.split("/", 1)[0]
            key = "" if any(c in top for c in "*?[") else top
            self._by_top.setdefault(key, []).append(((pattern,), kernel))

    def could_give(self, kernel: str, link: str) -> bool:
        link = link.removeprefix("/dev/")
        top = link.split("/", 1)[0]
        for key in {top, ""}:
            for patterns, tokens in self._by_top.get(key, ()):
                if not any(fnmatchcase(link, p) for p in patterns):
                    continue
                if all(_kernel_may_match(op, matcher, kernel) for op, matcher in tokens):
                    return True
        return False


def _kernel_may_match(op: str, matcher: Matcher, kernel: str) -> bool:
    return token_matches(op, matcher.matches(kernel)) is not Tri.NO
