"""`ensure: block`: one marked block inside a file that others also write."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.conftest import XEN_RULES, HostTree, Result

RULES = "/etc/udev/rules.d/50-udev.rules"
# the wiki's two rules (these tests are about the block's text; no link is checked here)
POLICY = (
    "version: 1\nname: xen\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n    ensure: block\n"
    "    content: |\n" + "".join(f"      {line}\n" for line in XEN_RULES.format(disk="sdb").splitlines())
)
VENDOR = 'SUBSYSTEM=="block", GROUP="disk"\nKERNEL=="null|zero", MODE="0666"\n'
BLOCK = "# BEGIN udev-drift xen\n" + XEN_RULES.format(disk="sdb") + "# END udev-drift xen\n"

Run = Callable[..., Result]


def finding(result: Result) -> dict:
    [policy] = result.json()["policies"]
    [item] = policy["findings"]
    return item


def after_fix(text: str, diff: str) -> str:
    """The text a unified diff turns `text` into (enough of `patch` for these tests)."""
    old = text.splitlines()
    out: list[str] = []
    position = 0
    for line in diff.splitlines()[2:]:
        if line.startswith("@@"):
            start = int(line.split()[1].split(",")[0][1:])
            count = int(line.split()[1].split(",")[1])
            start = start - 1 if count else start
            out.extend(old[position:start])
            position = start
        elif line.startswith("-"):
            position += 1
        elif line.startswith("+"):
            out.append(line[1:])
        else:
            out.append(old[position])
            position += 1
    out.extend(old[position:])
    return "".join(f"{line}\n" for line in out)


def check(tree: HostTree, udev_drift: Run) -> Result:
    tree.policy(POLICY)
    return udev_drift("check", "--root", tree.root, "--format", "json")


def test_a_file_with_the_block_is_compliant(tree: HostTree, udev_drift: Run) -> None:
    tree.write(RULES, VENDOR + BLOCK)
    result = check(tree, udev_drift)
    assert result.status == 0
    assert finding(result)["status"] == "ok"
    assert "diff" not in finding(result)


def test_an_update_that_replaced_the_file_leaves_the_block_missing(tree: HostTree, udev_drift: Run) -> None:
    tree.write(RULES, VENDOR)
    result = check(tree, udev_drift)
    assert result.status == 1
    item = finding(result)
    assert (item["kind"], item["path"], item["status"]) == ("rule", RULES, "missing")
    assert item["item"] == f"{RULES} block"
    # The diff appends the whole block after the vendor's lines and changes nothing else.
    assert item["diff"].endswith("".join("+" + line + "\n" for line in BLOCK.splitlines()))
    assert "\n-" not in item["diff"]


def test_a_missing_rules_file_is_missing(tree: HostTree, udev_drift: Run) -> None:
    tree.write("/etc/udev/rules.d/other.rules", VENDOR)
    item = finding(check(tree, udev_drift))
    assert item["status"] == "missing" and item["message"] == "the rules file is missing"
    assert "@@ -0,0 +1,4 @@" in item["diff"]


def test_a_reformatted_block_is_not_drift(tree: HostTree, udev_drift: Run) -> None:
    reformatted = (
        "#  begin udev-drift xen\n"
        'KERNEL=="sdb"   ACTION=="add",SYMLINK+="xapi/block/$kernel", \\\n'
        "    RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
        'ACTION=="remove" , KERNEL=="sdb", '
        "RUN+=\"/bin/sh -c '/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&'\"\n"
        "# END udev-drift xen\n"
    )
    tree.write(RULES, VENDOR + reformatted)
    result = check(tree, udev_drift)
    assert result.status == 0, result.out


def test_a_changed_value_inside_the_block_is_drift_with_the_changed_characters(tree: HostTree, udev_drift: Run) -> None:
    tree.write(RULES, VENDOR + BLOCK.replace('KERNEL=="sdb", SYMLINK', 'KERNEL=="sdc", SYMLINK'))
    tree.policy(POLICY)
    result = udev_drift("check", "--root", tree.root, "--color", "never")
    assert result.status == 1
    assert "managed block at lines 3-6 differs from the policy" in result.out
    minus, guide = [line.strip() for line in result.out.splitlines()
                    if line.lstrip().startswith(("-ACTION", "?"))][:2]
    # The guide line points at exactly the one changed character: the "c" of "sdc".
    changed_at = minus.index('"sdc"') + 3
    assert guide == "?" + " " * (changed_at - 1) + "^"


def test_the_order_of_two_assignments_of_one_kind_matters(tree: HostTree, udev_drift: Run) -> None:
    # udev sorts a rule's tokens by type, so RUN+= before or after SYMLINK+= is the same
    # rule; two RUN+= run in the order written, so swapping them is a real change.
    policy = POLICY.replace('SYMLINK+="xapi/block/%k", RUN+=', 'RUN+="/bin/true", RUN+=')
    tree.policy(policy)
    block = BLOCK.replace('SYMLINK+="xapi/block/%k", RUN+="/bin/sh -c \'/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&\'"',
                          'RUN+="/bin/sh -c \'/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&\'", RUN+="/bin/true"')
    assert block != BLOCK
    tree.write(RULES, VENDOR + block)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert finding(result)["status"] == "changed"


def test_the_order_of_assignments_of_different_kinds_does_not_matter(tree: HostTree, udev_drift: Run) -> None:
    swapped = BLOCK.replace(
        'SYMLINK+="xapi/block/%k", RUN+="/bin/sh -c \'/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&\'"',
        'RUN+="/bin/sh -c \'/opt/xensource/libexec/local-device-change %k 2>&1 >/dev/null&\'", SYMLINK+="xapi/block/%k"')
    assert swapped != BLOCK
    tree.write(RULES, VENDOR + swapped)
    assert finding(check(tree, udev_drift))["status"] == "ok"


def test_a_rule_in_the_block_that_udev_drops_is_drift_with_the_reason(tree: HostTree, udev_drift: Run) -> None:
    lines = BLOCK.splitlines(keepends=True)
    lines[1] = lines[1].rstrip("\n") + "  # for the NAS VM\n"
    tree.write(RULES, VENDOR + "".join(lines))
    item = finding(check(tree, udev_drift))
    assert item["status"] == "changed"
    assert any(d.startswith("line 4: udev drops this rule") for d in item["details"])


def test_a_block_found_twice_is_duplicated_and_the_fix_keeps_one(tree: HostTree, udev_drift: Run) -> None:
    tree.write(RULES, BLOCK + VENDOR + BLOCK)
    item = finding(check(tree, udev_drift))
    assert item["status"] == "duplicated"
    assert "at lines 1, 7" in item["message"]
    changes = [line for line in item["diff"].splitlines()[2:] if line[:1] in "+-"]
    assert len(changes) == 4 and all(line.startswith("-") for line in changes)


def test_a_lost_end_marker_is_damage_and_the_fix_does_not_duplicate_the_rules(tree: HostTree, udev_drift: Run) -> None:
    tree.write(RULES, VENDOR + BLOCK.replace("# END udev-drift xen\n", "") + 'KERNEL=="zz", GROUP="x"\n')
    item = finding(check(tree, udev_drift))
    assert item["status"] == "damaged"
    assert "BEGIN at line 3 has no END" in item["message"]
    added = [line for line in item["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == ["+# END udev-drift xen"]
    assert after_fix(VENDOR + BLOCK.replace("# END udev-drift xen\n", "") + 'KERNEL=="zz", GROUP="x"\n',
                     item["diff"]) == VENDOR + BLOCK + 'KERNEL=="zz", GROUP="x"\n'


def test_a_rule_re_quoted_by_an_update_next_to_a_lost_marker_is_replaced(tree: HostTree, udev_drift: Run) -> None:
    requoted = BLOCK.replace("# BEGIN udev-drift xen\n", "").replace(
        "local-device-change %k 2>&1", "local-device-change  %k 2>&1", 1)
    tree.write(RULES, VENDOR + requoted)
    item = finding(check(tree, udev_drift))
    assert item["status"] == "damaged"
    # The damaged copy is replaced in place: the result is the vendor's lines and one block.
    assert after_fix(VENDOR + requoted, item["diff"]) == VENDOR + BLOCK


def test_the_rules_without_markers_are_found_and_not_added_twice(tree: HostTree, udev_drift: Run) -> None:
    unmarked = XEN_RULES.format(disk="sdb")
    tree.write(RULES, VENDOR + unmarked)
    item = finding(check(tree, udev_drift))
    assert item["status"] == "damaged"
    assert "stand unmarked at lines 3-4" in item["message"]
    added = [line for line in item["diff"].splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == ["+# BEGIN udev-drift xen", "+# END udev-drift xen"]
    assert after_fix(VENDOR + unmarked, item["diff"]) == VENDOR + BLOCK


def test_another_policys_block_is_left_alone_even_when_it_holds_the_same_rules(tree: HostTree, udev_drift: Run) -> None:
    other = BLOCK.replace("udev-drift xen", "udev-drift other")
    tree.write(RULES, VENDOR + other)
    item = finding(check(tree, udev_drift))
    assert item["status"] == "missing"
    assert after_fix(VENDOR + other, item["diff"]) == VENDOR + other + BLOCK


def test_crlf_files_are_read_and_the_fix_keeps_crlf(tree: HostTree, udev_drift: Run) -> None:
    tree.write(RULES, (VENDOR + BLOCK).replace("\n", "\r\n"))
    assert check(tree, udev_drift).status == 0


def test_for_each_entries_of_one_file_share_one_block(tree: HostTree, udev_drift: Run) -> None:
    policy = POLICY.replace("    ensure: block\n", "    ensure: block\n    for_each: [sdb, sdc]\n").replace('"sdb"', '"{{ item }}"')
    tree.policy(policy)
    tree.write(RULES, VENDOR + "# BEGIN udev-drift xen\n" + XEN_RULES.format(disk="sdb")
               + XEN_RULES.format(disk="sdc") + "# END udev-drift xen\n")
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert result.status == 0, result.out
    assert finding(result)["entry"] == "rules[0]"


def test_an_intact_block_is_checked_without_parsing_the_rest_of_the_file(
        tree: HostTree, udev_drift: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    # A vendor file can hold 20,000 rules; a compliant block needs only its own lines read.
    import checker.observe.files

    def whole_file_parsed(text: str) -> None:
        raise AssertionError("the whole file was parsed")

    monkeypatch.setattr(checker.observe.files, "parse_rules", whole_file_parsed)
    tree.write(RULES, VENDOR * 1000 + BLOCK + VENDOR)
    assert finding(check(tree, udev_drift))["status"] == "ok"


def test_a_vendor_line_continuing_into_the_block_is_seen_as_udev_sees_it(tree: HostTree, udev_drift: Run) -> None:
    # udev skips the BEGIN comment and joins the block's first rule onto the vendor's line.
    tree.write(RULES, VENDOR + 'KERNEL=="sdz", \\\n' + BLOCK)
    item = finding(check(tree, udev_drift))
    assert item["status"] == "changed"
