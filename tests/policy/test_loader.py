"""Policy files: what is accepted, and that every refusal names file, line, column and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import PolicyError, PolicyErrors, UsageError
from checker.policy.loader import load_policies, load_policy_file

GOOD = """\
version: 1
name: xenserver-local-sata
description: Local SATA disks
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    for_each: [sdb, sdc]
    content: |
      ACTION=="add", KERNEL=="{{ item }}", SYMLINK+="xapi/block/%k"
symlinks:
  - link: /dev/xapi/block/{{ item }}
    for_each: [sdb, sdc]
    target: /dev/{{ item }}
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises((PolicyError, PolicyErrors)) as caught:
        load_policy_file(write(tmp_path, text))
    error = caught.value
    return [str(e) for e in (error.errors if isinstance(error, PolicyErrors) else [error])]


def test_the_spec_example_loads(tmp_path: Path) -> None:
    loaded = load_policy_file(write(tmp_path, GOOD))
    assert loaded.policy.name == "xenserver-local-sata"
    assert loaded.policy.rules[0].ensure == "block"
    assert loaded.policy.symlinks[0].required is False
    assert loaded.policy.apply.reload and loaded.policy.apply.trigger


def test_an_unknown_key_is_an_error_with_its_line_column_and_the_keys_allowed(tmp_path: Path) -> None:
    text = GOOD.replace("    ensure: block\n", "    ensure: block\n    ensrue: block\n")
    [message] = problems(tmp_path, text)
    assert message.endswith("p.yaml:7:5: at 'rules[0].ensrue': unknown key 'ensrue' "
                            "(expected one of: file, ensure, content, for_each, description)")


def test_a_wrong_ensure_value_names_the_choices_and_what_was_given(tmp_path: Path) -> None:
    [message] = problems(tmp_path, GOOD.replace("ensure: block", "ensure: blok"))
    assert ":6:13: at 'rules[0].ensure'" in message
    assert "'block', 'lines', 'file' or 'absent'" in message and "'blok'" in message


def test_every_problem_of_a_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = GOOD.replace("ensure: block", "ensure: nope").replace("version: 1", "version: 2")
    messages = problems(tmp_path, text)
    assert len(messages) == 2
    assert any("at 'version'" in m for m in messages)
    assert any("at 'rules[0].ensure'" in m for m in messages)


def test_values_are_not_coerced(tmp_path: Path) -> None:
    text = GOOD.replace("    target: /dev/{{ item }}\n", "    target: /dev/{{ item }}\n    required: 'yes'\n")
    [message] = problems(tmp_path, text)
    assert "at 'symlinks[0].required'" in message and "boolean" in message


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    [message] = problems(tmp_path, GOOD.replace("    ensure: block\n", ""))
    assert "at 'rules[0].ensure': required key 'ensure' is missing" in message


@pytest.mark.parametrize(("bad", "expected"), [
    ("/etc/udev/rules.d/50-udev.conf", "must end in .rules"),
    ("etc/udev/rules.d/50-udev.rules", "must be an absolute path"),
    ("/etc/udev/../udev/rules.d/50.rules", "must not contain '..'"),
])
def test_rules_file_paths_are_checked(tmp_path: Path, bad: str, expected: str) -> None:
    [message] = problems(tmp_path, GOOD.replace("/etc/udev/rules.d/50-udev.rules", bad))
    assert "at 'rules[0].file'" in message and expected in message


def test_links_must_be_under_dev(tmp_path: Path) -> None:
    [message] = problems(tmp_path, GOOD.replace("link: /dev/xapi", "link: /tmp/xapi"))
    assert "at 'symlinks[0].link'" in message and "under /dev/" in message


def test_a_symlink_needs_target_or_device_but_not_both(tmp_path: Path) -> None:
    both = GOOD.replace("    target: /dev/{{ item }}\n",
                        "    target: /dev/{{ item }}\n    device: {serial: X}\n")
    assert "exactly one of target or device" in problems(tmp_path, both)[0]
    neither = GOOD.replace("    target: /dev/{{ item }}\n", "")
    assert "exactly one of target or device" in problems(tmp_path, neither)[0]


def test_a_device_identity_takes_exactly_one_key(tmp_path: Path) -> None:
    text = GOOD.replace("target: /dev/{{ item }}", "device: {serial: A, wwn: B}")
    assert "exactly one of serial, wwn, path, kernel" in problems(tmp_path, text)[0]


def test_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    [message] = problems(tmp_path, GOOD.replace('KERNEL=="{{ item }}"', 'KERNEL=="{{ iten }}"'))
    assert "unknown placeholder '{{ iten }}'" in message


def test_udev_substitutions_pass_through_untouched(tmp_path: Path) -> None:
    text = GOOD.replace('SYMLINK+="xapi/block/%k"',
                        'SYMLINK+="xapi/block/$kernel", ENV{ID_X}="%E{ID_SERIAL}$attr{size}"')
    loaded = load_policy_file(write(tmp_path, text))
    assert "$kernel" in loaded.policy.rules[0].content and "%E{ID_SERIAL}" in loaded.policy.rules[0].content


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the file is empty"),
    ("- just\n- a list\n", "expected a mapping"),
    ("version: 1\nname: [unclosed\n", "invalid YAML"),
    ("version: 1\nversion: 1\n", "key given twice"),
    ("version: 1\nname: Bad Name\nrules: []\nsymlinks: []\n", "at 'name'"),
    ("version: 1\nname: empty\n", "at least one entry"),
])
def test_malformed_files_get_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    messages = problems(tmp_path, text)
    assert any(expected in m for m in messages), messages
    assert all(m.startswith(str(tmp_path)) and "\n" not in m for m in messages)


def test_yaml_errors_carry_line_and_column(tmp_path: Path) -> None:
    [message] = problems(tmp_path, "version: 1\nname: x\nrules:\n  - file: [\n")
    assert "p.yaml:5:1: invalid YAML" in message


def test_binary_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"version: 1\x00\n")
    with pytest.raises(PolicyError, match="binary file"):
        load_policy_file(str(path))
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(PolicyError, match=r"bin.yaml:2: not valid UTF-8"):
        load_policy_file(str(path))


def test_a_directory_loads_its_yaml_files_in_order_and_ignores_the_rest(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("xenserver-local-sata", "b-policy"), "20-b.yml")
    write(tmp_path, GOOD.replace("xenserver-local-sata", "a-policy"), "10-a.yaml")
    write(tmp_path, "not a policy", "README.txt")
    write(tmp_path, "not: a policy", ".hidden.yaml")
    assert [p.policy.name for p in load_policies([str(tmp_path)])] == ["a-policy", "b-policy"]


def test_two_policies_with_one_name_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(PolicyError, match="b.yaml:2:7: at 'name': policy name 'xenserver-local-sata' is already used by"):
        load_policies([str(tmp_path)])


def test_missing_paths_and_empty_directories_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such policy file or directory"):
        load_policies([str(tmp_path / "nope")])
    with pytest.raises(UsageError, match="no policy files"):
        load_policies([str(tmp_path)])


def test_an_oversized_policy_file_is_refused_without_parsing_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(PolicyError, match="larger than 1024 KiB"):
        load_policy_file(str(path))


class TestUdevLoadWarnings:
    """What udev logs but accepts when it loads a policy's rules is said, not swallowed."""

    POLICY = ("version: 1\nname: warn\nrules:\n  - file: /etc/udev/rules.d/61-x.rules\n    ensure: file\n"
              "    content: |\n      KERNEL==\"sdb\"\n      KERNEL==\"sdb\", SYMLINK+=\"x\", GOTO=\"nowhere\"\n")

    def test_validate_names_each_rule_udev_would_ignore_or_change(self, tmp_path, udev_drift) -> None:
        policy = tmp_path / "warn.yaml"
        policy.write_text(self.POLICY)
        result = udev_drift("validate", policy)
        assert result.status == 0
        assert f"{policy}:4: rules[0]: content line 1: the line takes no effect" in result.err
        assert f'{policy}:4: rules[0]: content line 2: GOTO="nowhere" has no LABEL' in result.err

    def test_check_says_so_too(self, tmp_path, udev_drift) -> None:
        policy = tmp_path / "warn.yaml"
        policy.write_text(self.POLICY)
        (tmp_path / "root").mkdir()
        result = udev_drift("check", "--root", tmp_path / "root", "--skip-policy-permission-check", policy)
        assert result.status == 1
        assert "content line 1: the line takes no effect" in result.err

    def test_check_names_an_owner_or_group_this_host_does_not_know(self, tmp_path, udev_drift) -> None:
        # udevadm test 252: "Unknown user 'nosuchuser', ignoring": the rest of the rule applies
        policy = tmp_path / "owner.yaml"
        policy.write_text("version: 1\nname: owner\nrules:\n  - file: /etc/udev/rules.d/61-x.rules\n"
                          "    ensure: file\n    content: |\n"
                          "      KERNEL==\"sdb\", OWNER=\"nosuchuser\", GROUP=\"disk\", MODE=\"0660\"\n"
                          "      KERNEL==\"sdc\", OWNER=\"root\", GROUP=\"nosuchgroup\", OWNER=\"$env{X}\"\n")
        root = tmp_path / "root"
        (root / "etc").mkdir(parents=True)
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc/group").write_text("root:x:0:\ndisk:x:6:\n")
        result = udev_drift("check", "--root", root, "--skip-policy-permission-check", policy)
        assert "content line 1: no user 'nosuchuser' on this host: udev ignores OWNER=\"nosuchuser\"" in result.err
        assert "content line 2: no group 'nosuchgroup' on this host" in result.err
        assert "'root'" not in result.err and "'disk'" not in result.err and "$env" not in result.err
