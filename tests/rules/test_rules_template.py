"""One reading of `%`/`$` templates (checker.rules.template.scan): its pieces agree with a
reference read the other way (a regular expression over udev's own table), and the
canonical form built from them means what the value means: the evaluator, expanding both,
gets the same."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.evaluate import substitute
from checker.evaluate.facts import DeviceFacts, NodeFacts
from checker.evaluate.values import Unknown, Value
from checker.rules.canonical import normalize_substitutions
from checker.rules.template import SIGN, STOP, SUBST, TEXT, Piece, scan

FRAGMENTS = ["%", "$", "%%", "$$", "{", "}", "{}", "{x}", "{ID_A}", "{ID_U}", "{1}", "{2+}", "{0}",
             "{size}", "{model}", "{vendor}", "{[block/sda]size}", "{" + "a" * 1023 + "}",
             "{" + "a" * 1024 + "}", "kernel", "env", "attr", "sysfs", "result", "links", "sys",
             "devnode", "tempnode", "number", "driver", "devpath", "id", "major", "minor", "parent",
             "name", "root", "k", "s", "E", "c", "n", "N", "b", "d", "p", "M", "m", "P", "D", "L", "r",
             "S", "x", "é", " ", "\t", "/", "\udcff", "+",
             "%k", "$kernel", "%s{", "$attr{", "%E{", "$env{", "%c{", "%b", "$id", "%n", "$links"]
TEMPLATES = st.lists(st.sampled_from(FRAGMENTS) | st.text(alphabet="ab/ %${}k+1", max_size=3),
                     max_size=12).map("".join)

# udev-event.c (systemd 252) map[], in its order: "$name" takes the first name it starts with
UDEV_MAP = [("devnode", "N"), ("tempnode", "N"), ("attr", "s"), ("sysfs", "s"), ("env", "E"),
            ("kernel", "k"), ("number", "n"), ("driver", "d"), ("devpath", "p"), ("id", "b"),
            ("major", "M"), ("minor", "m"), ("result", "c"), ("parent", "P"), ("name", "D"),
            ("links", "L"), ("root", "r"), ("sys", "S")]
_REFERENCE = re.compile(
    r"(?P<sign>%%|\$\$)|%(?P<char>[" + "".join(sorted({c for _, c in UDEV_MAP})) + r"])"
    r"|\$(?P<name>" + "|".join(name for name, _ in UDEV_MAP) + r")|(?P<lone>[%$])|(?P<text>[^%$]+)")
_ARG = re.compile(r"\{([^}]{1,1023})\}")


def reference(value: str) -> list[Piece]:
    pieces: list[Piece] = []
    at = 0
    while at < len(value):
        found = _REFERENCE.match(value, at)
        assert found is not None
        if found["text"]:
            pieces.append(Piece(TEXT, found[0]))
        elif found["sign"] or found["lone"]:
            pieces.append(Piece(SIGN, found[0], found[0][0]))
        else:
            char = found["char"] or dict(UDEV_MAP)[found["name"]]
            if value.startswith("{", found.end()):
                arg = _ARG.match(value, found.end())
                if arg is None:  # unclosed, empty or too long: udev stops
                    pieces.append(Piece(STOP, value[at:]))
                    break
                pieces.append(Piece(SUBST, value[at:arg.end()], char, arg[1]))
                at = arg.end()
                continue
            pieces.append(Piece(SUBST, found[0], char))
        at = found.end()
    return pieces


@settings(max_examples=3000, deadline=None)
@given(TEMPLATES)
def test_the_scanner_reads_a_value_as_the_reference_does(template: str) -> None:
    pieces = scan(template)
    assert list(pieces) == reference(template)
    assert "".join(piece.raw for piece in pieces) == template


def test_the_canonical_form_spells_each_piece_the_short_way() -> None:
    assert normalize_substitutions("$kernel-%k$$%%$env{ID_A}%s{size}") == "%k-%k$$%%%E{ID_A}%s{size}"
    assert normalize_substitutions("50% of $HOME %z") == "50%% of $$HOME %%z"
    assert normalize_substitutions("$sysfs{a}$system") == "%s{a}%Stem"  # "$sys" is a prefix
    # an empty or unclosed {...} ends udev's walk: the rest is kept as written
    assert normalize_substitutions("a$kernel{}$env{X}") == "a$kernel{}$env{X}"
    assert normalize_substitutions("$id%c{1") == "%b%c{1"


PROPERTIES: dict[str, Value] = {"ID_A": "a  b", "ID_U": Unknown("*", "unknown"), "DEVLINKS": "/dev/x /dev/y"}
PARENT = NodeFacts("2:0:1:0", "scsi", "sd", "/devices/pci0/host2/2:0:1:0", {"model": "Virtual disk  "},
                   attributes_complete=True)
DISK = NodeFacts("sdb1", "block", None, "/devices/pci0/host2/2:0:1:0/block/sdb1",
                 {"size": "41943040", "vendor": "VM\tware "}, devname="/dev/sdb1")


def context(result: Value, dev_parent: int | None | Unknown, name: Value, devnum: bool) -> substitute.Context:
    facts = DeviceFacts("add", DISK, "partition", (8, 17) if devnum else None, parents=(PARENT,),
                        parents_complete=True)
    return substitute.Context(facts=facts, prop=lambda key: PROPERTIES.get(key), program_result=result,
                              dev_parent=dev_parent, links=lambda: PROPERTIES["DEVLINKS"], name=name,
                              attr=lambda node, key: node.attribute(key))


@settings(max_examples=3000, deadline=None)
@given(TEMPLATES,
       st.sampled_from([None, "", "one  two three ", Unknown("*", "program")]),
       st.sampled_from([None, 0, 1, 5, Unknown("*", "parent")]),
       st.sampled_from(["", "net0", Unknown("*", "name")]),
       st.booleans(), st.booleans(), st.sampled_from([0, 4, 16, 64, 1024]), st.sampled_from([0, 3]))
def test_the_canonical_form_expands_as_the_value_does(template: str, result: Value,
                                                      dev_parent: int | None | Unknown, name: Value,
                                                      devnum: bool, replace_whitespace: bool, size: int,
                                                      used: int) -> None:
    ctx = context(result, dev_parent, name, devnum)
    short = normalize_substitutions(template)
    assert normalize_substitutions(short) == short
    assert substitute.expand_within(short, ctx, size, replace_whitespace, used) == \
        substitute.expand_within(template, ctx, size, replace_whitespace, used)
