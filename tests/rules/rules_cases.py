"""Rule lines whose fate under udev 252 was checked with the real `udevadm test` (Debian 12).

Each table is used twice: test_rules_keys.py checks our parser against it, and
test_against_real_udev.py checks it against the udev installed on the machine, so the table
cannot drift away from what udev does.
"""

from __future__ import annotations

from checker.rules.model import Rule
from checker.rules.parsed import parse_rules


def only_rule(text: str) -> Rule:
    """The single rule in `text` (a test that means one rule says so)."""
    rules = parse_rules(text).rules
    assert len(rules) == 1, [r.text for r in rules]
    return rules[0]


# Each entry is the text of one rules file (mostly one line). Every line that udev keeps
# starts with a match that fails for the device the differential test runs on (lo), so
# nothing is executed.

# Lines udev keeps without an error (udev may still note a style issue).
ACCEPTED: list[str] = [
    'KERNEL=="sda", SYMLINK+="disk0"',
    'KERNEL=="sda" SYMLINK+="disk0"',  # no comma
    'KERNEL=="sda"SYMLINK+="disk0"',  # not even a space
    'KERNEL == "sda" , , SYMLINK += "disk0" ,',
    ',KERNEL=="sda", SYMLINK+="disk0"',
    'KERNEL=="sda",\tSYMLINK+="disk0"',
    'KERNEL=="sda", SYMLINK=="disk/by-id/x", RUN+="/bin/true"',
    'KERNEL=="sda", SYMLINK:="disk0"',
    'KERNEL=="sda", SYMLINK="disk0"',
    'KERNEL=="sda", RUN+=e"esc\\x41"',
    'KERNEL=="sda", RUN+=e"\\a\\b\\f\\n\\r\\t\\v\\\\\\"\\\'\\s"',
    'KERNEL=="sda", RUN+=e"\\101\\u00e9\\U0001F600\\xff\\uFFFE\\0777"',
    'KERNEL=="sda", RUN+=e""',
    'KERNEL=="sda", RUN+="say \\"hi\\""',
    'KERNEL=="sda", ENV{ID_X}="x", ENV{ID_Y}+="y"',
    'KERNEL=="sda", ENV{CURRENT_TAGS}="x"',
    'KERNEL=="sda", ENV{a b}="x"',
    'KERNEL=="sda", ENV{ID_X}=""',
    'ACTION=="add", DEVPATH=="/devices/*", DRIVER=="sd", DRIVERS=="sd", RUN+="x"',
    'KERNELS=="0:0:0:0", SUBSYSTEMS=="scsi", TAGS=="systemd", RESULT=="x", RUN+="x"',
    'KERNEL=="sda", ATTR{size}=="0", ATTRS{vendor}=="ATA *", RUN+="x"',
    'KERNEL=="sda", ATTR{queue/scheduler}="none"',
    'KERNEL=="sda", SYSCTL{kernel/x}=="1", SYSCTL{kernel/y}="2"',
    'KERNEL=="sda", CONST{arch}=="x86-64", CONST{virt}!="none", RUN+="x"',
    'KERNEL=="sda", TEST=="/x", TEST{0644}=="/y", TEST{}=="/z", TEST{ 644}=="/w", RUN+="x"',
    'KERNEL=="sda", PROGRAM="/bin/true"',
    'KERNEL=="sda", PROGRAM+="/bin/true"',
    'KERNEL=="sda", PROGRAM:="/bin/true"',
    'KERNEL=="sda", PROGRAM!="/bin/true"',
    'KERNEL=="sda", IMPORT{program}="x", IMPORT{file}="/x", IMPORT{db}="ID_X"',
    'KERNEL=="sda", IMPORT{cmdline}="x", IMPORT{parent}="ID_*"',
    'KERNEL=="sda", IMPORT{program}+="x"',
    'KERNEL=="sda", IMPORT{builtin}="blkid", IMPORT{builtin}="path_id"',
    'KERNEL=="sda", IMPORT{builtin}="btrfs ready $devnode", IMPORT{builtin}="hwdb"',
    'KERNEL=="sda", IMPORT{builtin}="input_id", IMPORT{builtin}="keyboard"',
    'KERNEL=="sda", IMPORT{builtin}="kmod load x", IMPORT{builtin}="net_id"',
    'KERNEL=="sda", IMPORT{builtin}="net_setup_link", IMPORT{builtin}="usb_id"',
    'KERNEL=="sda", IMPORT{builtin}="uaccess", IMPORT{builtin}="  path_id"',
    'KERNEL=="sda", IMPORT{builtin}="p"',  # udev compares the name as a prefix
    'KERNEL=="sda", RUN{builtin}+="kmod load x", RUN{program}+="/bin/x"',
    'KERNEL=="sda", RUN="a", RUN:="b"',
    'KERNEL=="sda", OWNER="root", GROUP="disk", MODE="0660"',
    'KERNEL=="sda", OWNER:="0", GROUP:="6", MODE:="660"',
    'KERNEL=="sda", MODE="abc"',  # not a number: substituted and parsed per event
    'KERNEL=="sda", MODE="010000"',
    'KERNEL=="sda", TAG+="systemd", TAG-="x", TAG="y", TAG=="z"',
    'KERNEL=="sda", SECLABEL{selinux}="x", SECLABEL{smack}+="y"',
    'KERNEL=="sda", NAME="$kernel"',
    'KERNEL=="sda", NAME=="x", NAME:="y"',
    'KERNEL=="sda", OPTIONS="string_escape=none", OPTIONS="string_escape=replace"',
    'KERNEL=="sda", OPTIONS="db_persist", OPTIONS="watch", OPTIONS:="nowatch"',
    'KERNEL=="sda", OPTIONS+="static_node=tty0", OPTIONS="static_node="',
    'KERNEL=="sda", OPTIONS="link_priority=10", OPTIONS="link_priority=-10"',
    'KERNEL=="sda", OPTIONS="link_priority=0x1f", OPTIONS="link_priority=0b11"',
    'KERNEL=="sda", OPTIONS="link_priority=0o7", OPTIONS="link_priority= 10"',
    'KERNEL=="sda", OPTIONS="link_priority=010", OPTIONS="link_priority=+10"',
    'KERNEL=="sda", OPTIONS="link_priority=2147483647"',
    'KERNEL=="sda", OPTIONS="log_level=debug", OPTIONS="log_level=7"',
    'KERNEL=="sda", OPTIONS="log_level=reset", OPTIONS="log_level=err"',
    'KERNEL=="sda", OPTIONS="log_level= 3", OPTIONS="log_level=+3"',
    'KERNEL=="sda", GOTO=""\nLABEL=""',  # an empty label is a label
    'LABEL="x"',
    'KERNEL=="sda", RUN+="%k $kernel %%k $$kernel %q $foo"',
]

# Lines udev keeps, but not without a word: (line, fragment of our warning).
WARNED: list[tuple[str, str]] = [
    ('KERNEL=="sda"', "takes no effect"),
    (",", "takes no effect"),
    ('KERNEL=="sda", OPTIONS="last_rule"', "'last_rule' is ignored"),
    ('KERNEL=="sda", RUN+="x", OPTIONS="watch,nowatch"', "one option per OPTIONS key"),
    ('KERNEL=="sda", RUN+="x", OPTIONS="dump"', "'dump' is ignored"),
    ('KERNEL=="sda", RUN+="x", OPTIONS=" watch"', "' watch' is ignored"),
    ('KERNEL=="sda", NAME+="x"', "reads '+=' as '='"),
    ('KERNEL=="sda", ENV{ID_X}:="x"', "reads ':=' as '='"),
    ('KERNEL=="sda", TAG:="x"', "reads ':=' as '='"),
    ('KERNEL=="sda", ATTR{x}+="1"', "reads '+=' as '='"),
    ('KERNEL=="sda", ATTR{x}:="1"', "reads ':=' as '='"),
    ('KERNEL=="sda", SYSCTL{x}+="1"', "reads '+=' as '='"),
    ('KERNEL=="sda", OWNER+="root"', "reads '+=' as '='"),
    ('KERNEL=="sda", MODE+="0600"', "reads '+=' as '='"),
    ('KERNEL=="sda", SECLABEL{selinux}:="x"', "reads ':=' as '='"),
    ('SUBSYSTEM=="bus", RUN+="x"', 'must be specified as "subsystem"'),
    ('KERNEL=="sda", ATTRS{device/x}=="1", RUN+="x"', "'device' link"),
    ('KERNEL=="sda", RUN+="x", GOTO="a", GOTO="b"\nLABEL="a"', "multiple GOTO"),
    ('KERNEL=="sda", RUN{builtin}+=""', "empty value for RUN"),
    ('KERNEL=="sda", TAG+=""', "empty value for TAG"),
    ('KERNEL=="sda", MODE=""', "empty value for MODE"),
    ('KERNEL=="sda", IMPORT{builtin}=""', "empty value for IMPORT"),
]

# Lines udev drops, with udev's message: (line, fragment of our problem).
DROPPED: list[tuple[str, str]] = [
    ('KERNEL=="sdb", SYMLINK+="x" # note', "trailing text after the last key: '# note'"),
    ('ACTION=="add", RUN+="a", # note', "a '#' is a comment only at the start of a line"),
    ("KERNEL=='sdb', SYMLINK+=\"x\"", "single quotes are not allowed"),
    ("KERNEL==\"sdb\", SYMLINK+='x'", "single quotes are not allowed"),
    ('KERNEL=="sdb", SYMLINK+=x', "must be in double quotes"),
    ('KERNEL==i"sdb", RUN+="x"', "must be in double quotes"),  # "i" prefix came after 252
    ('KERNEL=="sdb", RUN+=e "x"', "must be in double quotes"),
    ('KERNEL=="sdb", RUN+=E"x"', "must be in double quotes"),
    ('KERNEL=="sdb", RUN+=ee"x"', "must be in double quotes"),
    ('KERNEL=="sdb", RUN+="x', "no closing"),
    ('KERNEL=="sdb", RUN+="x\\"', "no closing"),
    ('KERNEL=="sdb", RUN+="x\\\\"', "no closing"),  # \\" is \ then an escaped quote
    ('KERNEL=="sdb", RUN+=e"x\\"', "no closing"),
    ('KERNEL=="sdb", RUN+="x" \\ ', "does not continue the line"),
    ('KERNEL {x}=="sdb", RUN+="x"', "no operator"),
    ('KERNEL~="sdb", RUN+="x"', "unknown key 'KERNEL~'"),  # '~' is part of the key
    ('ATTR{size=="0", RUN+="x"', "without"),
    ('KERNEL=="sdb", RUN+=e"\\q"', "unknown escape '\\q'"),
    ('KERNEL=="sdb", RUN+=e"\\e"', "unknown escape '\\e'"),
    ('KERNEL=="sdb", RUN+=e"\\8"', "unknown escape '\\8'"),
    ('KERNEL=="sdb", RUN+=e"\\x00"', "udev refuses NUL"),
    ('KERNEL=="sdb", RUN+=e"\\u0000"', "udev refuses NUL"),
    ('KERNEL=="sdb", RUN+=e"\\000"', "udev refuses NUL"),
    ('KERNEL=="sdb", RUN+=e"\\x4"', "malformed escape"),
    ('KERNEL=="sdb", RUN+=e"\\77"', "malformed escape"),
    ('KERNEL=="sdb", RUN+=e"\\400"', "octal escapes stop"),
    ('KERNEL=="sdb", RUN+=e"\\U0000d800"', "not a valid character"),
    ('KERNEL=="sdb", RUN+=e"\\U0000FFFE"', "not a valid character"),
    ('KERNEL=="sdb", RUN+=e"\\U0000FDD0"', "not a valid character"),
    ('KERNEL=="sdb", RUN+=e"\\U00110000"', "not a valid character"),
    ('KERNEL=="sdb", FOO="bar"', "unknown key 'FOO'"),
    ('kernel=="sdb", RUN+="x"', "unknown key 'kernel'"),
    ('KERNEL=="sdb", WAIT_FOR="x"', "unknown key 'WAIT_FOR'"),
    ('=="sdb", RUN+="x"', "unknown key ''"),
    ('KERNEL=="sdb",\x0bRUN+="x"', "unknown key"),  # \v is no separator to udev
    ('\x0cKERNEL=="sdb", RUN+="x"', "unknown key"),
    ('KERNEL=="sdb", SYMLINK-="x"', "SYMLINK does not take '-='"),
    ('KERNEL=="sdb", SYMLINK{x}+="x"', "SYMLINK takes no attribute"),
    ('KERNEL{x}=="sdb", RUN+="x"', "KERNEL takes no attribute"),
    ('KERNEL="sdb", RUN+="x"', "KERNEL does not take '='"),
    ('ACTION="add", RUN+="x"', "ACTION does not take '='"),
    ('KERNEL=="sdb", DEVPATH="a", RUN+="x"', "DEVPATH does not take '='"),
    ('KERNEL=="sdb", SUBSYSTEM="a", RUN+="x"', "SUBSYSTEM does not take '='"),
    ('KERNEL=="sdb", DRIVER="a", RUN+="x"', "DRIVER does not take '='"),
    ('KERNEL=="sdb", KERNELS="a", RUN+="x"', "KERNELS does not take '='"),
    ('KERNEL=="sdb", SUBSYSTEMS="a", RUN+="x"', "SUBSYSTEMS does not take '='"),
    ('KERNEL=="sdb", DRIVERS="a", RUN+="x"', "DRIVERS does not take '='"),
    ('KERNEL=="sdb", TAGS="a", RUN+="x"', "TAGS does not take '='"),
    ('KERNEL=="sdb", RESULT="a", RUN+="x"', "RESULT does not take '='"),
    ('KERNEL=="sdb", ATTRS{x}="a", RUN+="x"', "ATTRS does not take '='"),
    ('KERNEL=="sdb", ATTR=="0", RUN+="x"', "ATTR requires an attribute: ATTR{...}"),
    ('KERNEL=="sdb", ATTR{}=="0", RUN+="x"', "ATTR requires an attribute"),
    ('KERNEL=="sdb", ATTR{x}-="0"', "ATTR does not take '-='"),
    ('KERNEL=="sdb", SYSCTL="0"', "SYSCTL requires an attribute"),
    ('KERNEL=="sdb", SYSCTL{x}-="0"', "SYSCTL does not take '-='"),
    ('KERNEL=="sdb", ENV{}="0"', "ENV requires an attribute"),
    ('KERNEL=="sdb", ENV{ID_X}-="0"', "ENV does not take '-='"),
    ('KERNEL=="sdb", ENV{ACTION}="x"', "'ACTION' cannot be set"),
    ('KERNEL=="sdb", ENV{DEVLINKS}="x"', "'DEVLINKS' cannot be set"),
    ('KERNEL=="sdb", ENV{DEVNAME}="x"', "'DEVNAME' cannot be set"),
    ('KERNEL=="sdb", ENV{DEVPATH}="x"', "'DEVPATH' cannot be set"),
    ('KERNEL=="sdb", ENV{DEVTYPE}="x"', "'DEVTYPE' cannot be set"),
    ('KERNEL=="sdb", ENV{DRIVER}="x"', "'DRIVER' cannot be set"),
    ('KERNEL=="sdb", ENV{IFINDEX}="x"', "'IFINDEX' cannot be set"),
    ('KERNEL=="sdb", ENV{MAJOR}="x"', "'MAJOR' cannot be set"),
    ('KERNEL=="sdb", ENV{MINOR}="x"', "'MINOR' cannot be set"),
    ('KERNEL=="sdb", ENV{SEQNUM}="x"', "'SEQNUM' cannot be set"),
    ('KERNEL=="sdb", ENV{SUBSYSTEM}="x"', "'SUBSYSTEM' cannot be set"),
    ('KERNEL=="sdb", ENV{TAGS}="x"', "'TAGS' cannot be set"),
    ('KERNEL=="sdb", CONST{foo}=="x", RUN+="x"', "CONST requires CONST{arch} or CONST{virt}"),
    ('KERNEL=="sdb", CONST{arch}="x", RUN+="x"', "CONST does not take '='"),
    ('KERNEL=="sdb", TEST="/x", RUN+="x"', "TEST does not take '='"),
    ('KERNEL=="sdb", TEST{abc}=="/x", RUN+="x"', "failed to parse mode 'abc'"),
    ('KERNEL=="sdb", TEST{99999}=="/x", RUN+="x"', "failed to parse mode '99999'"),
    ('KERNEL=="sdb", TEST{10000}=="/x", RUN+="x"', "failed to parse mode '10000'"),
    ('KERNEL=="sdb", TEST{-644}=="/x", RUN+="x"', "failed to parse mode '-644'"),
    ('KERNEL=="sdb", TEST{0o644}=="/x", RUN+="x"', "failed to parse mode '0o644'"),
    ('KERNEL=="sdb", TEST{8}=="/x", RUN+="x"', "failed to parse mode '8'"),
    ('KERNEL=="sdb", PROGRAM-="/bin/true"', "PROGRAM does not take '-='"),
    ('KERNEL=="sdb", PROGRAM{x}="/bin/true"', "PROGRAM takes no attribute"),
    ('KERNEL=="sdb", IMPORT="x"', "IMPORT requires an attribute"),
    ('KERNEL=="sdb", IMPORT{}="x"', "IMPORT requires an attribute"),
    ('KERNEL=="sdb", IMPORT{foo}="x"', "invalid attribute for IMPORT"),
    ('KERNEL=="sdb", IMPORT{program}-="x"', "IMPORT does not take '-='"),
    ('KERNEL=="sdb", IMPORT{builtin}="bogus"', "unknown builtin command 'bogus'"),
    ('KERNEL=="sdb", IMPORT{builtin}="path_idx"', "unknown builtin command 'path_idx'"),
    ('KERNEL=="sdb", RUN{builtin}+="net_driver"', "unknown builtin command 'net_driver'"),
    ('KERNEL=="sdb", RUN{foo}+="x"', "invalid attribute for RUN"),
    ('KERNEL=="sdb", RUN{}+="x"', "invalid attribute for RUN"),
    ('KERNEL=="sdb", RUN-="x"', "RUN does not take '-='"),
    ('KERNEL=="sdb", RUN=="x"', "RUN does not take '=='"),
    ('KERNEL=="sdb", OWNER=="root"', "OWNER does not take '=='"),
    ('KERNEL=="sdb", OWNER-="root"', "OWNER does not take '-='"),
    ('KERNEL=="sdb", GROUP=="disk"', "GROUP does not take '=='"),
    ('KERNEL=="sdb", MODE{x}="0660"', "MODE takes no attribute"),
    ('KERNEL=="sdb", MODE!="0660"', "MODE does not take '!='"),
    ('KERNEL=="sdb", SECLABEL="x"', "SECLABEL requires an attribute"),
    ('KERNEL=="sdb", SECLABEL{selinux}=="x"', "SECLABEL does not take '=='"),
    ('KERNEL=="sdb", NAME="%k"', 'ignoring NAME="%k"'),
    ('KERNEL=="sdb", NAME=""', 'ignoring NAME=""'),
    ('KERNEL=="sdb", NAME-="x"', "NAME does not take '-='"),
    ('KERNEL=="sdb", LABEL=="x"', "LABEL does not take '=='"),
    ('KERNEL=="sdb", LABEL{a}="x"', "LABEL takes no attribute"),
    ('KERNEL=="sdb", GOTO+="x"', "GOTO does not take '+='"),
    ('KERNEL=="sdb", OPTIONS="link_priority=10,watch"', "one option per OPTIONS key"),
    ('KERNEL=="sdb", OPTIONS="link_priority="', "failed to parse link priority"),
    ('KERNEL=="sdb", OPTIONS="link_priority=09"', "failed to parse link priority"),
    ('KERNEL=="sdb", OPTIONS="link_priority=0x"', "failed to parse link priority"),
    ('KERNEL=="sdb", OPTIONS="link_priority=1_000"', "failed to parse link priority"),
    ('KERNEL=="sdb", OPTIONS="link_priority=10 "', "failed to parse link priority"),
    ('KERNEL=="sdb", OPTIONS="link_priority=2147483648"', "failed to parse link priority"),
    ('KERNEL=="sdb", OPTIONS="log_level=bogus"', "failed to parse log level"),
    ('KERNEL=="sdb", OPTIONS="log_level=8"', "failed to parse log level"),
    ('KERNEL=="sdb", OPTIONS="log_level=DEBUG"', "failed to parse log level"),
    ('KERNEL=="sdb", OPTIONS="log_level=error"', "failed to parse log level"),
    ('KERNEL=="sdb", OPTIONS="log_level=-1"', "failed to parse log level"),
    ('KERNEL=="sdb", OPTIONS-="watch"', "OPTIONS does not take '-='"),
    ('KERNEL=="sdb", OPTIONS=="watch"', "OPTIONS does not take '=='"),
    ('KERNEL=="sdb", OPTIONS{x}="watch"', "OPTIONS takes no attribute"),
    ('GOTO="nowhere"', 'GOTO="nowhere" has no LABEL="nowhere" later in this file'),
    ('GOTO="here", LABEL="here"', "has no LABEL"),  # forward only: not the same line
]


def _long_line(size: int) -> str:
    """A line of exactly `size` bytes that udev refuses if it reads it (unknown key)."""
    return 'FOO="' + "a" * (size - 6) + '"'


def _continued(size: int) -> str:
    """Two physical lines whose joined text is `size` bytes."""
    head = 'FOO="' + "a" * 8000
    return head + "\\\n" + "a" * (size - len(head) - 1) + '"'


# Whole files: (name, text, lines where udev logs an error, lines where udev says the line
# takes no effect, whether udev gives up reading the file).
FILE_CASES: list[tuple[str, str, list[int], list[int], bool]] = [
    ("crlf", 'KERNEL=="sdz", \\\r\n  FOO="1"\r\nKERNEL=="sdz", RUN+="x"\r\nBAR="2"\r\n',
     [2, 4], [], False),
    ("line-endings",
     'A1="x"\n\rA2="x"\r\nA3="x"\n\x00A4="x"\x00\nA5="x"\r\rA6="x"\n\nA7="x"\r\n\x00A8="x"\x00\x00A9="x"',
     [1, 2, 3, 4, 6, 8, 10, 11, 13], [], False),
    ("continuations",
     'KERNEL=="sdz", \\\n# comment \\\n  FOO="1"\nKERNEL=="sdz", \\\n\nBAR="2"\n'
     'KERNEL=="sdz", RUN+="a\\\\\n\nQ="3"\nKERNEL=="sdz", \\\n   #c\n\n',
     [3, 6, 9], [5, 12], False),
    ("end-inside-continuation", 'KERNEL=="sdz", RUN+="x"\nFOO="1" \\', [], [], False),
    ("hash-after-keys", 'KERNEL=="sdz", RUN+="x" # note\n  # a real comment\n', [1], [], False),
    ("line-of-16383-bytes", 'KERNEL=="sdz", RUN+="x"\n' + _long_line(16383) + '\nBAR="x"\n',
     [2, 3], [], False),
    ("line-of-16384-bytes", 'BAZ="1"\n' + _long_line(16384) + '\nBAR="x"\nGOTO="nowhere"\n',
     [1], [], True),
    ("continued-to-16383-bytes", _continued(16383) + '\nBAR="x"\n', [2, 3], [], False),
    ("continued-to-16384-bytes", _continued(16384) + '\nBAR="x"\n', [2, 3], [], False),
    ("goto-and-label",
     'GOTO="a"\nKERNEL=="sdz", GOTO="b"\nLABEL="a"\nGOTO="c", LABEL="c"\nGOTO="d"\n'
     'FOO="x", LABEL="d"\nGOTO="e", GOTO="f"\nLABEL="e"\n',
     [2, 4, 5, 6], [], False),
]  # fmt: skip
