"""Properties that must hold for any rule: hypothesis searches for the rule that breaks them.

- Reformatting a valid rule the ways udev ignores never changes its canonical form.
- Changing a key, an attribute, an operator or a value always does.
- A canonical form reads back as itself, and a rule udev keeps stays one udev keeps.
- The parser never raises: broken text gives rules with problems.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Callable, Optional

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checker.rules.canonical import interpret
from checker.rules.model import Rule
from checker.rules.parsed import parse_rules

# At least 300 examples; more when a profile asks for more (HYPOTHESIS_PROFILE=thorough).
SETTINGS = settings(
    max_examples=max(300, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# A token of a rule: (key, attr, op, value).
Tok = tuple[str, Optional[str], str, str]

SIMPLE = "abcxyz019/_.-"  # values that no normalisation touches
simple_values = st.text(alphabet=SIMPLE, min_size=1, max_size=8)
names = st.text(alphabet="ABCXYZ_", min_size=1, max_size=6).filter(
    lambda n: n not in {"ACTION", "DEVPATH", "DRIVER", "MAJOR", "MINOR", "TAGS"}
)

MATCH_ONLY = ("ACTION", "DEVPATH", "KERNEL", "DRIVER", "KERNELS", "SUBSYSTEMS", "DRIVERS",
              "TAGS", "RESULT", "SUBSYSTEM")  # fmt: skip
# Substitutions and their long spellings; udev treats each pair as one.
SUBSTITUTIONS = [
    ("%k", "$kernel"), ("%n", "$number"), ("%p", "$devpath"), ("%b", "$id"),
    ("%d", "$driver"), ("%s{size}", "$attr{size}"), ("%s{a/b}", "$sysfs{a/b}"),
    ("%E{ID_X}", "$env{ID_X}"), ("%M", "$major"), ("%m", "$minor"), ("%c", "$result"),
    ("%c{2+}", "$result{2+}"), ("%P", "$parent"), ("%D", "$name"), ("%L", "$links"),
    ("%r", "$root"), ("%S", "$sys"), ("%N", "$devnode"), ("%N", "$tempnode"),
    ("%%", "%%"), ("$$", "$$"),
]  # fmt: skip


@st.composite
def substituted_values(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A value as pieces, each with two spellings udev reads the same way."""
    pieces: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            text = draw(st.text(alphabet=SIMPLE + ' "\\', min_size=1, max_size=5))
            pieces.append((text, text))
        else:
            pieces.append(draw(st.sampled_from(SUBSTITUTIONS)))
    # a piece ending in a letter must not run into the next one ("$sys" + "fs{x}")
    return [(a, b) for a, b in pieces]


@st.composite
def valid_tokens(draw: st.DrawFn, plain: bool) -> Tok:
    """One token udev 252 accepts. plain: only values no normalisation touches."""
    value = draw(simple_values)
    kind = draw(st.integers(0, 13))
    if kind == 0:
        key = draw(st.sampled_from(MATCH_ONLY))
        return (key, None, draw(st.sampled_from(["==", "!="])), value)
    if kind == 1:
        return ("ENV", draw(names), draw(st.sampled_from(["==", "!=", "=", "+="])), value)
    if kind == 2:
        return ("ATTR", draw(names).lower(), draw(st.sampled_from(["==", "!=", "="])), value)
    if kind == 3:
        return ("ATTRS", draw(names).lower(), draw(st.sampled_from(["==", "!="])), value)
    if kind == 4:
        return ("SYMLINK", None, draw(st.sampled_from(["==", "!=", "=", "+=", ":="])), value)
    if kind == 5:
        return ("TAG", None, draw(st.sampled_from(["==", "!=", "=", "+=", "-="])), value)
    if kind == 6:
        return ("RUN", None, draw(st.sampled_from(["=", "+=", ":="])), value)
    if kind == 7:
        return ("PROGRAM", None, draw(st.sampled_from(["==", "!="])), "/" + value)
    if kind == 8:
        attr = draw(st.sampled_from(["program", "file", "db", "cmdline", "parent"]))
        return ("IMPORT", attr, draw(st.sampled_from(["==", "!="])), "/" + value)
    if kind == 9:
        key = draw(st.sampled_from(["OWNER", "GROUP"]))
        return (key, None, draw(st.sampled_from(["=", ":="])), "u" + value)
    if kind == 10:
        mode = f"{draw(st.integers(0, 0o7777)):04o}"
        return ("MODE", None, draw(st.sampled_from(["=", ":="])), mode)
    if kind == 11:
        option = draw(st.sampled_from(["watch", "nowatch", "db_persist", "string_escape=none"]))
        if option.endswith("watch"):
            return ("OPTIONS", None, draw(st.sampled_from(["=", ":="])), option)
        return ("OPTIONS", None, "=", option)
    if kind == 12:
        return ("OPTIONS", None, "=", f"link_priority={draw(st.integers(-99, 99))}")
    return ("NAME", None, draw(st.sampled_from(["==", "!=", "=", ":="])), value)


@st.composite
def valid_rules(draw: st.DrawFn, plain: bool = True) -> list[Tok]:
    tokens = draw(st.lists(valid_tokens(plain), min_size=1, max_size=6))
    if draw(st.booleans()):  # one LABEL at most: a second one would replace the first
        tokens.insert(draw(st.integers(0, len(tokens))), ("LABEL", None, "=", draw(simple_values)))
    return tokens


def quote(value: str, escaped: bool) -> str:
    """Spell a value for a rules file, in plain quotes or as e"...", as udev reads it back."""
    if escaped or value.endswith("\\"):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch.isalpha() and escaped and ord(ch) < 128:
                out.append(f"\\x{ord(ch):02x}")
            else:
                out.append(ch)
        return 'e"' + "".join(out) + '"'
    return '"' + value.replace('"', '\\"') + '"'


def write(tokens: Sequence[Tok], rnd: random.Random, tidy: bool = False) -> str:
    """One spelling of the rule: separators, spaces, continuations and quoting vary."""
    parts: list[str] = []
    for index, (key, attr, op, value) in enumerate(tokens):
        head = key if attr is None else f"{key}{{{attr}}}"
        space = "" if tidy else rnd.choice(["", " ", "  ", "\t"])
        if tidy:
            separator = "" if index == 0 else ", "
        else:
            separator = rnd.choice(["", " ", ",", ", ", " , ", "\t", ",,", " \\\n  "])
            if separator.startswith(" \\") and rnd.random() < 0.5:
                separator += "\\\n# a comment inside the continuation\n   "
        escaped = not tidy and rnd.random() < 0.3
        parts.append(separator + head + space + op + space + quote(value, escaped))
    text = "".join(parts)
    if not tidy:
        text = rnd.choice(["", " ", ",", "\t"]) + text + rnd.choice(["", " ", ",", " ,\t"])
        if rnd.random() < 0.3:
            text = text.replace("\n", "\r\n")
    return text


def reorder_as_udev_allows(tokens: list[Tok], rnd: random.Random) -> list[Tok]:
    """Any order in which tokens of one udev type keep their order: udev sorts the rest."""
    order = list(tokens)
    rnd.shuffle(order)
    by_rank: dict = {}
    for token in tokens:
        by_rank.setdefault(interpret(*token).rank, []).append(token)
    placed = [by_rank[interpret(*token).rank].pop(0) for token in order]
    return placed


def alias_ops(tokens: list[Tok], rnd: random.Random) -> list[Tok]:
    """PROGRAM/IMPORT = += := mean ==; OPTIONS+= means OPTIONS=."""
    out: list[Tok] = []
    for key, attr, op, value in tokens:
        if key in ("PROGRAM", "IMPORT") and op == "==":
            op = rnd.choice(["==", "=", "+=", ":="])
        elif key == "OPTIONS" and op == "=":
            op = rnd.choice(["=", "+="])
        out.append((key, attr, op, value))
    return out


def canonical_of(text: str) -> str:
    rules = parse_rules(text).rules
    assert len(rules) == 1, text
    assert rules[0].problem is None, (text, rules[0].problem)
    return rules[0].canonical


@SETTINGS
@given(valid_rules(), st.randoms(use_true_random=False))
def test_reformatting_a_valid_rule_never_changes_its_canonical_form(
    tokens: list[Tok], rnd: random.Random
) -> None:
    base = canonical_of(write(tokens, rnd, tidy=True))
    for _ in range(3):
        again = alias_ops(reorder_as_udev_allows(tokens, rnd), rnd)
        assert canonical_of(write(again, rnd)) == base


@SETTINGS
@given(
    st.sampled_from(["RUN", "SYMLINK", "ENV", "PROGRAM", "IMPORT", "TAG", "SECLABEL"]),
    substituted_values(),
    st.randoms(use_true_random=False),
)
def test_substitution_spellings_never_change_the_canonical_form(
    key: str, pieces: list[tuple[str, str]], rnd: random.Random
) -> None:
    attr, op = {
        "RUN": (None, "+="), "SYMLINK": (None, "+="), "ENV": ("ID_X", "="),
        "PROGRAM": (None, "=="), "IMPORT": ("program", "=="), "TAG": (None, "+="),
        "SECLABEL": ("selinux", "="),
    }[key]  # fmt: skip
    short = "/x" + "".join(a for a, _ in pieces)
    mixed = "/x" + "".join(rnd.choice(pair) for pair in pieces)
    rule_a = [("KERNEL", None, "==", "sda"), (key, attr, op, short)]
    rule_b = [("KERNEL", None, "==", "sda"), (key, attr, op, mixed)]
    assert canonical_of(write(rule_a, rnd)) == canonical_of(write(rule_b, rnd))


Mutation = Callable[[Tok, random.Random], Optional[Tok]]


def change_value(token: Tok, rnd: random.Random) -> Tok | None:
    key, attr, op, value = token
    if key == "MODE":
        return (key, attr, op, f"{(int(value, 8) + 1) % 0o10000:04o}")
    if key == "OPTIONS":
        if value.startswith("link_priority="):
            return (key, attr, op, f"link_priority={int(value.split('=')[1]) + 1}")
        swap = {"watch": "nowatch", "nowatch": "watch", "db_persist": "string_escape=none",
                "string_escape=none": "string_escape=replace"}  # fmt: skip
        return (key, attr, op, swap[value])
    return (key, attr, op, value + rnd.choice("abc019"))


def change_op(token: Tok, rnd: random.Random) -> Tok | None:
    key, attr, op, value = token
    choices = {
        "==": ["!="], "!=": ["=="],
        "=": {"ENV": ["+="], "SYMLINK": ["+=", ":="], "TAG": ["+=", "-="], "RUN": ["+=", ":="],
              "OWNER": [":="], "GROUP": [":="], "MODE": [":="], "NAME": [":="]}.get(key, []),
        "+=": ["=", ":="] if key in ("SYMLINK", "RUN") else ["="],
        ":=": ["="], "-=": ["+="],
    }[op]  # fmt: skip
    if key == "OPTIONS" and value not in ("watch", "nowatch"):
        return None  # only watch/nowatch give ':=' a meaning
    if key in ("ATTR", "ATTRS") and op in ("==", "!="):
        choices = ["!=" if op == "==" else "=="]
    return (key, attr, rnd.choice(choices), value) if choices else None


def change_key(token: Tok, rnd: random.Random) -> Tok | None:
    key, attr, op, value = token
    if key in MATCH_ONLY:
        return (rnd.choice([k for k in MATCH_ONLY if k != key]), attr, op, value)
    if key in ("OWNER", "GROUP"):
        return ("GROUP" if key == "OWNER" else "OWNER", attr, op, value)
    return None


def change_attr(token: Tok, rnd: random.Random) -> Tok | None:
    key, attr, op, value = token
    if key in ("ENV", "ATTR", "ATTRS", "LABEL") or attr is None:
        return (key, attr + "Q", op, value) if attr is not None else None
    if key == "IMPORT":
        others = [a for a in ("file", "db", "cmdline", "parent") if a != attr]
        return (key, rnd.choice(others), op, value)
    return None


@SETTINGS
@given(valid_rules(), st.randoms(use_true_random=False), st.data())
def test_changing_a_key_attribute_operator_or_value_always_changes_the_canonical_form(
    tokens: list[Tok], rnd: random.Random, data: st.DataObject
) -> None:
    before = canonical_of(write(tokens, rnd, tidy=True))
    index = data.draw(st.integers(0, len(tokens) - 1))
    mutation = data.draw(st.sampled_from([change_value, change_op, change_key, change_attr]))
    changed = mutation(tokens[index], rnd)
    if changed is None:
        changed = change_value(tokens[index], rnd)
    assert changed is not None and changed != tokens[index]
    after_tokens = tokens[:index] + [changed] + tokens[index + 1 :]
    assert canonical_of(write(after_tokens, rnd, tidy=True)) != before


# Text made of the pieces udev's parser cares about, so that odd corners come up often.
FRAGMENTS = [
    "KERNEL", "ENV", "ATTR", "SYMLINK", "RUN", "GOTO", "LABEL", "OPTIONS", "IMPORT", "NAME",
    "PROGRAM", "MODE", "TEST", "FOO", "{", "}", "{x}", "==", "!=", "=", "+=", "-=", ":=",
    '"', '"', "e\"", "'", "\\", "\\\"", "\\\\", "\\x41", "\\x00", ",", " ", "\t", "\n", "\r",
    "\r\n", "\x00", "#", "%k", "$kernel", "%", "$", "$$", "%%", "?*", "a", "sd*", "é", "\udcff",
    "watch", "link_priority=", "1", "\x0b",
]  # fmt: skip
rule_like_text = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=200)


def check_structure(text: str, rules: Sequence[Rule], lines: Sequence[str]) -> None:
    previous_end = 0
    for rule in rules:
        assert previous_end < rule.line <= rule.end_line <= max(len(lines), 1)
        previous_end = rule.end_line
        assert (rule.problem is None) or rule.problem


@SETTINGS
@given(st.one_of(rule_like_text, any_text))
def test_the_parser_never_raises_and_keeps_rules_in_line_order(text: str) -> None:
    result = parse_rules(text)
    check_structure(text, result.rules, result.lines)


@SETTINGS
@given(st.one_of(rule_like_text, any_text, valid_rules().map(lambda t: write(t, random.Random(0)))))
def test_every_canonical_form_reads_back_as_itself(text: str) -> None:
    for rule in parse_rules(text).rules:
        again = parse_rules(rule.canonical).rules
        assert len(again) == 1, (rule.text, rule.canonical)
        assert again[0].canonical == rule.canonical
        if rule.problem is None:  # a rule udev keeps is written as a rule udev keeps
            problem = again[0].problem
            assert problem is None or problem.startswith("GOTO="), (rule.canonical, problem)


@SETTINGS
@given(valid_rules(), st.randoms(use_true_random=False), st.data())
def test_swapping_two_different_tokens_of_one_udev_type_changes_the_canonical_form(
    tokens: list[Tok], rnd: random.Random, data: st.DataObject
) -> None:
    extra = data.draw(valid_tokens(True))
    other = change_value(extra, rnd)
    assert other is not None
    assume(interpret(*extra).rank == interpret(*other).rank)
    at = data.draw(st.integers(0, len(tokens)))
    first = tokens[:at] + [extra, other] + tokens[at:]
    second = tokens[:at] + [other, extra] + tokens[at:]
    assert canonical_of(write(first, rnd, tidy=True)) != canonical_of(write(second, rnd, tidy=True))
