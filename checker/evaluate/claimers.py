"""Which present devices could get a link from the rule set: the other devices whose claim
on a wanted link udev weighs by link_priority (udev-node.c).

Found from every line that can add a link (any SYMLINK value whose substitutions can make
that name, not only values that name it literally), and narrowed cheaply, before anything
is evaluated: a line with a literal KERNEL=="sdc" can give only sdc a link; a value
"xapi/block/%k" gives the link "xapi/block/sdb" only to sdb. What is found is a superset:
the evaluator decides each device's claim.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from fnmatch import fnmatchcase

from checker.evaluate.glob import Matcher, token_matches
from checker.evaluate.ruleset import HAS_DEVLINK, Line, RuleSet, line_escape, value_link_patterns
from checker.evaluate.values import Tri
from checker.records import dataclass

_GLOBS = "*?["


@dataclass(frozen=True, slots=True)  # one per SYMLINK value of the set
class _Maker:
    pattern: str  # fnmatch pattern of the names it can make (substitutions: *)
    kernel_tests: tuple[tuple[str, Matcher], ...]
    literal: str | None  # the one kernel a literal KERNEL=="sdc" allows
    # "prefix%ksuffix" (or %n) with nothing else substituted: the kernel (or its number)
    # is read off the link
    around: tuple[str, str, str] | None = None  # (before, "k" or "n", after)

    def kernels(self, link: str, present: Present) -> Collection[str]:
        if not fnmatchcase(link, self.pattern):
            return ()
        if self.literal is not None:
            candidates: Collection[str] = (self.literal,) if self.literal in present.names else ()
        elif self.around is not None:
            before, what, after = self.around
            if len(link) < len(before) + len(after) or not (link.startswith(before) and link.endswith(after)):
                return ()
            value = link[len(before):len(link) - len(after)]
            if what == "k":
                candidates = (value,) if value in present.names else ()
            else:
                candidates = present.by_number().get(value, ())
        else:
            return present.passing(self.kernel_tests)
        return [k for k in candidates if self.may_match(k)]

    def may_match(self, kernel: str) -> bool:
        return all(token_matches(op, m.matches(kernel)) is not Tri.NO for op, m in self.kernel_tests)


def _around(word: str) -> tuple[str, str, str] | None:
    """("xapi/block/", "k", "") for "xapi/block/%k": one %k or %n and no other substitution,
    in a name udev keeps as written (no "//", no "." part, no leading "/")."""
    if word.count("%") != 1 or "$" in word:
        return None
    what = "k" if "%k" in word else "n" if "%n" in word else None
    if what is None:
        return None
    before, after = word.split("%" + what)
    plain = before + "x" + after
    if "//" in plain or plain.startswith("/") or any(p in (".", "..") for p in plain.split("/")):
        return None
    return before, what, after


def kernel_number(kernel: str) -> str:
    """What %n gives: the kernel name's trailing digits ("" when none, or all digits)."""
    digits = len(kernel) - len(kernel.rstrip(string.digits))
    return kernel[-digits:] if 0 < digits < len(kernel) else ""


class Present:
    """The kernel names present, with what the lookups need built once."""

    def __init__(self, names: Collection[str]) -> None:
        self.names = frozenset(names)
        self._numbers: dict[str, list[str]] | None = None
        self._passing: dict[tuple[tuple[str, Matcher], ...], list[str]] = {}

    def by_number(self) -> dict[str, list[str]]:
        if self._numbers is None:
            self._numbers = {}
            for name in sorted(self.names):
                self._numbers.setdefault(kernel_number(name), []).append(name)
        return self._numbers

    def passing(self, tests: tuple[tuple[str, Matcher], ...]) -> list[str]:
        """The names every KERNEL test may match (each set of tests asked once)."""
        found = self._passing.get(tests)
        if found is None:
            found = self._passing[tests] = [k for k in sorted(self.names) if all(
                token_matches(op, m.matches(k)) is not Tri.NO for op, m in tests)]
        return found


# kernel names that %k gives as they are: udev replaces no character of them in a link
_PLAIN_KERNEL = re.compile(r"[A-Za-z0-9#+.:=@_-]+")


class LinkClaimers:
    """The lines that can add a link, indexed by the first part of the names they make;
    a line with a literal KERNEL=="sdc" whose name is "prefix%ksuffix" makes exactly one
    name, and is indexed by it (a host of N disks each named by its own rules would
    otherwise weigh each of N links against each of N such lines)."""

    def __init__(self, rules: RuleSet, links: Collection[str] | None = None) -> None:
        """`links`: the only links that will be asked about (relative to /dev or not),
        when known: a line that can name none of their first parts is not indexed."""
        self._by_top: dict[str, list[_Maker]] = {}
        self._exact: dict[str, list[_Maker]] = {}
        self._tops = None if links is None else {_top(link) for link in links}
        old = rules.semantics.is_219
        for rules_file in (rules.origin or rules).files:
            for line in rules_file.lines:
                if line.kind & HAS_DEVLINK:
                    self._index(line, old)

    def _asked(self, pattern: str) -> bool:
        """Could a link asked about match `pattern`? (Its first part, when plain, must be
        an asked link's: the lookups go by that part.)"""
        top = pattern.split("/", 1)[0]
        return self._tops is None or any(c in top for c in _GLOBS) or top in self._tops

    def _index(self, line: Line, old: bool) -> None:
        escapes = {m.value for m in line.assigns if m.key == "OPTIONS"}
        # a substituted value may hold spaces (string_escape=none; udev 219 without
        # string_escape=replace): it may name any link
        unescaped = "string_escape=none" in escapes or (old and "string_escape=replace" not in escapes)
        if self._tops is not None and not any(
                (unescaped and "%" in m.value.replace("%%", ""))
                or any(self._asked(p) for p in value_link_patterns(m.value, line_escape(line)))
                for m in line.assigns if m.key == "SYMLINK" and m.op != "-="):
            return  # it cannot name a link asked about
        tests = tuple((m.op, Matcher.of(m.value)) for m in line.matches if m.key == "KERNEL")
        literal = next((matcher.alternatives[0] for op, matcher in tests
                        if op == "==" and matcher.kind == "plain" and len(matcher.alternatives) == 1
                        and not matcher.with_empty and "%" not in matcher.alternatives[0]
                        and "$" not in matcher.alternatives[0]), None)
        for m in line.assigns:
            if m.key != "SYMLINK" or m.op == "-=":
                continue
            template = m.value  # compiled: substitutions normalized
            if unescaped and "%" in template.replace("%%", ""):
                self._add(_Maker("*", tests, literal))
                continue
            words = template.split()
            patterns = value_link_patterns(template, line_escape(line))  # as udev writes them
            for word, pattern in zip(words, patterns) if len(words) == len(patterns) else \
                    ((None, p) for p in patterns):
                around = _around(word) if word is not None else None
                if literal is not None and around is not None and _PLAIN_KERNEL.fullmatch(literal):
                    before, what, after = around
                    name = before + (literal if what == "k" else kernel_number(literal)) + after
                    if fnmatchcase(name, pattern):
                        self._exact.setdefault(name, []).append(_Maker(pattern, tests, literal))
                        continue
                self._add(_Maker(pattern, tests, literal, around if literal is None else None))

    def _add(self, maker: _Maker) -> None:
        top = maker.pattern.split("/", 1)[0]
        key = "" if any(c in top for c in _GLOBS) else top
        self._by_top.setdefault(key, []).append(maker)

    def kernels(self, link: str, present: Present | Collection[str]) -> set[str]:
        """The kernel names among `present` that some line could give `link` (relative
        to /dev)."""
        present = present if isinstance(present, Present) else Present(present)
        link = link.removeprefix("/dev/")
        top = link.split("/", 1)[0]
        found: set[str] = set()
        for key in {top, ""}:
            for maker in self._by_top.get(key, ()):
                found.update(maker.kernels(link, present))
        for maker in self._exact.get(link, ()):
            found.update(maker.kernels(link, present))
        return found

    def kernels_for(self, links: Collection[str], present: Present) -> set[str]:
        """The kernel names that some line could give one of `links`: each line looked at
        once, a line that may give any device the link (no literal KERNEL==, no %k) adds the
        devices its KERNEL tests allow once, whatever the number of links."""
        by_top: dict[str, list[str]] = {}
        for link in links:
            link = link.removeprefix("/dev/")
            by_top.setdefault(link.split("/", 1)[0], []).append(link)
        found: set[str] = set()
        generic: set[int] = set()
        for key, makers in self._by_top.items():
            names = [n for ns in by_top.values() for n in ns] if key == "" else by_top.get(key, [])
            for maker in makers:
                if maker.literal is None and maker.around is None:
                    if id(maker) not in generic and any(fnmatchcase(n, maker.pattern) for n in names):
                        generic.add(id(maker))
                        found.update(present.passing(maker.kernel_tests))
                    continue
                for name in names:
                    found.update(maker.kernels(name, present))
        for names in by_top.values():
            for name in names:
                for maker in self._exact.get(name, ()):
                    found.update(maker.kernels(name, present))
        return found


def _top(link: str) -> str:
    """A link's first part (relative to /dev)."""
    return link.removeprefix("/dev/").split("/", 1)[0]
