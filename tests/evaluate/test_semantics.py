"""Each of udev 252's rule semantics, by hand-written cases (the differential test proves
them against the real udevd; these say which rule of udev-rules.c each one is)."""

from __future__ import annotations

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.facts import DeviceFacts, NodeFacts
from checker.evaluate.glob import Matcher, fnmatch
from checker.evaluate.priority import Claim, link_owner
from checker.evaluate.result import Evaluation
from checker.evaluate.values import Tri, Unknown

DISK = NodeFacts("sdb", "block", None, "/devices/pci0000:00/0000:00:10.0/host2/target2:0:1/2:0:1:0/block/sdb",
                 {"size": "2048", "ro": "0", "model": "VBOX   "}, frozenset({"queue"}),
                 attributes_complete=True, devname="/dev/sdb",
                 entries=frozenset({"size", "ro", "model", "queue"}))  # fmt: skip
SCSI = NodeFacts("2:0:1:0", "scsi", "sd", "/devices/pci0000:00/0000:00:10.0/host2/target2:0:1/2:0:1:0",
                 {"vendor": "ATA     ", "type": "0"}, attributes_complete=True)  # fmt: skip
TARGET = NodeFacts("target2:0:1", "scsi", None, "/devices/pci0000:00/0000:00:10.0/host2/target2:0:1",
                   {}, attributes_complete=True)  # fmt: skip
HOST = NodeFacts("host2", "scsi", None, "/devices/pci0000:00/0000:00:10.0/host2", {}, attributes_complete=True)
PCI = NodeFacts("0000:00:10.0", "pci", "mptspi", "/devices/pci0000:00/0000:00:10.0",
                {"vendor": "0x1000"}, attributes_complete=True)  # fmt: skip


def facts(action: str = "add", **changes: object) -> DeviceFacts:
    base = dict(
        action=action, node=DISK, devtype="disk", devnum=(8, 16),
        properties={"ACTION": action, "DEVPATH": DISK.devpath, "SUBSYSTEM": "block",
                    "DEVNAME": "/dev/sdb", "DEVTYPE": "disk", "MAJOR": "8", "MINOR": "16"},
        properties_complete=True, unknown_properties=frozenset({"SEQNUM"}),
        parents=(SCSI, TARGET, HOST, PCI), parents_complete=True, db_tags=frozenset(),
    )  # fmt: skip
    base.update(changes)
    return DeviceFacts(**base)  # type: ignore[arg-type]


def run(*files: tuple[str, str], device: DeviceFacts | None = None) -> Evaluation:
    return evaluate(RuleSet.from_texts(files), device or facts())


def links(ev: Evaluation) -> dict[str, Tri]:
    return dict(ev.links.members)


# --- patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text", "expected"), [
    ("sd*", "sdb", Tri.YES), ("sd?", "sdb", Tri.YES), ("sd[a-c]", "sdb", Tri.YES),
    ("sd[!b]", "sdb", Tri.NO), ("sd[^b]", "sdb", Tri.NO), ("vd*|sd*", "sdb", Tri.YES),
    ("vd*|", "", Tri.YES), ("|vd*", "", Tri.YES), ("vd*", "", Tri.NO), ("", "", Tri.YES),
    ("", "sdb", Tri.NO), ("sdb|sdc", "sdc", Tri.YES), ("sd\\*", "sd*", Tri.YES),
    ("sd\\*", "sdb", Tri.NO), ("*/sdb", "/devices/x/sdb", Tri.YES), ("sd[[:alpha:]]", "sdb", Tri.YES),
    ("sd[[:digit:]]", "sdb", Tri.NO), ("[", "[", Tri.YES), ("sd[]b]", "sdb", Tri.YES),
])  # fmt: skip
def test_values_match_as_token_match_string_does(value: str, text: str, expected: Tri) -> None:
    assert Matcher.of(value).matches(text) is expected


def test_subsystem_bus_and_class_mean_subsystem() -> None:
    assert Matcher.of("bus", subsystem=True).matches("subsystem") is Tri.YES
    assert Matcher.of("subsystem", subsystem=True).matches("class") is Tri.YES
    assert Matcher.of("bus", subsystem=False).matches("subsystem") is Tri.NO


def test_a_glob_the_module_cannot_translate_is_unknown() -> None:
    assert fnmatch("sd[[=b=]]", "sdb") is Tri.UNKNOWN


# --- match keys ---------------------------------------------------------------------------


def test_an_attribute_that_is_not_there_fails_the_key_whatever_its_operator() -> None:
    ev = run(("50.rules", 'ATTR{nothere}!="x", SYMLINK+="a"\nATTR{size}!="x", SYMLINK+="b"\n'))
    assert ev.link("a") is Tri.NO and ev.link("b") is Tri.YES


def test_trailing_whitespace_of_an_attribute_is_ignored_unless_the_value_ends_in_space() -> None:
    ev = run(("50.rules", 'ATTR{model}=="VBOX", SYMLINK+="a"\nATTR{model}=="VBOX   ", SYMLINK+="b"\n'
                          'ATTR{model}=="VBOX ", SYMLINK+="c"\n'))  # fmt: skip
    assert (ev.link("a"), ev.link("b"), ev.link("c")) == (Tri.YES, Tri.YES, Tri.NO)


def test_an_attribute_not_in_the_facts_makes_the_rule_unknown() -> None:
    ev = run(("50.rules", 'ATTR{queue/rotational}=="0", SYMLINK+="a"\n'))
    assert ev.link("a") is Tri.UNKNOWN
    assert ev.link("b") is Tri.NO  # other answers stay decided


def test_all_parent_keys_of_a_rule_must_match_on_one_device() -> None:
    ev = run(("50.rules", 'KERNELS=="2:0:1:0", DRIVERS=="mptspi", SYMLINK+="split"\n'
                          'KERNELS=="0000:00:10.0", DRIVERS=="mptspi", SYMLINK+="one"\n'
                          'SUBSYSTEMS=="scsi", ATTRS{vendor}=="ATA", SYMLINK+="trimmed"\n'))  # fmt: skip
    assert ev.link("split") is Tri.NO
    assert ev.link("one") is Tri.YES
    assert ev.link("trimmed") is Tri.YES


def test_the_parent_walk_starts_at_the_device_itself() -> None:
    ev = run(("50.rules", 'KERNELS=="sdb", SUBSYSTEMS=="block", SYMLINK+="self"\n'))
    assert ev.link("self") is Tri.YES


def test_id_and_driver_come_from_the_device_the_parent_keys_matched() -> None:
    ev = run(("50.rules", 'SUBSYSTEMS=="scsi", DRIVERS=="sd", SYMLINK+="by-scsi/%b-$driver"\n'
                          'KERNEL=="sdb", SYMLINK+="later/%b"\n'))  # fmt: skip
    assert set(links(ev)) == {"by-scsi/2:0:1:0-sd", "later/2:0:1:0"}  # dev_parent stays set


def test_env_matches_see_properties_as_the_rules_so_far_set_them() -> None:
    ev = run(("10-a.rules", 'ENV{X}=="1", SYMLINK+="early"\n'),
             ("50-b.rules", 'KERNEL=="sdb", ENV{X}="1"\n'),
             ("60-c.rules", 'ENV{X}=="1", SYMLINK+="late"\n'))
    assert ev.link("early") is Tri.NO and ev.link("late") is Tri.YES
    assert "set only later, by 50-b.rules:1" in (ev.cause("early") or "")


def test_env_plus_appends_with_a_space_and_empty_removes() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", ENV{A}="x", ENV{A}+="y", ENV{B}="1"\nKERNEL=="sdb", ENV{B}=""\n'))
    assert ev.prop("A") == "x y" and ev.prop("B") is None


def test_kernel_properties_are_known_and_others_absent() -> None:
    ev = run(("50.rules", 'ENV{DEVTYPE}=="disk", ENV{ID_SERIAL}=="", SYMLINK+="a"\nENV{SEQNUM}=="1", SYMLINK+="b"\n'))
    assert ev.link("a") is Tri.YES and ev.link("b") is Tri.UNKNOWN


def test_symlink_match_sees_links_set_so_far() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", SYMLINK+="x/1"\nSYMLINK=="x/*", SYMLINK+="seen"\n'))
    assert ev.link("seen") is Tri.YES


def test_tag_match_on_a_tag_only_in_the_database_depends_on_the_worker() -> None:
    # udevd 252 matched it in a new worker only (tests/evaluate/test_db_tags_real.py)
    kept = run(("50.rules", 'TAG=="old", SYMLINK+="a"\n'), device=facts(db_tags=frozenset({"old"})))
    unknown = run(("50.rules", 'TAG=="old", SYMLINK+="a"\n'), device=facts(db_tags=None))
    never = run(("50.rules", 'TAG=="old", SYMLINK+="a"\n'), device=facts(db_tags=frozenset()))
    assert kept.link("a") is Tri.UNKNOWN and unknown.link("a") is Tri.UNKNOWN and never.link("a") is Tri.NO
    now = run(("50.rules", 'TAG+="old"\nTAG=="old", SYMLINK+="a"\n'), device=facts(db_tags=None))
    assert now.link("a") is Tri.YES
    cleared = run(("50.rules", 'TAG="new"\nTAG=="old", SYMLINK+="a"\n'), device=facts(db_tags=None))
    assert cleared.link("a") is Tri.NO


def test_test_key_on_a_known_attribute() -> None:
    ev = run(("50.rules", 'TEST=="size", SYMLINK+="a"\nTEST=="nothere", SYMLINK+="b"\nTEST=="/etc/x", SYMLINK+="c"\n'
                          'TEST=="queue", SYMLINK+="d"\nTEST=="queue/rotational", SYMLINK+="e"\n'))  # fmt: skip
    assert [ev.link(x) for x in "abcde"] == [Tri.YES, Tri.NO, Tri.UNKNOWN, Tri.YES, Tri.UNKNOWN]


# --- GOTO and LABEL ---------------------------------------------------------------------------


def test_goto_skips_to_its_label_in_the_same_file_only() -> None:
    ev = run(("10-a.rules", 'KERNEL=="sd*", GOTO="end"\nKERNEL=="sdb", SYMLINK+="skipped"\nLABEL="end"\n'
                            'KERNEL=="sdb", SYMLINK+="after"\n'),
             ("20-b.rules", 'KERNEL=="sdb", SYMLINK+="other-file"\n'))  # fmt: skip
    assert set(links(ev)) == {"after", "other-file"}
    assert ev.cause("skipped") == "the rule at 10-a.rules:2 is skipped by the GOTO at 10-a.rules:1"


def test_a_goto_whose_label_comes_before_it_is_ignored_and_the_rule_still_acts() -> None:
    ev = run(("10-a.rules", 'LABEL="end"\nKERNEL=="sdb", SYMLINK+="goto-rule", GOTO="end"\n'
                            'KERNEL=="sdb", SYMLINK+="kept"\n'))  # fmt: skip
    assert set(links(ev)) == {"goto-rule", "kept"}


def test_an_unknown_goto_makes_the_skipped_rules_unknown_and_joins_at_the_label() -> None:
    ev = run(("10-a.rules", 'PROGRAM=="/bin/check", GOTO="end"\nKERNEL=="sdb", SYMLINK+="maybe"\n'
                            'LABEL="end"\nKERNEL=="sdb", SYMLINK+="sure"\n'))  # fmt: skip
    assert ev.link("maybe") is Tri.UNKNOWN and ev.link("sure") is Tri.YES


# --- list assignments -------------------------------------------------------------------------


def test_symlink_assign_resets_the_list_even_from_earlier_files() -> None:
    ev = run(("50-udev.rules", 'KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'),
             ("60-x.rules", 'KERNEL=="sdb", SYMLINK="other/%k"\n'))
    assert set(links(ev)) == {"other/sdb"}
    assert ev.cause("xapi/block/sdb") == "replaced by the SYMLINK= at 60-x.rules:1 (after 50-udev.rules:1 added it)"


def test_symlink_final_ignores_every_later_symlink_assignment() -> None:
    ev = run(("10-f.rules", 'KERNEL=="sdb", SYMLINK:="fixed/%k"\n'),
             ("50-udev.rules", 'KERNEL=="sdb", SYMLINK+="xapi/block/%k"\nKERNEL=="sdb", SYMLINK="reset"\n'))
    assert set(links(ev)) == {"fixed/sdb"}
    assert "made final by the SYMLINK:= at 10-f.rules:1" in (ev.cause("xapi/block/sdb") or "")


def test_a_value_with_spaces_makes_several_links() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", SYMLINK+="  a  b c "\n'))
    assert set(links(ev)) == {"a", "b", "c"}


def test_substituted_whitespace_becomes_underscores_unless_string_escape_none() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", SYMLINK+="m/%s{model}x"\n'
                          'KERNEL=="sdb", ATTRS{vendor}=="ATA*", SYMLINK+="v/%s{vendor}"\n'))  # fmt: skip
    assert set(links(ev)) == {"m/VBOXx", "v/ATA"}
    raw = run(("50.rules", 'KERNEL=="sdb", ENV{M}="a b", OPTIONS="string_escape=none", SYMLINK+="n/$env{M}"\n'
                           'KERNEL=="sdb", SYMLINK+="u/$env{M}"\n'))  # fmt: skip
    assert set(links(raw)) == {"n/a", "b", "u/a_b"}


def test_characters_udev_does_not_want_in_a_link_become_underscores() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", SYMLINK+="t/$$x", SYMLINK+="t/x%%y"\n'))
    assert set(links(ev)) == {"t/_x", "t/x_y"}


def test_run_lists_and_their_final_form() -> None:
    ev = run(("10.rules", 'KERNEL=="sdb", RUN+="/bin/a %k"\n'),
             ("20.rules", 'KERNEL=="sdb", RUN:="/bin/b"\nKERNEL=="sdb", RUN+="/bin/c"\n'))
    assert (ev.runs("/bin/a sdb"), ev.runs("/bin/b"), ev.runs("/bin/c")) == (Tri.NO, Tri.YES, Tri.NO)


def test_link_priority_is_reported_per_device() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", OPTIONS+="link_priority=-10", SYMLINK+="shared"\n'))
    assert ev.link_priority == -10


def test_on_remove_a_line_that_only_sets_links_does_not_run() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", SYMLINK+="a"\nKERNEL=="sdb", RUN+="/bin/gone %k"\n'),
             device=facts(action="remove", db_links=frozenset(), db_properties={}))
    assert ev.link("a") is Tri.NO and ev.runs("/bin/gone sdb") is Tri.YES


# --- substitutions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "expected"), [
    ("%k", "sdb"), ("$kernel", "sdb"), ("%n", ""), ("%M:%m", "8:16"), ("$major-$minor", "8-16"),
    ("%p", DISK.devpath), ("%N", "/dev/sdb"), ("$devnode", "/dev/sdb"), ("%r/x", "/dev/x"), ("%S", "/sys"),
    ("%s{size}", "2048"), ("$attr{size}", "2048"), ("%E{DEVTYPE}", "disk"), ("$env{NOPE}x", "x"),
    ("%%k", "%k"), ("$$kernel", "$kernel"), ("100%", "100%"), ("%P", ""), ("$name", "sdb"),
    ("%E{unclosed", ""), ("a%E{}b", "a"),
])  # fmt: skip
def test_substitutions(template: str, expected: str) -> None:
    ev = run(("50.rules", f'KERNEL=="sdb", ENV{{OUT}}="{template}"\n'))
    assert ev.prop("OUT") == expected


def test_result_parts() -> None:
    from checker.evaluate.substitute import _result

    assert _result("", "a b  c") == "a b  c"
    assert _result("2", "a b  c") == "b"
    assert _result("2+", "a b  c") == "b  c"
    assert _result("4", "a b  c") == ""


# --- three-valued -------------------------------------------------------------------------------


def test_program_output_is_unknown_and_so_is_result() -> None:
    ev = run(("50.rules", 'PROGRAM=="/bin/id %k", RESULT=="x", SYMLINK+="a"\nKERNEL=="sdb", SYMLINK+="b/%c"\n'))
    assert ev.link("a") is Tri.UNKNOWN
    assert ev.link("b/anything") is Tri.UNKNOWN and ev.link("c/x") is Tri.NO


def test_a_builtin_taints_only_what_it_can_set() -> None:
    ev = run(("40.rules", 'IMPORT{builtin}="path_id"\n'),
             ("50.rules", 'ENV{ID_PATH}=="pci-*", SYMLINK+="by-path"\nENV{ID_SERIAL}=="x", SYMLINK+="serial"\n'))
    assert ev.link("by-path") is Tri.UNKNOWN and ev.link("serial") is Tri.NO


def test_an_imported_program_may_set_anything() -> None:
    ev = run(("40.rules", 'IMPORT{program}="/bin/probe %k"\n'),
             ("50.rules", 'ENV{ID_SERIAL}=="x", SYMLINK+="serial"\n'))
    assert ev.link("serial") is Tri.UNKNOWN
    assert ev.cause("serial") is not None


def test_known_builtin_results_are_used() -> None:
    device = facts(builtins={"path_id": (True, {"ID_PATH": "pci-0000:00:10.0-scsi-0:0:1:0"})})
    ev = run(("40.rules", 'IMPORT{builtin}="path_id"\n'),
             ("50.rules", 'ENV{ID_PATH}=="pci-*", SYMLINK+="disk/by-path/$env{ID_PATH}"\n'), device=device)
    assert set(links(ev)) == {"disk/by-path/pci-0000:00:10.0-scsi-0:0:1:0"}


def test_unknown_link_names_keep_what_is_known_of_them() -> None:
    ev = run(("50.rules", 'KERNEL=="sdb", SYMLINK+="disk/by-id/$attr{queue/x}"\n'))
    assert ev.link("disk/by-id/anything") is Tri.UNKNOWN and ev.link("xapi/block/sdb") is Tri.NO


def test_the_trace_says_what_each_rule_did() -> None:
    ev = run(("50.rules", 'KERNEL=="sda", SYMLINK+="a"\nKERNEL=="sdb", SYMLINK+="b"\n'))
    assert [(str(s.where), s.status) for s in ev.steps] == [("50.rules:1", "not-matched"), ("50.rules:2", "matched")]
    assert ev.steps[0].why == 'KERNEL=="sda"' and ev.steps[1].effects == ('SYMLINK+="b"',)


# --- link priority ----------------------------------------------------------------------------


def test_the_highest_priority_owns_a_link() -> None:
    claims = [Claim("sdb", Tri.YES, 10), Claim("sdc", Tri.YES, 0), Claim("sdd", Tri.NO, 99)]
    assert link_owner("shared", claims) == "sdb"


def test_a_tie_goes_to_the_device_processed_last_or_is_unknown() -> None:
    claims = [Claim("sdb", Tri.YES, 0), Claim("sdc", Tri.YES, 0)]
    assert link_owner("shared", claims, processed_last=("sdc", "sdb")) == "sdb"
    assert isinstance(link_owner("shared", claims), Unknown)


def test_an_unknown_claim_makes_the_owner_unknown() -> None:
    assert isinstance(link_owner("shared", [Claim("sdb", Tri.UNKNOWN, 0), Claim("sdc", Tri.YES, 0)]), Unknown)
    assert link_owner("shared", [Claim("sdb", Tri.NO, 0)]) is None


def test_a_partly_known_value_keeps_its_literal_glob_characters_literal() -> None:
    from checker.evaluate.values import Unknown, escape_pattern

    pattern = escape_pattern("a*b[c]\\d?") + "*"
    assert Unknown(pattern).could_be("a*b[c]\\d?-tail")
    assert not Unknown(pattern).could_be("axb[c]\\d?-tail")


def test_a_device_known_only_from_its_node_decides_what_follows_from_the_node() -> None:
    from checker.evaluate.facts import block_device_facts

    device = block_device_facts("sdb", (8, 16), "disk")
    ev = run(("50-udev.rules", 'ACTION=="add", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'
                               'ENV{ID_SERIAL}=="x", SYMLINK+="serial"\nATTR{size}=="0", SYMLINK+="attr"\n'
                               'DEVPATH=="*/sdb", SYMLINK+="path"\nENV{DEVTYPE}=="disk", SYMLINK+="type"\n'),
             device=device)  # fmt: skip
    assert ev.link("xapi/block/sdb") is Tri.YES and ev.link("serial") is Tri.NO
    assert ev.link("attr") is Tri.UNKNOWN and ev.link("path") is Tri.UNKNOWN and ev.link("type") is Tri.YES


def test_on_remove_the_rules_see_what_the_database_held() -> None:
    rules = ('50.rules', 'ENV{ID_SERIAL}=="abc", RUN+="/bin/gone-serial"\nSYMLINK=="xapi/*", RUN+="/bin/gone-link"\n')
    unknown = run(rules, device=facts(action="remove", properties_complete=False, db_tags=None))
    assert unknown.runs("/bin/gone-serial") is Tri.UNKNOWN and unknown.runs("/bin/gone-link") is Tri.UNKNOWN
    known = run(rules, device=facts(action="remove", db_properties={"ID_SERIAL": "abc"},
                                    db_links=frozenset({"xapi/block/sdb"})))
    assert known.runs("/bin/gone-serial") is Tri.YES and known.runs("/bin/gone-link") is Tri.YES


def test_a_link_that_is_a_directory_of_another_has_no_decided_owner() -> None:
    claims = [Claim("sdb", Tri.YES, 0)]
    assert isinstance(link_owner("t/0/x", claims, other_links={"t/0", "t/0/x"}), Unknown)
    assert link_owner("t/0/x", claims, other_links={"t/01", "t/0/x"}) == "sdb"
