"""The line selection of `lines`/`absent` checks finds exactly what a full parse finds.

Two halves (see checker/rules/select.py):
- the keys whose values serve as probes keep every value as written (else a line could
  hold a wanted rule without holding the probe text);
- on random files (plain and e"..." spellings, continuations through values, comments,
  GOTO/LABEL, over-long lines), the wanted rules present as udev reads them are the same
  through the selection as through the full parse.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from checker.rules.canonical import UDEV_LINE_SIZE, interpret
from checker.rules.model import Rule
from checker.rules.parsed import parse_rules
from checker.rules.parser import rules_selected
from checker.rules.select import VERBATIM_MATCH_KEYS, could_hold, probes

SETTINGS = settings(
    max_examples=max(300, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NASTY = 'ab%$?*{}[]\\" |/,=01kKe'
# pieces that substitution normalising rewrites ("$kernel" -> "%k"), among plain text
nasty_values = st.lists(st.one_of(st.text(alphabet=NASTY, max_size=3),
                                  st.sampled_from(["$kernel", "$env{X}", "$attr{size}", "%%", "$$",
                                                   "%k", "$devnode", "?*"])),
                        max_size=4).map("".join)
ATTR_KEYS = {"ENV", "ATTR", "ATTRS", "SYSCTL", "CONST"}


@SETTINGS
@given(key=st.sampled_from(sorted(VERBATIM_MATCH_KEYS)), op=st.sampled_from(["==", "!="]),
       attr=st.sampled_from(["arch", "virt", "size", "ID_X", "a/b", "%k", "$kernel"]),
       value=nasty_values)
def test_probe_keys_keep_every_value_as_written(key: str, op: str, attr: str, value: str) -> None:
    meaning = interpret(key, attr if key in ATTR_KEYS else None, op, value)
    if meaning.error is None and meaning.value != "":
        assert (meaning.key, meaning.value, meaning.op) == (key, value, op)


@SETTINGS
@given(key=st.sampled_from(sorted(VERBATIM_MATCH_KEYS)),
       op=st.sampled_from(["=", "+=", "-=", ":="]),
       attr=st.sampled_from(["arch", "size", "ID_X", "%k"]), value=nasty_values)
def test_no_assignment_of_a_probe_key_reads_as_a_match(key: str, op: str, attr: str, value: str) -> None:
    # else a line could hold a wanted match token written with another operator
    meaning = interpret(key, attr if key in ATTR_KEYS else None, op, value)
    assert meaning.error is not None or meaning.op not in ("==", "!=")


# --- random files ---------------------------------------------------------------------------

VALUES = ["sdb", "sdc", "sd*", "block", "add", "remove", "disk", "?*", "", 'a"b', "xapi/%k",
          "bus", "class", "subsystem"]
MATCHES = [("KERNEL", None), ("SUBSYSTEM", None), ("ACTION", None), ("ENV", "ID_SERIAL"),
           ("ATTRS", "model"), ("PROGRAM", None)]
ASSIGNS = [("SYMLINK", "+="), ("GROUP", "="), ("RUN", "+="), ("ENV{UDISKS_IGNORE}", "=")]


def _escaped(value: str) -> str:
    """An e"..." spelling of value that shares no text with it (every character \\xHH)."""
    return 'e"' + "".join(f"\\x{b:02x}" for b in value.encode()) + '"'


def _quoted(value: str, escaped: bool) -> str:
    return _escaped(value) if escaped else '"' + value.replace('"', '\\"') + '"'


@st.composite
def tokens(draw: st.DrawFn) -> str:
    escaped = draw(st.integers(0, 5)) == 0
    value = draw(st.sampled_from(VALUES))
    if draw(st.booleans()):
        key, attr = draw(st.sampled_from(MATCHES))
        op = draw(st.sampled_from(["==", "!="]))
        head = key if attr is None else f"{key}{{{attr}}}"
    else:
        head, op = draw(st.sampled_from(ASSIGNS))
    space = draw(st.sampled_from(["", " ", "\t"]))
    return f"{head}{space}{op}{space}{_quoted(value, escaped)}"


@st.composite
def rule_lines(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 12))
    if kind == 0:
        return "# " + draw(tokens())
    if kind == 1:
        return f'GOTO="{draw(st.sampled_from(["end", "other"]))}", ' + draw(tokens())
    if kind == 2:
        return f'LABEL="{draw(st.sampled_from(["end", "other"]))}"'
    if kind == 3:
        return "KERNEL==\"sd\\\n  b\", " + draw(tokens())  # a continuation inside a value
    if kind == 4:
        return draw(tokens()) + ', ' + "x" * UDEV_LINE_SIZE  # longer than udev reads
    if kind == 5:
        return draw(tokens()) + ", BROKEN"
    parts = draw(st.lists(tokens(), min_size=1, max_size=4))
    return draw(st.sampled_from([", ", ",", " , "])).join(parts)


@SETTINGS
@given(lines=st.lists(rule_lines(), min_size=1, max_size=25),
       wanted_lines=st.lists(rule_lines(), min_size=1, max_size=4),
       copies=st.lists(st.integers(0, 24), max_size=3))
def test_the_selection_finds_what_the_full_parse_finds(
        lines: list[str], wanted_lines: list[str], copies: list[int]) -> None:
    # Some wanted rules are taken from the file itself, so that they are often there.
    wanted_text = "\n".join(wanted_lines + [lines[i] for i in copies if i < len(lines)]) + "\n"
    wanted = [r for r in parse_rules(wanted_text).rules if not r.problem]
    text = "\n".join(lines) + "\n"
    full = parse_rules(text).rules
    keep = could_hold(wanted)
    event("no test" if keep is None else "a test")
    if keep is None:
        assert any(not probes(rule) for rule in wanted)
        return
    selected = rules_selected(text, keep)
    if selected is None:  # a GOTO among the selected lines: the check parses it all
        assert "GOTO" in text
        return
    canonicals = {rule.canonical for rule in wanted}

    def present(rules: list[Rule]) -> list[tuple[int, str | None, str]]:
        return [(r.line, r.problem, r.canonical) for r in rules if r.canonical in canonicals]

    assert present(list(selected)) == present(list(full))
    event(f"present: {min(len(present(list(full))), 2)}; selected {len(selected)} of {len(full)}"
          if len(selected) < len(full) else "everything selected")
    by_line = {r.line: r for r in full}
    assert all(by_line[r.line] == r for r in selected)  # each selected rule as parsed in full


def test_a_vendor_file_is_mostly_left_uninterpreted() -> None:
    vendor = "".join(f'KERNEL=="sd{i}", SUBSYSTEM=="block", GROUP="disk"\n' for i in range(2000))
    wanted = parse_rules('SUBSYSTEM=="block", KERNEL=="sd1999", GROUP="disk"\n').rules
    keep = could_hold(wanted)
    assert keep is not None
    selected = rules_selected(vendor + 'ACTION=="add", KERNEL==e"\\x73d1999"\n', keep)
    assert selected is not None
    # the line with the value and the e"..." line (whose value the text cannot show)
    assert [r.line for r in selected] == [2000, 2001]


def test_a_rule_without_a_plain_match_value_gives_no_test() -> None:
    wanted = parse_rules('PROGRAM=="/bin/true", RUN+="/bin/x %k"\n').rules
    assert could_hold(wanted) is None


def test_a_value_udev_reads_as_another_is_no_probe() -> None:
    # SUBSYSTEM=="bus" and =="class" are read as =="subsystem": a line written either way
    # holds the rule, and must be interpreted (udevadm test 252 logs the same rewrite).
    for wanted, written in (('SUBSYSTEM=="subsystem", RUN+="x"', 'SUBSYSTEM=="bus", RUN+="x"'),
                            ('SUBSYSTEM=="bus", RUN+="x"', 'SUBSYSTEM=="class", RUN+="x"')):
        [rule] = parse_rules(wanted).rules
        assert rule.canonical == parse_rules(written).rules[0].canonical
        keep = could_hold([rule])
        assert keep is None or keep(written)
