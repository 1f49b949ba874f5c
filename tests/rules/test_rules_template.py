"""One reading of `%`/`$` templates: the canonical form and the evaluator's expansion are
built from the same pieces (checker.rules.template.scan)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.evaluate import substitute
from checker.evaluate.facts import DeviceFacts, NodeFacts
from checker.evaluate.values import Unknown, Value
from checker.rules import canonical

FRAGMENTS = ["%", "$", "%%", "$$", "{", "}", "{}", "{x}", "{ID_A}", "{ID_U}", "{1}", "{2+}", "{0}",
             "{size}", "{model}", "{vendor}", "{[block/sda]size}", "{" + "a" * 1024 + "}",
             "kernel", "env", "attr", "sysfs", "result", "links", "sys", "sysfs", "devnode",
             "tempnode", "number", "driver", "devpath", "id", "major", "minor", "parent", "name",
             "root", "k", "s", "E", "c", "n", "N", "b", "d", "p", "M", "m", "P", "D", "L", "r", "S",
             "x", "é", " ", "\t", "/", "\udcff", "+",
             "%k", "$kernel", "%s{", "$attr{", "%E{", "$env{", "%c{", "%b", "$id", "%n", "$links"]
TEMPLATES = st.lists(st.sampled_from(FRAGMENTS) | st.text(alphabet="ab/ %${}k+1", max_size=3),
                     max_size=12).map("".join)


@settings(max_examples=3000, deadline=None)
@given(TEMPLATES)
def test_the_canonical_form_is_the_old_one(template: str) -> None:
    assert canonical.normalize_substitutions(template) == canonical.normalize_substitutions_old(template)


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
def test_the_expansion_is_the_old_one(template: str, result: Value, dev_parent: int | None | Unknown,
                                      name: Value, devnum: bool, replace_whitespace: bool, size: int,
                                      used: int) -> None:
    ctx = context(result, dev_parent, name, devnum)
    assert substitute._expand(template, ctx, replace_whitespace, size, used) == \
        substitute._expand_old(template, ctx, replace_whitespace, size, used)
