"""adopt on hostile hosts: file names, rules, serials and notes written to stop a YAML
comment or scalar early, leftovers linked out of the tree, a policy directory linked
elsewhere, files a policy cannot carry. adopt must print exactly the entries it means,
read and write only inside the tree, and leave out only what it cannot adopt, saying why."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from checker.adopt import render as rendering
from checker.adopt.links import AdoptedLink
from checker.adopt.plan import AdoptedRules, Adoption
from checker.adopt.template import Piece
from checker.policy.loader import parse_yaml
from tests.adopt.test_adopt import VENDOR, vendor_host
from tests.adopt.test_adopt_corpus import marker_only
from tests.conftest import HostTree, Result

Run = Callable[..., Result]
POLICY = "/etc/udev-drift/policies.d/adopted.yaml"
RULES_DIR = "/etc/udev/rules.d"
# Every kind of line break YAML (or PyYAML) ends a comment or a plain scalar at.
BREAKS = ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029"]


def checked(tree: HostTree, udev_drift: Run, *args: str) -> Result:
    return udev_drift("check", "--root", tree.root, "--skip-policy-permission-check", *args)


def injected_name(brk: str) -> str:
    """A rules file name that, written raw into a comment, ends it and adds an entry for
    /etc/udev/rules.d/50-evil.rules (YAML's \\x2f escapes pass the no-'/' rule)."""
    return ('61-a' + brk + '  - file: "\\x2fetc\\x2fudev\\x2frules.d\\x2f50-evil.rules"' + brk
            + '    ensure: file' + brk + '    content: "RUN+=\\"\\x2fbin\\x2fsh -c id\\"\\n"' + brk + '#.rules')


class TestNamesStayInTheirComment:
    @pytest.mark.parametrize("brk", BREAKS, ids=["LF", "CR", "CRLF", "NEL", "LS", "PS"])
    def test_a_file_name_with_a_line_break_adds_no_policy_entry(self, tree: HostTree, udev_drift: Run,
                                                                 brk: str) -> None:
        name = injected_name(brk)
        tree.write(f"{RULES_DIR}/{name}", 'KERNEL=="sdq", SYMLINK+="backup"\n', dedent=False)
        tree.write(f"{RULES_DIR}/62-b.rules", 'KERNEL=="sdr", SYMLINK+="other"\n', dedent=False)
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 0, result.err
        written = tree.read(POLICY)
        files = [entry["file"] for entry in yaml.safe_load(written)["rules"]]
        assert f"{RULES_DIR}/50-evil.rules" not in files
        assert set(files) <= {f"{RULES_DIR}/{name}", f"{RULES_DIR}/62-b.rules"}
        assert f"{RULES_DIR}/62-b.rules" in files
        assert checked(tree, udev_drift, "--repair").status == 0
        assert not tree.path(f"{RULES_DIR}/50-evil.rules").exists()

    def test_a_name_with_terminal_escapes_is_shown_not_obeyed_in_notes(self, tree: HostTree,
                                                                       udev_drift: Run) -> None:
        tree.write(f"{RULES_DIR}/61-\x1b]0;owned\x07\x1b[2J.rules", "# no rule here\n", dedent=False)
        tree.write(f"{RULES_DIR}/62-b.rules", 'KERNEL=="sdr", SYMLINK+="other"\n', dedent=False)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert "\x1b" not in result.err and "\x07" not in result.err
        assert "61-\\x1b]0;owned\\x07\\x1b[2J.rules: holds no rule" in result.err


# Text no renderer may let out of its place: every kind of line break, YAML's indicators,
# the placeholder, controls (C0, C1), bidirectional overrides, non-characters.
HOSTILE = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.lists(st.sampled_from(["\n", "\r", "\x85", "\u2028", "\u2029", "\x00", "\x1b", "\t", " ", "#", "'", '"',
                              ":", ": ", ",", "[", "]", "{", "}", "{{ item }}", "- ", "&a", "*a", "!!int",
                              "%", "@", "`", "|", ">", "?", "\\", "\ufeff", "\ufffe", "\U0001f600", "\u202e",
                              "sdb", "0x5", "yes", "~", "null", "1e3", "..."]), max_size=12).map("".join),
)


@settings(max_examples=400, deadline=None)
# Cases once found: a tag alone (PyYAML's IndexError), a tab-led block (libyaml refuses it).
@example(name="!!int", rule="\t", serial="WD-1, sda]", note="x\u2028- file: y", items=["sdx, sda", "sdx]"])
@example(name="a\r\n  - file: /x", rule=" \x85x\n\n", serial="{{ item }}", note="\x1b[2J#", items=["'", '"'])
@given(name=HOSTILE, rule=HOSTILE, serial=HOSTILE, note=HOSTILE, items=st.lists(HOSTILE, min_size=1, max_size=4))
def test_any_text_stays_one_value_of_the_rendered_policy(name: str, rule: str, serial: str, note: str,
                                                         items: list[str]) -> None:
    """The renderer alone (the validator would refuse much of this): whatever the text, the
    document loads back as exactly the entries meant, each text as one whole value."""
    adoption = Adoption(
        rules=[AdoptedRules(f"/etc/udev/rules.d/{name}", "block", Piece(rule), (note, name)),
               AdoptedRules(name, "file", Piece(rule, tuple(items)), (note,))],
        links=[AdoptedLink(f"/dev/{name}", None, ("serial", serial)),
               AdoptedLink(name, f"/dev/{serial}", items=tuple(items), missing_now=True)])
    text = rendering.render_unchecked(adoption, "adopted")
    loaded = yaml.safe_load(text)
    assert parse_yaml(text, "<adopted>")[0] == loaded  # the policy loader reads it the same
    assert loaded == {
        "version": 1, "name": "adopted",
        "description": "Rules and links adopted from this host by udev-drift adopt",
        "rules": [{"file": f"/etc/udev/rules.d/{name}", "ensure": "block", "content": rule},
                  {"file": name, "ensure": "file", "for_each": items, "content": rule}],
        "symlinks": [{"link": f"/dev/{name}", "device": {"serial": serial}, "required": False},
                     {"link": name, "for_each": items, "target": f"/dev/{serial}", "required": False}]}


class TestForEachItems:
    def test_an_item_holding_a_comma_stays_one_item_and_the_repair_writes_no_new_rule(
            self, tree: HostTree, udev_drift: Run) -> None:
        text = 'KERNEL=="sdx, sda", RUN+="/bin/true"\nKERNEL=="sdc", RUN+="/bin/true"\n'
        tree.write(f"{RULES_DIR}/61-local.rules", text, dedent=False)
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 0, result.err
        [entry] = yaml.safe_load(tree.read(POLICY))["rules"]
        assert entry["for_each"] == ["sdx, sda", "sdc"]
        assert checked(tree, udev_drift, "--repair").status == 0
        assert tree.read(f"{RULES_DIR}/61-local.rules") == text  # never KERNEL=="sda"

    @pytest.mark.parametrize("value", ["sdx]", "sdx, sdy]", "'sdx'", "sdx #1", "sdx: 1"])
    def test_an_item_holding_a_flow_indicator_is_adopted_as_it_is(self, tree: HostTree, udev_drift: Run,
                                                                   value: str) -> None:
        text = f'KERNEL=="{value}", RUN+="/bin/true"\nKERNEL=="sdc", RUN+="/bin/true"\n'
        tree.write(f"{RULES_DIR}/61-local.rules", text, dedent=False)
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 0, result.err
        [entry] = yaml.safe_load(tree.read(POLICY))["rules"]
        assert entry["for_each"] == [value, "sdc"]
        assert checked(tree, udev_drift, "--repair").status == 0
        assert tree.read(f"{RULES_DIR}/61-local.rules") == text

    @pytest.mark.parametrize("serial", ["WD-1,sda", "WD-1]", "WD-1}, path: x", "WD #1", "yes"])
    def test_a_serial_with_flow_indicators_stays_one_value(self, serial: str) -> None:
        adoption = Adoption(rules=[AdoptedRules("/etc/udev/rules.d/61-a.rules", "file", Piece('KERNEL=="sdb"\n'))],
                            links=[AdoptedLink("/dev/vm/b", None, ("serial", serial))])
        [link] = yaml.safe_load(rendering.render(adoption, "adopted"))["symlinks"]
        assert link["device"] == {"serial": serial}


class TestWriteStaysInTheTree:
    def test_a_policy_directory_linked_out_of_the_tree_is_written_inside_it(
            self, tree: HostTree, tmp_path: Path, udev_drift: Run) -> None:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        tree.link("/etc/udev-drift", str(elsewhere))
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 0, result.err
        assert list(elsewhere.iterdir()) == []  # nothing outside the tree
        inside = tree.path(f"{elsewhere}/policies.d/adopted.yaml")  # the link, as a chroot follows it
        assert inside.is_file()
        assert f"wrote {inside}" in result.err

    def test_a_policy_file_linked_out_of_the_tree_is_never_written_through(
            self, tree: HostTree, tmp_path: Path, udev_drift: Run) -> None:
        outside = tmp_path / "outside.yaml"
        tree.link(POLICY, str(outside))
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 2 and "exists already" in result.err
        assert not outside.exists()


class TestPristineCopiesAreReadInsideTheTree:
    SECRET = 'KERNEL=="secret-token", RUN+="/bin/true"\n'

    @pytest.mark.parametrize("suffix", [".rpmnew", ".dpkg-dist"])
    def test_a_leftover_linked_out_of_the_tree_is_not_read(self, tree: HostTree, tmp_path: Path,
                                                          udev_drift: Run, suffix: str) -> None:
        outside = tmp_path / "host-file"
        outside.write_text(VENDOR + self.SECRET)
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        tree.link(f"{RULES_DIR}/50-udev.rules{suffix}", str(outside))
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert "secret-token" not in result.out + result.err
        assert "(the vendor file of the same name)" in result.out  # the link was passed over
        assert f"50-udev.rules{suffix}: a symbolic link" in result.err

    def test_a_leftover_that_is_a_fifo_is_never_opened(self, tree: HostTree, udev_drift: Run) -> None:
        vendor_host(tree, VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n')
        os.mkfifo(tree.path(f"{RULES_DIR}/50-udev.rules.rpmnew"))
        result = udev_drift("adopt", "--root", tree.root)  # would wait for a writer for ever
        assert result.status == 0, result.err

    def test_a_vendor_file_swapped_for_a_fifo_after_the_check_is_never_waited_on(self, tmp_path: Path) -> None:
        # --vendor FILE is checked to be a regular file, then read: a local user who swaps
        # it for a FIFO in between (a copy kept in /tmp) must not hang adopt.
        from checker.adopt.pristine import read_text
        from checker.errors import UsageError

        fifo = tmp_path / "50-udev.rules"
        os.mkfifo(fifo)
        with pytest.raises(UsageError, match="a FIFO, not a regular file: not a rules file to compare with"):
            read_text(str(fifo))  # plain open() waited for a writer here for ever
        copy = tmp_path / "copy.rules"
        copy.write_text(VENDOR)
        (tmp_path / "link.rules").symlink_to(copy)  # the admin's own path: a link is followed
        assert read_text(str(tmp_path / "link.rules")) == VENDOR

    def test_the_vendor_file_linked_out_of_the_tree_is_not_read(self, tree: HostTree, tmp_path: Path,
                                                               udev_drift: Run) -> None:
        outside = tmp_path / "host-file"
        outside.write_text(VENDOR + self.SECRET)
        tree.write(f"{RULES_DIR}/50-udev.rules", VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n', dedent=False)
        tree.link("/usr/lib/udev/rules.d/50-udev.rules", str(outside))
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert "secret-token" not in result.out + result.err
        [entry] = yaml.safe_load(result.out)["rules"]
        assert entry["ensure"] == "file"  # no pristine copy inside the tree: the admin's own

    def test_a_vendor_directory_linked_out_of_the_tree_is_followed_inside_it(
            self, tree: HostTree, tmp_path: Path, udev_drift: Run) -> None:
        outside = tmp_path / "vendor-dir"
        outside.mkdir()
        (outside / "50-udev.rules").write_text(VENDOR + self.SECRET)
        tree.write(f"{RULES_DIR}/50-udev.rules", VENDOR + 'KERNEL=="sdq", SYMLINK+="backup"\n', dedent=False)
        tree.path("/usr/lib/udev").mkdir(parents=True)
        tree.link("/usr/lib/udev/rules.d", str(outside))
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert "secret-token" not in result.out + result.err


class TestOneFileDoesNotStopTheRun:
    @pytest.mark.parametrize("comment", ["# see {{ item }} below\n", "# }} and {{\n"])
    def test_a_comment_holding_a_placeholder_leaves_out_only_its_file(self, tree: HostTree, udev_drift: Run,
                                                                      comment: str) -> None:
        tree.write(f"{RULES_DIR}/61-a.rules", comment + 'KERNEL=="sdq", SYMLINK+="backup"\n', dedent=False)
        vendor_host(tree, VENDOR + 'KERNEL=="sdr", SYMLINK+="a"\n' + comment + 'KERNEL=="sds", SYMLINK+="b"\n')
        tree.write(f"{RULES_DIR}/62-b.rules", 'KERNEL=="sdt", SYMLINK+="other"\n', dedent=False)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert [e["file"] for e in yaml.safe_load(result.out)["rules"]] == [f"{RULES_DIR}/62-b.rules"]
        assert f"{RULES_DIR}/61-a.rules:1: holds '{{{{' or '}}}}'" in result.err
        assert f"{RULES_DIR}/50-udev.rules:9: holds '{{{{' or '}}}}'" in result.err

    def test_files_past_the_policy_size_limit_are_left_out_and_named(self, tree: HostTree, udev_drift: Run) -> None:
        rule = 'KERNEL=="sdq", ATTR{queue/scheduler}="none", RUN+="/bin/true ' + "x" * 2000 + '"\n'
        for number in range(700):
            tree.write(f"{RULES_DIR}/{number:04d}-a.rules", rule, dedent=False)
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 0, result.err
        kept = [e["file"] for e in yaml.safe_load(tree.read(POLICY))["rules"]]
        assert 100 < len(kept) < 700 and kept == sorted(kept)
        assert f"{700 - len(kept)} rules files left out: the policy would be larger than 1024 KiB" in result.err
        assert checked(tree, udev_drift).status == 0  # check loads what adopt wrote

    @pytest.mark.parametrize(("rule", "count"), [
        ('KERNEL=="sd{n}", SYMLINK+="disk/{n}"\n', 40_000),  # differs in two places: not folded
        ('SUBSYSTEM=="block", ENV{{ID_SERIAL}}=="S{n:08d}", OWNER="qemu"\n', 120_000),  # one template
    ], ids=["rules", "items"])
    def test_a_file_too_large_for_a_policy_is_left_out_and_named(self, tree: HostTree, udev_drift: Run,
                                                                rule: str, count: int) -> None:
        big = "".join(rule.format(n=n) for n in range(count))
        tree.write(f"{RULES_DIR}/61-big.rules", big, dedent=False)
        tree.write(f"{RULES_DIR}/62-b.rules", 'KERNEL=="sdt", SYMLINK+="other"\n', dedent=False)
        result = udev_drift("adopt", "--root", tree.root)
        assert result.status == 0, result.err
        assert [e["file"] for e in yaml.safe_load(result.out)["rules"]] == [f"{RULES_DIR}/62-b.rules"]
        assert f"{RULES_DIR}/61-big.rules: left out: the policy would be larger than 1024 KiB" in result.err


class TestEndingsOfAdoptedLines:
    @pytest.mark.parametrize("file_ending,rule_endings", [
        ("\n", ["\r\n", "\n"]), ("\n", ["\r\n", "\r\n"]), ("\r\n", ["\n", "\r\n"]), ("\n", ["\n", "\r"]),
    ])
    def test_the_first_repair_after_adopt_only_adds_the_markers(self, tree: HostTree, udev_drift: Run,
                                                                file_ending: str, rule_endings: list[str]) -> None:
        vendor = VENDOR.replace("\n", file_ending)
        added = (f'KERNEL=="sdq", SYMLINK+="backup"{rule_endings[0]}'
                 f'KERNEL=="sdr", SYMLINK+="archive"{rule_endings[1]}')
        vendor_host(tree, vendor + added, vendor)
        result = udev_drift("adopt", "--root", tree.root, "--write")
        assert result.status == 0, result.err
        assert checked(tree, udev_drift, "--repair").status == 0
        after = tree.read("/etc/udev/rules.d/50-udev.rules")
        assert after == (vendor + f"# BEGIN udev-drift adopted{file_ending}" + added
                         + f"# END udev-drift adopted{file_ending}")
        assert marker_only(vendor + added, after)
        assert checked(tree, udev_drift).status == 0


ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


# udev_drift only runs the command line (each call reads its own output): safe to share.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vendor_endings=st.lists(ENDINGS, min_size=7, max_size=7), added_endings=st.lists(ENDINGS, min_size=1, max_size=4),
       comment=st.booleans())
def test_adopt_then_repair_gives_the_file_back_but_for_the_two_markers(
        tmp_path_factory: pytest.TempPathFactory, udev_drift: Run, vendor_endings: list[str],
        added_endings: list[str], comment: bool) -> None:
    tree = HostTree(tmp_path_factory.mktemp("host"))
    vendor = "".join(line + ending for line, ending in zip(VENDOR.splitlines(), vendor_endings))
    added = "".join(f'KERNEL=="sd{"qrst"[n]}", SYMLINK+="disk-{n}"{ending}' + (f"# note{ending}" if comment and n == 0 else "")
                    for n, ending in enumerate(added_endings))
    vendor_host(tree, vendor + added, VENDOR)
    assert udev_drift("adopt", "--root", tree.root, "--write").status == 0
    assert checked(tree, udev_drift, "--repair").status == 0
    after = tree.read("/etc/udev/rules.d/50-udev.rules")
    assert [line for line in marker_only(vendor + added, after) if "udev-drift adopted" not in line] == []
    assert len(after.splitlines()) == len((vendor + added).splitlines()) + 2
    assert checked(tree, udev_drift).status == 0
