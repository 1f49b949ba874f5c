"""What an admin does to a vendor rules file, at random but reproducibly: rules added in
one place or two, and vendor rules re-spaced, re-quoted or split over lines in ways udev
reads identically (the parser's canonical form is the judge: a rewrite it does not call
equal is not used)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from checker.rules.model import Rule
from checker.rules.parser import parse_rules
from checker.rules.textlines import split_keepends

XEN_PAIR = (
    'ACTION=="add", KERNEL=="{disk}", SYMLINK+="xapi/block/%k", '
    "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
    'ACTION=="remove", KERNEL=="{disk}", '
    "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
)
ADMIN_RULES = (
    'SUBSYSTEM=="block", ENV{{ID_SERIAL}}=="WDC_WD40EFRX-68N32N0_WD-WCC7K{n:07d}", OWNER="qemu", MODE="0660"\n',
    'ACTION=="add", KERNEL=="sd{disk}", SYMLINK+="local/disk-{n}"\n',
    'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="52:54:00:12:34:{n2:02x}", NAME="lan{n}"\n',
    'KERNEL=="ttyUSB{n}", SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="0403", SYMLINK+="ups{n}", GROUP="nut"\n',
    'SUBSYSTEM=="block", KERNEL=="nvme{n}n1", ATTR{{queue/scheduler}}="none"\n',
)


@dataclass
class Edited:
    vendor: str  # the vendor's text
    text: str  # the admin's copy
    added: list[str]  # canonical forms of the rules added
    added_lines: list[tuple[int, int]]  # 0-based [start, stop) lines of each added group in `text`
    reformatted: int  # vendor rules rewritten harmlessly


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(corpus.rglob("*.rules"))


def _admin_rules(rng: random.Random, vendor_canonicals: set[str], count: int) -> list[str]:
    picked: list[str] = []
    while len(picked) < count:
        n = rng.randrange(1, 99)
        text = rng.choice(ADMIN_RULES).format(n=n, n2=n, disk="bcdefgh"[n % 7])
        if rng.random() < 0.25 and count - len(picked) >= 2:
            rules = XEN_PAIR.format(disk="sd" + "bcdefgh"[n % 7])
            if not any(r.canonical in vendor_canonicals for r in parse_rules(rules).rules):
                picked.append(rules)  # two rules in one piece of text
                continue
        canonical = parse_rules(text).rules[0].canonical
        if canonical not in vendor_canonicals and text not in picked:
            picked.append(text)
    return picked


def _separator(rng: random.Random) -> str:
    return rng.choice([", ", ",", " , ", ",  ", ",\t", ", \\\n    ", ",\\\n\t"])


def _quote(rng: random.Random, value: str) -> str:
    prefix = "e" if rng.random() < 0.3 and "\\" not in value else ""
    return f'{prefix}"{value}"'


def _reformat(rng: random.Random, rule: Rule) -> str | None:
    """The rule written another way that udev reads the same, or None."""
    if any('"' in t.value or "\\" in t.value for t in rule.tokens):
        return None
    tokens = list(rule.tokens)
    matches = [t for t in tokens if t.is_match]
    if rng.random() < 0.5 and len(matches) > 1:  # the order of match keys does not matter
        rng.shuffle(matches)
        others = iter(matches)
        tokens = [next(others) if t.is_match else t for t in tokens]
    parts = [f"{t.key}{'{' + t.attr + '}' if t.attr is not None else ''}{t.op}{_quote(rng, t.value)}"
             for t in tokens]
    text = parts[0]
    for part in parts[1:]:
        text += _separator(rng) + part
    text = rng.choice(["", " ", "\t"]) + text + rng.choice(["", " ", ","])
    rewritten = parse_rules(text + "\n").rules
    if len(rewritten) != 1 or rewritten[0].problem or rewritten[0].canonical != rule.canonical:
        return None
    return text + "\n"


def edit(vendor: str, seed: int, *, places: int, reformat: bool) -> Edited:
    """The vendor file with 1-2 admin rules added in `places` places (1 or 2), and with
    some vendor rules harmlessly reformatted."""
    rng = random.Random(seed)
    parsed = parse_rules(vendor)
    lines = split_keepends(vendor)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    canonicals = {rule.canonical for rule in parsed.rules}
    # Where a rule may go: before the first rule, or after the last line of any rule.
    slots = sorted({0} | {rule.end_line for rule in parsed.rules} | {len(lines)})
    count = rng.choice([1, 2]) if places == 1 else 2
    added_texts = _admin_rules(rng, canonicals, count if places == 1 else 2)
    if places == 1:
        groups = {rng.choice(slots): "".join(added_texts)}
    else:
        # Two places with at least one vendor rule between them (else they are one place).
        before = {slot: sum(rule.end_line <= slot for rule in parsed.rules) for slot in slots}
        apart = [(a, b) for a in slots for b in slots if before[a] < before[b]]
        first, second = rng.choice(apart) if apart else (slots[0], slots[0])
        groups = {first: added_texts[0]} if first == second else {first: added_texts[0], second: added_texts[1]}
        if first == second:
            groups[first] = added_texts[0] + "# the admin's note\n" + added_texts[1]
    rewritten: dict[int, tuple[int, str]] = {}
    reformatted = 0
    if reformat:
        for rule in parsed.rules:
            if rng.random() < 0.3:
                new = _reformat(rng, rule)
                if new is not None:
                    rewritten[rule.line - 1] = (rule.end_line, new)
                    reformatted += 1
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    index = 0
    while index <= len(lines):
        if index in groups:
            start = sum(text.count("\n") for text in out)
            out.append(groups[index])
            spans.append((start, start + groups[index].count("\n")))
        if index == len(lines):
            break
        if index in rewritten:
            end, new = rewritten[index]
            out.append(new)
            index = end
        else:
            out.append(lines[index])
            index += 1
    added = [rule.canonical for text in groups.values() for rule in parse_rules(text).rules]
    return Edited(vendor, "".join(out), added, spans, reformatted)
