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
from fnmatch import fnmatchcase

from checker.evaluate.glob import Matcher, fnmatch, token_matches
from checker.evaluate.priority import spelled_places
from checker.evaluate.ruleset import (
    BUILTIN_SETS,
    HAS_DEVLINK,
    UPDATE_SOMETHING,
    Line,
    RuleSet,
    RulesFile,
    line_escape,
    value_link_patterns,
)
from checker.evaluate.trace import Where
from checker.evaluate.values import Tri
from checker.records import replace
from checker.rules.canonical import normalize_substitutions

_ENV_NAMED = re.compile(r"%E\{([^}]*)\}")
ALL = "*"  # a read or write of every property


def _value_reads(value: str, into: set[str]) -> None:
    if "%" not in value and "$" not in value:
        return
    found = _VALUE_READS.get(value)
    if found is None:
        reads: set[str] = set()
        _substitution_reads(value, reads)
        if len(_VALUE_READS) >= _KEPT:
            _VALUE_READS.clear()
        found = _VALUE_READS[value] = frozenset(reads)
    into.update(found)


# What a value reads depends on its text alone, and the same values come back in every
# slice of a run (one per event) and on every disk's rules ("xapi/block/%k"): each is read
# once (normalising its substitutions was a tenth of a 10,000-disk evaluation).
_VALUE_READS: dict[str, frozenset[str]] = {}
_KEPT = 65536


def _substitution_reads(value: str, into: set[str]) -> None:
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
    """Many link names, asked whether a SYMLINK pattern could name one of them, or a name
    that decides whether udev can create one (a directory of it, or a name under it:
    priority.directory_clash): a plain name is a set lookup, a glob looks only at the
    names that share its literal start."""

    def __init__(self, links: Iterable[str]) -> None:
        self.names = sorted({link.removeprefix("/dev/") for link in links})
        self._set = frozenset(self.names)
        self._parents = frozenset(name[:i] for name in self.names for i, c in enumerate(name) if c == "/")
        self._answers: dict[str, bool] = {}  # every disk's "xapi/block/*" asks the same

    def __bool__(self) -> bool:
        return bool(self.names)

    def any_match(self, pattern: str) -> bool:
        found = self._answers.get(pattern)
        if found is None:
            found = self._answers[pattern] = self._any_match(pattern)
        return found

    def _any_match(self, pattern: str) -> bool:
        if self._names(pattern):
            return True
        if any(self._names(place) for place in spelled_places(pattern)):
            return True  # another spelling of one of ours, which udev lists but does not create
        parts = pattern.split("/")  # a name under one of ours, or one of their directories
        if any(self._names("/".join(parts[:depth])) for depth in range(1, len(parts))):
            return True
        if not any(c in pattern for c in "*?["):
            return pattern in self._parents
        depth = pattern.count("/")
        return any(parent.count("/") == depth and fnmatchcase(parent, pattern) for parent in self._parents)

    def _names(self, pattern: str) -> bool:
        cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=-1)
        if cut < 0:
            return pattern in self._set
        prefix = pattern[:cut]
        # walked in place: a copy of the names from `start` on made N patterns cost N^2
        names = self.names
        for at in range(bisect_left(names, prefix), len(names)):
            name = names[at]
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
        if any(links.any_match(pattern) for pattern in value_link_patterns(m.value, line_escape(line))):
            return True
    return False


class _Numbered:
    """A rule set's lines numbered across files (n = base[f] + index in file f), and what
    every slice of it looks up: one check slices one set once per event, for the same
    links at add and at change."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.base: list[int] = []
        self.flat: list[Line] = []
        self.file_of: list[int] = []
        for f, rules_file in enumerate(rules.files):
            self.base.append(len(self.flat))
            self.flat.extend(rules_file.lines)
            self.file_of.extend([f] * len(rules_file.lines))
        self.gotos = [[(i, line.goto) for i, line in enumerate(rules_file.lines) if line.goto is not None]
                      for rules_file in rules.files]
        self.devlink = [n for n, line in enumerate(self.flat) if line.kind & HAS_DEVLINK]
        self.writers: _Writers | None = None  # made when first asked
        self._touching: tuple[tuple[str, ...], list[int]] | None = None

    def touching(self, names: LinkNames) -> list[int]:
        """The lines that can change whether the device gets one of `names`."""
        key = tuple(names.names)
        if self._touching is None or self._touching[0] != key:
            old = self.rules.semantics.is_219
            self._touching = (key, [n for n in self.devlink if _touches_links(self.flat[n], names, old)])
        return self._touching[1]


_LAST: list[_Numbered] = []  # the set sliced last (only that one is kept)


def _numbered(rules: RuleSet) -> _Numbered:
    if not _LAST or _LAST[0].rules is not rules:
        _LAST[:] = [_Numbered(rules)]
    return _LAST[0]


def slice_rules(rules: RuleSet, links: Iterable[str] = (), lines: Iterable[Where] = ()) -> RuleSet:
    """The lines of `rules` that can change whether the device gets one of `links`
    (relative to /dev) or whether the lines at `lines` are reached and match."""
    names = LinkNames(links)
    wanted = set(lines)
    numbered = _numbered(rules)
    base, flat, file_of = numbered.base, numbered.flat, numbered.file_of
    jumps = [_Jumps(gotos) for gotos in numbered.gotos]
    writers = numbered.writers
    kept = [False] * len(flat)
    todo: list[int] = []

    def keep(n: int) -> None:
        if not kept[n]:
            kept[n] = True
            todo.append(n)

    if wanted:
        for n, line in enumerate(flat):
            if line.where in wanted:
                keep(n)
    if names:
        for n in numbered.touching(names):
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
        for g in jumps[f].over(i):  # GOTOs of its file that can jump over it
            keep(base[f] + g)
        for read in _reads(line):
            start = served.get(read, 0)
            if start >= n:
                continue
            if writers is None:
                writers = numbered.writers = _Writers(flat)
            for w in writers.candidates(read, start, n):
                if not kept[w] and _writes_what(writers.writes[w], read):
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


class _Writers:
    """What each line may write, indexed by what it writes: the lines that may write what
    a read names are looked up, not looked for among all earlier lines (n rules each
    reading another property took 16 s at n = 4,000). The candidates are a superset of
    the lines _writes_what() accepts, and are checked with it."""

    def __init__(self, lines: list[Line]) -> None:
        self.writes = [_writes(line) for line in lines]
        self.exact: dict[str, list[int]] = {}  # what is written -> the lines, in order
        self.any_prop: list[int] = []  # lines writing any property
        self.glob_props: list[int] = []  # lines writing properties named by a pattern
        for w, written in enumerate(self.writes):
            props = globs = False
            for what in written:
                self.exact.setdefault(what, []).append(w)
                if what.startswith("prop:"):
                    props = True
                    globs = globs or _GLOB.search(what, 5) is not None
            if props:
                self.any_prop.append(w)
            if globs:
                self.glob_props.append(w)

    def candidates(self, read: str, start: int, end: int) -> list[int]:
        """The lines in [start, end) that may write what `read` names, in order."""
        if not read.startswith("prop:"):
            return _between(self.exact.get(read, []), start, end)
        if _GLOB.search(read, 5) is not None:  # "prop:*" (ALL) or a pattern: any writer
            return _between(self.any_prop, start, end)
        named = _between(self.exact.get(read, []), start, end)
        patterns = _between(self.glob_props, start, end)
        return sorted({*named, *patterns}) if patterns else named


_GLOB = re.compile(r"[*?\[]")


def _between(lines: list[int], start: int, end: int) -> list[int]:
    return lines[bisect_left(lines, start) : bisect_left(lines, end)]


class _Jumps:
    """The GOTOs of one file, asked which jump over a line: (line, landing) with
    line < i < landing. Each is answered once (a kept GOTO need not be found again), and
    an answer costs log(GOTOs) per GOTO found: looking at every GOTO of the file for every
    kept line made a file of 5,000 GOTOs, each over the next two lines, take 14 s.

    A segment tree over the GOTOs in line order holds the farthest landing of each range.
    """

    def __init__(self, gotos: list[tuple[int, int]]) -> None:
        self.lines = [g for g, _ in gotos]  # in increasing order
        size = 1
        while size < len(gotos):
            size *= 2
        self.size = size
        self.farthest = [-1] * (2 * size)
        for p, (_, landing) in enumerate(gotos):
            self.farthest[size + p] = landing
        for v in range(size - 1, 0, -1):
            self.farthest[v] = max(self.farthest[2 * v], self.farthest[2 * v + 1])

    def over(self, i: int) -> list[int]:
        """The lines of the GOTOs not answered before that jump over line `i`."""
        before = bisect_left(self.lines, i)  # the GOTOs on lines before i
        found: list[int] = []
        stack = [(1, 0, self.size)]
        farthest = self.farthest
        while stack:
            v, lo, hi = stack.pop()
            if lo >= before or farthest[v] <= i:
                continue
            if v >= self.size:
                found.append(self.lines[lo])
                self._drop(v)
                continue
            mid = (lo + hi) // 2
            stack.append((2 * v, lo, mid))
            stack.append((2 * v + 1, mid, hi))
        return found

    def _drop(self, v: int) -> None:
        farthest = self.farthest
        farthest[v] = -1
        v //= 2
        while v:
            farthest[v] = max(farthest[2 * v], farthest[2 * v + 1])
            v //= 2


_Maker = tuple[tuple[str, ...], tuple[tuple[str, Matcher], ...]]  # (link patterns, KERNEL tests)


class LinkMakers:
    """The lines that can add a link, indexed by the first part of the names they make:
    'can any line give the device `kernel` the link `link`?' is then a few lookups. No
    such line means the device surely does not get the link at an "add", whatever the
    rest of the rule set does."""

    def __init__(self, rules: RuleSet, links: Iterable[str] | None = None) -> None:
        """`links`: the only links that will be asked about, when known: what can name
        none of their first parts is not indexed (could_give() looks up by that part)."""
        self._by_top: dict[str, list[_Maker]] = {}
        # lines that name their one device by a literal KERNEL== (and the top of the link):
        # looked up by that name, so that N disks' own rules cost N lookups, not N^2
        self._by_kernel: dict[tuple[str, str], list[_Maker]] = {}
        self._tops = None if links is None else {_top(link) for link in links}
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
                    written = value_link_patterns(m.value, line_escape(line))
                    # a spelling udev does not create counts for the place it names: the
                    # device does not get that link, and the cause says why
                    patterns.extend([*written, *(place for p in written for place in spelled_places(p))])
        keyed = [(_key(p), p) for p in patterns]
        if self._tops is not None:
            keyed = [(key, p) for key, p in keyed if key == "" or key in self._tops]
        if not keyed:
            return
        kernel = tuple((m.op, Matcher.of(m.value)) for m in line.matches if m.key == "KERNEL")
        literal = next((matcher.alternatives[0] for op, matcher in kernel
                        if op == "==" and matcher.kind == "plain" and len(matcher.alternatives) == 1
                        and not matcher.with_empty), None)
        for key, pattern in keyed:
            if literal is not None:  # it cannot give any other device a link
                self._by_kernel.setdefault((key, literal), []).append(((pattern,), kernel))
            else:
                self._by_top.setdefault(key, []).append(((pattern,), kernel))

    def could_give(self, kernel: str, link: str) -> bool:
        link = link.removeprefix("/dev/")
        top = link.split("/", 1)[0]
        for key in {top, ""}:
            for patterns, tokens in (*self._by_top.get(key, ()), *self._by_kernel.get((key, kernel), ())):
                if not any(fnmatchcase(link, p) for p in patterns):
                    continue
                if all(_kernel_may_match(op, matcher, kernel) for op, matcher in tokens):
                    return True
        return False


def _key(pattern: str) -> str:
    """What LinkMakers files a pattern under: its first part, "" when that is a glob."""
    top = pattern.split("/", 1)[0]
    return "" if "*" in top or "?" in top or "[" in top else top


def _kernel_may_match(op: str, matcher: Matcher, kernel: str) -> bool:
    return token_matches(op, matcher.matches(kernel)) is not Tri.NO


# Match keys whose test can do something before a failing KERNEL== ends the line (a
# PROGRAM runs, an import sets properties, the parent keys pick the parent %b reads).
_NOT_INERT = frozenset(("PROGRAM", "IMPORT", *_PARENT_KEYS))


def _only_for(line: Line) -> str | None:
    """The one kernel name a line can act for, when it names it by a literal KERNEL=="vd7"
    and nothing it matches can act before that test fails (None: any device)."""
    kernel = None
    for m in line.matches:
        if m.key in _NOT_INERT:
            return None
        plain = "%" not in m.value and "$" not in m.value
        if m.key == "KERNEL" and m.op == "==" and kernel is None and plain:
            matcher = Matcher.of(m.value)
            if matcher.kind == "plain" and len(matcher.alternatives) == 1 and not matcher.with_empty:
                kernel = matcher.alternatives[0]
    return kernel


def same_at_add_and_change(line: Line) -> bool:
    """Does the line do the same at a "change" event as at an "add"? The two events'
    facts differ only in the action and the properties (ACTION, and on a running host
    whether the kernel's properties are complete: checker.check.named_devices), and
    neither event reads the database into the device or changes the mask: a line that
    reads no property, runs no PROGRAM or import (their environment holds ACTION), and
    whose ACTION tests answer alike for both, does the same at both."""
    for m in line.matches:
        if m.key in ("PROGRAM", "IMPORT"):
            return False
        if m.key == "ACTION":
            matcher = Matcher.of(m.value)
            if matcher.matches("add") is not matcher.matches("change"):
                return False
    return not any(read.startswith("prop:") for read in _reads(line))


class ByKernel:
    """A rule set cut again for one device: a line that names another device by a literal
    KERNEL=="vd8" (and can do nothing else) never acts for vd7, so vd7 is evaluated
    without it (unless a GOTO lands there). A host whose every disk has its own rules is
    then evaluated in time linear in the disks, not quadratic: each device's set holds
    its own lines and the lines for any device.

    The cut set keeps the whole set as its origin, for causes, and, for each link asked
    about, the last line left out whose SYMLINK could name it: a link no rule makes is
    explained by the last rule that names it (checker.evaluate.causes), which is then the
    same rule as in the whole set (and does nothing for this device)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._common: list[list[int]] = []
        # each named device's own lines, as (file, index) pairs laid flat: [f, i, f, i, ...]
        # (a list per device, not a dict of lists: 10,000 devices in three slices)
        self._own: dict[str, list[int]] = {}
        # the lines left out for some device that can name links: (file, line) by the
        # plain name they make, and those whose names are patterns, in order
        self._plain_namers: dict[str, tuple[int, int]] = {}
        self._pattern_namers: list[tuple[int, int, str]] = []
        self._gotos = [any(line.goto is not None for line in f.lines) for f in rules.files]
        self._common_set: RuleSet | None = None
        # whether each device's set does the same at "change" as at "add": found when
        # first asked (only the change slice is asked), the common lines once
        self._common_alike: bool | None = None
        for f, rules_file in enumerate(rules.files):
            landings = {line.goto for line in rules_file.lines if line.goto is not None}
            common: list[int] = []
            for i, line in enumerate(rules_file.lines):
                kernel = None if i in landings else _only_for(line)
                if kernel is None:
                    common.append(i)
                    continue
                self._own.setdefault(kernel, []).extend((f, i))
                for m in line.assigns:
                    if m.key == "SYMLINK":
                        for pattern in value_link_patterns(m.value, line_escape(line)):
                            if _GLOB.search(pattern) is None:
                                self._plain_namers[pattern] = (f, i)
                            else:
                                self._pattern_namers.append((f, i, pattern))
            self._common.append(common)

    def _last_namer(self, link: str) -> tuple[int, int] | None:
        link = link.removeprefix("/dev/")
        found = self._plain_namers.get(link)
        for f, i, pattern in reversed(self._pattern_namers):
            if found is not None and (f, i) <= found:
                break
            if fnmatch(pattern, link) is not Tri.NO:
                found = (f, i)
                break
        return found

    def alike_at_change(self, kernel: str) -> bool:
        """Does the device's set (without the lines added for causes) give at a "change"
        event exactly what it gives at an "add" (same_at_add_and_change() of every line)?"""
        if self._common_alike is None:
            self._common_alike = all(same_at_add_and_change(self.rules.files[f].lines[i])
                                     for f, common in enumerate(self._common) for i in common)
        if not self._common_alike:
            return False
        # each device is asked once: its answer is not kept
        pairs = self._own.get(kernel, ())
        return all(same_at_add_and_change(self.rules.files[pairs[k]].lines[pairs[k + 1]])
                   for k in range(0, len(pairs), 2))

    def for_kernel(self, kernel: str, links: Iterable[str] = ()) -> RuleSet:
        """The set for the device `kernel`, explaining `links` as the whole set does."""
        if not self._own:
            return self.rules
        own: dict[int, list[int]] = {}
        pairs = self._own.get(kernel, ())
        for k in range(0, len(pairs), 2):
            own.setdefault(pairs[k], []).append(pairs[k + 1])
        for link in links:
            namer = self._last_namer(link)
            if namer is not None and namer[1] not in own.get(namer[0], ()):
                own.setdefault(namer[0], []).append(namer[1])
        if not own:  # the lines for any device: the same set for every such device
            if self._common_set is None:
                self._common_set = self._cut({})
            return self._common_set
        return self._cut(own)

    def _cut(self, own: dict[int, list[int]]) -> RuleSet:
        files: list[RulesFile] = []
        for f, rules_file in enumerate(self.rules.files):
            common, mine = self._common[f], own.get(f)
            if not mine:
                chosen = common
            elif common:
                chosen = sorted({*common, *mine})
            else:
                chosen = mine if len(mine) < 2 or all(a < b for a, b in zip(mine, mine[1:])) else sorted(mine)
            if len(chosen) == len(rules_file.lines):
                files.append(rules_file)
                continue
            if not chosen:
                continue
            lines = [rules_file.lines[i] for i in chosen]
            if self._gotos[f]:
                renumber = {old: new for new, old in enumerate(chosen)}
                lines = [replace(line, goto=renumber[line.goto]) if line.goto is not None else line
                         for line in lines]
            files.append(RulesFile(rules_file.path, tuple(lines)))
        return RuleSet(tuple(files), origin=self.rules.origin or self.rules, semantics=self.rules.semantics)


def _top(link: str) -> str:
    """A link's first part (relative to /dev)."""
    return link.removeprefix("/dev/").split("/", 1)[0]
