"""The canonical form: harmless differences vanish, real ones stay, and it reads back as itself."""

from __future__ import annotations

import pytest
from rules_cases import only_rule

from checker.rules.canonical import canonical_rule_line
from checker.rules.model import Token
from checker.rules.parsed import parse_rules


def canonical(text: str) -> str:
    return only_rule(text).canonical


# (a, b): udev treats a and b the same, so their canonical forms are equal.
SAME: list[tuple[str, str]] = [
    # whitespace, commas and continuations
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL=="sda",SYMLINK+="x"'),
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL == "sda"   SYMLINK += "x"'),
    ('KERNEL=="sda", SYMLINK+="x"', ',,KERNEL=="sda" ,\t, SYMLINK+="x",'),
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL=="sda", \\\n      SYMLINK+="x"'),
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL=="sda"SYMLINK+="x"'),
    # udev sorts tokens by type: matches before assignments, and types in a fixed order
    ('KERNEL=="sda", SYMLINK+="x"', 'SYMLINK+="x", KERNEL=="sda"'),
    ('SUBSYSTEM=="block", KERNEL=="sda", RUN+="x"', 'KERNEL=="sda", RUN+="x", SUBSYSTEM=="block"'),
    ('ENV{A}=="1", ATTR{b}=="2", RUN+="x"', 'ATTR{b}=="2", ENV{A}=="1", RUN+="x"'),
    ('KERNEL=="a", SYMLINK+="b", RUN+="c"', 'KERNEL=="a", RUN+="c", SYMLINK+="b"'),
    ('KERNEL=="a", OWNER="root", MODE="0600"', 'KERNEL=="a", MODE="0600", OWNER="root"'),
    (
        'KERNEL=="a", RUN{builtin}+="kmod load x", RUN+="y"',
        'KERNEL=="a", RUN+="y", RUN{builtin}+="kmod load x"',
    ),
    ('KERNEL=="a", PROGRAM=="p", RESULT=="r", RUN+="x"', 'KERNEL=="a", RESULT=="r", PROGRAM=="p", RUN+="x"'),
    (
        'KERNEL=="a", PROGRAM=="p", IMPORT{builtin}="blkid"',
        'KERNEL=="a", IMPORT{builtin}="blkid", PROGRAM=="p"',
    ),
    # the place of LABEL and GOTO on a line does not matter
    ('LABEL="l", KERNEL=="a", RUN+="x"', 'KERNEL=="a", RUN+="x", LABEL="l"'),
    # substitutions where udev substitutes
    ('KERNEL=="sd*", SYMLINK+="disk/%k"', 'KERNEL=="sd*", SYMLINK+="disk/$kernel"'),
    (
        'KERNEL=="sd*", RUN+="/bin/x %n %p %b %M %m %c %P %r %S %N %d %D %L"',
        'KERNEL=="sd*", RUN+="/bin/x $number $devpath $id $major $minor $result $parent $root $sys $devnode $driver $name $links"',
    ),
    ('KERNEL=="sd*", ENV{A}="%s{size} %E{B}"', 'KERNEL=="sd*", ENV{A}="$attr{size} $env{B}"'),
    ('KERNEL=="sd*", ENV{A}="$sysfs{size} $tempnode"', 'KERNEL=="sd*", ENV{A}="%s{size} %N"'),
    ('KERNEL=="sd*", PROGRAM=="/bin/id %k"', 'KERNEL=="sd*", PROGRAM=="/bin/id $kernel"'),
    ('KERNEL=="sd*", IMPORT{program}="/bin/id %k"', 'KERNEL=="sd*", IMPORT{program}="/bin/id $kernel"'),
    ('KERNEL=="sd*", TEST=="/sys/%p/x"', 'KERNEL=="sd*", TEST=="/sys/$devpath/x"'),
    ('KERNEL=="sd*", ATTRS{%k}=="x", RUN+="y"', 'KERNEL=="sd*", ATTRS{$kernel}=="x", RUN+="y"'),
    ('KERNEL=="sd*", SYSCTL{net/%k}="1"', 'KERNEL=="sd*", SYSCTL{net/$kernel}="1"'),
    ('KERNEL=="sd*", OWNER="%E{USER}"', 'KERNEL=="sd*", OWNER="$env{USER}"'),
    ('KERNEL=="eth*", NAME="net-%k"', 'KERNEL=="eth*", NAME="net-$kernel"'),
    # a '%' or '$' that starts no substitution is a literal, as "%%" and "$$" are
    ('KERNEL=="sd*", RUN+="a $foo %q"', 'KERNEL=="sd*", RUN+="a $$foo %%q"'),
    # operators udev reads as others
    ('KERNEL=="a", OPTIONS+="watch"', 'KERNEL=="a", OPTIONS="watch"'),
    ('KERNEL=="a", OPTIONS+="link_priority=10"', 'KERNEL=="a", OPTIONS:="link_priority=10"'),
    ('KERNEL=="a", PROGRAM="x"', 'KERNEL=="a", PROGRAM=="x"'),
    ('KERNEL=="a", PROGRAM+="x"', 'KERNEL=="a", PROGRAM:="x"'),
    ('KERNEL=="a", IMPORT{program}="x"', 'KERNEL=="a", IMPORT{program}=="x"'),
    ('KERNEL=="a", IMPORT{file}+="x"', 'KERNEL=="a", IMPORT{file}:="x"'),
    ('KERNEL=="a", NAME+="x"', 'KERNEL=="a", NAME="x"'),
    ('KERNEL=="a", ENV{A}:="x"', 'KERNEL=="a", ENV{A}="x"'),
    ('KERNEL=="a", ATTR{x}+="1"', 'KERNEL=="a", ATTR{x}="1"'),
    ('KERNEL=="a", OWNER+="root"', 'KERNEL=="a", OWNER="root"'),
    # spellings of one value
    ('KERNEL=="a", RUN+=e"esc\\x41"', 'KERNEL=="a", RUN+="escA"'),
    ('KERNEL=="a", RUN+=e"say \\"hi\\""', 'KERNEL=="a", RUN+="say \\"hi\\""'),
    ('KERNEL=="a", ENV{A}=e"caf\\xc3\\xa9"', 'KERNEL=="a", ENV{A}="café"'),
    ('KERNEL=="a", MODE="660"', 'KERNEL=="a", MODE="0660"'),
    ('KERNEL=="a", TEST{644}=="/x", RUN+="y"', 'KERNEL=="a", TEST{0644}=="/x", RUN+="y"'),
    ('KERNEL=="a", TEST{}=="/x", RUN+="y"', 'KERNEL=="a", TEST=="/x", RUN+="y"'),
    ('KERNEL=="a", RUN{program}+="x"', 'KERNEL=="a", RUN+="x"'),
    ('KERNEL=="a", IMPORT{program}="path_id"', 'KERNEL=="a", IMPORT{builtin}="path_id"'),
    ('KERNEL=="?*", RUN+="x"', 'KERNEL!="", RUN+="x"'),
    ('SUBSYSTEM=="bus", RUN+="x"', 'SUBSYSTEM=="subsystem", RUN+="x"'),
    # what udev ignores
    ('KERNEL=="a", OPTIONS="last_rule", RUN+="x"', 'KERNEL=="a", RUN+="x"'),
    ('KERNEL=="a", GOTO="x", GOTO="y"\nLABEL="x"', 'KERNEL=="a", GOTO="x"\nLABEL="x"'),
    ('LABEL="a", LABEL="b"', 'LABEL="b"'),
    # CRLF
    ('KERNEL=="a", \\\r\n  RUN+="x"', 'KERNEL=="a", RUN+="x"'),
]

# (a, b): udev treats a and b differently, so their canonical forms differ.
DIFFERENT: list[tuple[str, str]] = [
    ('KERNEL=="sda", RUN+="x"', 'KERNELS=="sda", RUN+="x"'),
    ('KERNEL=="sda", RUN+="x"', 'DRIVER=="sda", RUN+="x"'),
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL=="sda", NAME="x"'),
    ('KERNEL=="sda", RUN+="x"', 'KERNEL=="sdb", RUN+="x"'),
    ('KERNEL=="sda", RUN+="x"', 'KERNEL=="SDA", RUN+="x"'),
    ('KERNEL=="sda", RUN+="x"', 'KERNEL=="sda ", RUN+="x"'),
    ('KERNEL=="sda", RUN+="x"', 'KERNEL!="sda", RUN+="x"'),
    ('KERNEL=="sda", RUN+="x"', 'KERNEL=="sda", RUN="x"'),
    ('KERNEL=="sda", RUN+="x"', 'KERNEL=="sda", RUN:="x"'),
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL=="sda", SYMLINK="x"'),
    ('KERNEL=="sda", SYMLINK+="x"', 'KERNEL=="sda", SYMLINK:="x"'),
    ('KERNEL=="sda", ENV{A}="x"', 'KERNEL=="sda", ENV{A}+="x"'),
    ('KERNEL=="sda", ENV{A}="x"', 'KERNEL=="sda", ENV{B}="x"'),
    ('KERNEL=="sda", ATTR{size}=="0", RUN+="x"', 'KERNEL=="sda", ATTR{ro}=="0", RUN+="x"'),
    ('KERNEL=="sda", TAG+="x"', 'KERNEL=="sda", TAG="x"'),
    ('KERNEL=="sda", TAG+="x"', 'KERNEL=="sda", TAG-="x"'),
    ('KERNEL=="sda", OPTIONS="watch"', 'KERNEL=="sda", OPTIONS:="watch"'),
    ('KERNEL=="sda", OPTIONS="watch"', 'KERNEL=="sda", OPTIONS="nowatch"'),
    ('KERNEL=="sda", MODE="0660"', 'KERNEL=="sda", MODE="0600"'),
    ('KERNEL=="sda", MODE="0660"', 'KERNEL=="sda", MODE:="0660"'),
    ('KERNEL=="sda", RUN+="kmod load x"', 'KERNEL=="sda", RUN{builtin}+="kmod load x"'),
    # the order of assignments of one type is what udev executes
    ('KERNEL=="a", SYMLINK+="x", SYMLINK+="y"', 'KERNEL=="a", SYMLINK+="y", SYMLINK+="x"'),
    ('KERNEL=="a", RUN+="x", RUN+="y"', 'KERNEL=="a", RUN+="y", RUN+="x"'),
    ('KERNEL=="a", ENV{A}="1", ENV{A}="2"', 'KERNEL=="a", ENV{A}="2", ENV{A}="1"'),
    ('KERNEL=="a", SYMLINK="x", SYMLINK+="y"', 'KERNEL=="a", SYMLINK+="y", SYMLINK="x"'),
    # no substitution in match values, in IMPORT{db} or in an ATTR{} name that is written to
    ('KERNEL=="%k", RUN+="x"', 'KERNEL=="$kernel", RUN+="x"'),
    ('KERNEL=="a", IMPORT{db}="%k"', 'KERNEL=="a", IMPORT{db}="$kernel"'),
    ('KERNEL=="a", ATTR{%k}="1"', 'KERNEL=="a", ATTR{$kernel}="1"'),
    # different substitutions, and the two literals
    ('KERNEL=="a", RUN+="%k"', 'KERNEL=="a", RUN+="%n"'),
    ('KERNEL=="a", RUN+="%%"', 'KERNEL=="a", RUN+="$$"'),
    ('KERNEL=="a", RUN+="%k"', 'KERNEL=="a", RUN+="%%k"'),
    # ATTR=="?*" keeps trailing whitespace handling that ATTR!="" lacks
    ('KERNEL=="a", ATTR{x}=="?*", RUN+="y"', 'KERNEL=="a", ATTR{x}!="", RUN+="y"'),
    # one token with two links and two tokens are different tokens
    ('KERNEL=="a", SYMLINK+="x y"', 'KERNEL=="a", SYMLINK+="x", SYMLINK+="y"'),
    ('LABEL="a"', 'LABEL="b"'),
    ('KERNEL=="a", GOTO="x"\nLABEL="x"', 'KERNEL=="a", GOTO="y"\nLABEL="y"'),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_udev_treats_these_the_same_so_their_canonical_forms_are_equal(a: str, b: str) -> None:
    assert parse_rules(a).rules[0].canonical == parse_rules(b).rules[0].canonical


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_udev_treats_these_differently_so_their_canonical_forms_differ(a: str, b: str) -> None:
    assert parse_rules(a).rules[0].canonical != parse_rules(b).rules[0].canonical


@pytest.mark.parametrize(("a", "b"), SAME + DIFFERENT)
def test_every_canonical_form_reads_back_as_itself(a: str, b: str) -> None:
    for text in (a, b):
        for rule in parse_rules(text).rules:
            again = only_rule(rule.canonical)
            assert again.canonical == rule.canonical
            # alone on a line, a GOTO has no LABEL after it; nothing else may go wrong
            assert again.problem is None or again.problem.startswith("GOTO=")


def test_the_canonical_style_is_key_attr_op_quoted_value_joined_by_comma_space() -> None:
    assert canonical('RUN  +=  "x" , ATTR{size}  ==  "0",KERNEL=="sd*"') == (
        'KERNEL=="sd*", ATTR{size}=="0", RUN+="x"'
    )


def test_the_canonical_form_follows_udevs_token_order() -> None:
    text = (
        'RUN+="r", RUN{builtin}+="kmod load x", SYMLINK+="l", NAME="n", ENV{E}="e", '
        'SECLABEL{selinux}="s", OPTIONS="static_node=tty", TAG+="t", MODE="0600", '
        'GROUP="disk", OWNER="root", OPTIONS="link_priority=5", OPTIONS="watch", '
        'RESULT=="res", IMPORT{parent}="P", IMPORT{cmdline}="c", IMPORT{db}="D", '
        'IMPORT{builtin}="blkid", IMPORT{program}="/bin/p", IMPORT{file}="/f", PROGRAM=="prog", '
        'TEST=="/t", TAGS=="ts", ATTRS{a}=="as", DRIVERS=="ds", SUBSYSTEMS=="ss", '
        'KERNELS=="ks", SYSCTL{s}=="sc", ATTR{a}=="at", DRIVER=="d", SUBSYSTEM=="sub", '
        'TAG=="tg", CONST{arch}=="x86-64", ENV{E}=="em", NAME=="nm", SYMLINK=="sl", '
        'KERNEL=="k", DEVPATH=="/p", ACTION=="add", GOTO="g", LABEL="lb"\nLABEL="g"'
    )
    keys = [part.split("=")[0].rstrip("!+:") for part in parse_rules(text).rules[0].canonical.split(", ")]
    assert keys == [
        "LABEL", "ACTION", "DEVPATH", "KERNEL", "SYMLINK", "NAME", "ENV{E}", "CONST{arch}",
        "TAG", "SUBSYSTEM", "DRIVER", "ATTR{a}", "SYSCTL{s}", "KERNELS", "SUBSYSTEMS",
        "DRIVERS", "ATTRS{a}", "TAGS", "TEST", "PROGRAM", "IMPORT{file}", "IMPORT{program}",
        "IMPORT{builtin}", "IMPORT{db}", "IMPORT{cmdline}", "IMPORT{parent}", "RESULT",
        "OPTIONS", "OPTIONS", "OWNER", "GROUP", "MODE", "TAG", "OPTIONS", "SECLABEL{selinux}",
        "ENV{E}", "NAME", "SYMLINK", "RUN{builtin}", "RUN", "GOTO",
    ]  # fmt: skip


def test_owner_and_group_by_name_sort_before_owner_and_group_by_id() -> None:
    # udev resolves plain names when it loads the rules (OWNER_ID) but substitutes later
    # (OWNER), and OWNER sorts before OWNER_ID.
    assert canonical('KERNEL=="a", OWNER="root", OWNER="%E{U}"') == (
        'KERNEL=="a", OWNER="%E{U}", OWNER="root"'
    )


def test_substitutions_are_written_the_short_way_and_literals_doubled() -> None:
    assert canonical('KERNEL=="a", RUN+="$kernel $attr{size} $foo 100%"') == (
        'KERNEL=="a", RUN+="%k %s{size} $$foo 100%%"'
    )


def test_the_sys_substitution_is_not_mistaken_for_sysfs() -> None:
    # "%Sfs{x}" is /sys followed by "fs{x}", unlike "$sysfs{x}"
    assert canonical('KERNEL=="a", RUN+="%Sfs{x}"') != canonical('KERNEL=="a", RUN+="$sysfs{x}"')


def test_a_broken_substitution_keeps_the_rest_of_the_value_as_written() -> None:
    assert canonical('KERNEL=="a", RUN+="$kernel $attr{x"') == 'KERNEL=="a", RUN+="%k $attr{x"'


def test_name_keeps_the_kernel_substitution_udev_accepts() -> None:
    # NAME="%k" is refused by udev; NAME="$kernel" is not, and must stay valid when rewritten
    rule = only_rule('KERNEL=="eth0", NAME="$kernel"')
    assert rule.canonical == 'KERNEL=="eth0", NAME="$kernel"'
    assert canonical('KERNEL=="eth0", NAME="%k"') == 'KERNEL=="eth0", NAME="%k"'


def test_a_value_ending_in_a_backslash_is_written_in_e_quotes() -> None:
    rule = only_rule('KERNEL=="a", RUN+=e"x\\\\"')
    assert rule.tokens[1].value == "x\\"
    assert rule.canonical == 'KERNEL=="a", RUN+=e"x\\\\"'


def test_a_value_with_a_line_break_is_written_in_e_quotes() -> None:
    assert canonical('KERNEL=="a", RUN+=e"x\\ny"') == 'KERNEL=="a", RUN+=e"x\\ny"'


def test_a_value_with_a_quote_is_written_with_the_plain_escape() -> None:
    assert canonical('KERNEL=="a", RUN+=e"say \\"x\\""') == 'KERNEL=="a", RUN+="say \\"x\\""'


def test_a_dropped_rule_still_has_a_canonical_form_of_what_was_parsed() -> None:
    rule = only_rule('RUN+="x", KERNEL=="a", FOO="b", SYMLINK+="never parsed"')
    assert rule.problem == "unknown key 'FOO'"
    assert rule.canonical == 'KERNEL=="a", RUN+="x", FOO="b"'


def test_a_rule_without_tokens_has_the_empty_rule_as_canonical_form() -> None:
    assert canonical(",") == ","
    assert canonical("KERNEL=='x'") == ","
    assert only_rule(",").canonical == ","


def test_a_refused_key_starting_with_a_hash_stays_a_rule_line() -> None:
    rule = only_rule(',#x="1"')
    assert rule.problem == "unknown key '#x'"
    assert only_rule(rule.canonical).canonical == rule.canonical


def test_canonical_rule_line_works_on_tokens_built_by_hand() -> None:
    tokens = [
        Token("SYMLINK", None, "+=", "disk/by-x/$kernel", 20),
        Token("KERNEL", None, "==", "sd*", 1),
    ]
    assert canonical_rule_line(tokens) == 'KERNEL=="sd*", SYMLINK+="disk/by-x/%k"'
    assert canonical_rule_line([]) == ","


def test_canonical_rule_line_agrees_with_the_parser() -> None:
    rule = only_rule('SYMLINK+="x", KERNEL=="sd*", OPTIONS+="watch"')
    assert canonical_rule_line(rule.tokens) == rule.canonical


def test_a_refused_key_ending_in_an_operator_character_reads_back_as_itself() -> None:
    # Found by atheris: ":" followed by "==" was written ':=="..."', read back as "" ":=".
    for text in (':\t=="x"', 'A+ ="x"', 'A! == "x"', '-\t:= "x"'):
        rule = only_rule(text)
        assert rule.problem is not None
        assert only_rule(rule.canonical).canonical == rule.canonical, text
