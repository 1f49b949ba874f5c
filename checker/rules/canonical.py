"""What udev 252 makes of each token, and the canonical form of a rule built from that.

udev (`src/udev/udev-rules.c`, systemd 252) turns every `KEY{attr}OP"value"` into a typed
token: it refuses some (the whole rule is then dropped), ignores a few with a warning, reads
some operators as others, and finally sorts the rule's tokens by their type, keeping the
source order among tokens of one type. `interpret()` does the same for one token, and
`canonical_rule_line()` builds one fixed spelling from the result, so that rules which udev
treats the same are spelled the same and real differences stay visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from operator import attrgetter
from typing import Callable, Optional

from checker.rules.model import Token
from checker.rules.template import SIGN, SUBST, Piece, scan

# udev's own limits (src/shared/udev-util.h, src/udev/udev-rules.c).
UDEV_LINE_SIZE = 16384  # read_line() refuses a line of this many bytes or more

MATCH_OPS = frozenset(("==", "!="))
OPERATORS = ("==", "!=", "+=", "-=", "=", ":=")
WHITESPACE = " \t\n\r"  # systemd's WHITESPACE; \v and \f are not whitespace to udev
C_SPACE = " \t\n\v\f\r"  # what strtol() skips

# UdevRuleTokenType in udev-rules.c (v252). udev sorts the tokens of a rule by this order;
# the index is the sort key ("rank").
_TOKEN_TYPES = (
    "M_ACTION", "M_DEVPATH", "M_KERNEL", "M_DEVLINK", "M_NAME", "M_ENV", "M_CONST", "M_TAG",
    "M_SUBSYSTEM", "M_DRIVER", "M_ATTR", "M_SYSCTL",
    "M_PARENTS_KERNEL", "M_PARENTS_SUBSYSTEM", "M_PARENTS_DRIVER", "M_PARENTS_ATTR",
    "M_PARENTS_TAG",
    "M_TEST", "M_PROGRAM", "M_IMPORT_FILE", "M_IMPORT_PROGRAM", "M_IMPORT_BUILTIN",
    "M_IMPORT_DB", "M_IMPORT_CMDLINE", "M_IMPORT_PARENT", "M_RESULT",
    "A_OPTIONS_STRING_ESCAPE_NONE", "A_OPTIONS_STRING_ESCAPE_REPLACE", "A_OPTIONS_DB_PERSIST",
    "A_OPTIONS_INOTIFY_WATCH", "A_OPTIONS_DEVLINK_PRIORITY", "A_OPTIONS_LOG_LEVEL",
    "A_OWNER", "A_GROUP", "A_MODE", "A_OWNER_ID", "A_GROUP_ID", "A_MODE_ID", "A_TAG",
    "A_OPTIONS_STATIC_NODE", "A_SECLABEL", "A_ENV", "A_NAME", "A_DEVLINK", "A_ATTR",
    "A_SYSCTL", "A_RUN_BUILTIN", "A_RUN_PROGRAM",
)  # fmt: skip
RANK: dict[str, int] = {name: i for i, name in enumerate(_TOKEN_TYPES)}
# LABEL and GOTO are not tokens in udev but properties of the line: their place on the line
# does not matter. The canonical form puts LABEL first and GOTO last; a refused token goes
# after everything, in source order.
RANK_LABEL = -1
RANK_GOTO = len(_TOKEN_TYPES)
RANK_INVALID = len(_TOKEN_TYPES) + 1

# What makes udev keep a line: an assignment, GOTO, LABEL, or a match that does something
# (PROGRAM, IMPORT); a line of plain matches "takes no effect".
_EFFECT_RANKS = frozenset(
    [RANK_LABEL, RANK_GOTO]
    + list(range(RANK["M_PROGRAM"], RANK["M_IMPORT_PARENT"] + 1))
    + list(range(RANK["A_OPTIONS_STRING_ESCAPE_NONE"], len(_TOKEN_TYPES)))
)
# Matches whose value is a plain pattern: for these udev reads =="?*" as !="" (the token is
# identical). Not ATTR/ATTRS (trailing-whitespace handling depends on the value) and not
# TEST/PROGRAM/IMPORT (the value is a path or a command).
_FOLDABLE = frozenset(
    RANK[n]
    for n in (
        "M_ACTION", "M_DEVPATH", "M_KERNEL", "M_DEVLINK", "M_NAME", "M_ENV", "M_CONST", "M_TAG",
        "M_SUBSYSTEM", "M_DRIVER", "M_SYSCTL", "M_PARENTS_KERNEL", "M_PARENTS_SUBSYSTEM",
        "M_PARENTS_DRIVER", "M_PARENTS_TAG", "M_RESULT",
    )
)  # fmt: skip

# Builtins compiled into Debian 12's udev 252 (each checked with the real udevadm).
BUILTINS = (
    "blkid", "btrfs", "hwdb", "input_id", "keyboard", "kmod", "net_id", "net_setup_link",
    "path_id", "usb_id", "uaccess",
)  # fmt: skip
# Properties udev 252 refuses to set with ENV{...}= (the whole rule is dropped).
ENV_READ_ONLY = frozenset(
    ("ACTION", "DEVLINKS", "DEVNAME", "DEVPATH", "DEVTYPE", "DRIVER", "IFINDEX", "MAJOR",
     "MINOR", "SEQNUM", "SUBSYSTEM", "TAGS")
)  # fmt: skip
IMPORT_TYPES = ("program", "builtin", "file", "db", "cmdline", "parent")
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


class Meaning:
    """What udev makes of one token: its type, the form it really acts with, or why not."""

    __slots__ = (
        "rank", "key", "attr", "op", "value", "error", "warnings", "ignored", "has_effect",
        "is_goto_or_label", "needs_care", "text",
    )  # fmt: skip

    def __init__(
        self,
        rank: int,
        key: str,
        attr: str | None,
        op: str,
        value: str,
        error: str | None = None,
        warnings: tuple[str, ...] = (),
        ignored: bool = False,
    ) -> None:
        self.rank = rank  # sort key: udev's token type order
        self.key = key  # canonical spelling of the token
        self.attr = attr
        self.op = op
        self.value = value
        self.error = error  # udev refuses the token and drops the whole rule
        self.warnings = warnings  # udev logs this but keeps the rule
        self.ignored = ignored  # udev drops this token only (with a warning)
        # what makes udev keep a line: anything but a plain match
        self.has_effect = error is None and not ignored and rank in _EFFECT_RANKS
        self.is_goto_or_label = rank in (RANK_GOTO, RANK_LABEL) and error is None
        # the parser's fast path skips the usual token: no error, no warning, no GOTO/LABEL
        self.needs_care = error is not None or bool(warnings) or self.is_goto_or_label
        # what the canonical line says for it, `KEY{attr}OP"value"`
        self.text = render_token(key, attr, op, value)


# --- small parsers that copy systemd's number rules -------------------------------------


_HEX = "0123456789abcdefABCDEF"


def _digits(base: int) -> str:
    return _HEX if base == 16 else "0123456789"[:base]


def _strtol(text: str, base: int, unsigned: bool = False) -> int | None:
    """C strtol()/strtoul() that must consume the whole string; None when it fails."""
    s = text.lstrip(C_SPACE)
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if base in (0, 16) and s[:2] in ("0x", "0X") and s[2:3] != "" and s[2] in _HEX:
        s, base = s[2:], 16
    elif base == 0:
        base = 8 if s[:1] == "0" else 10
    allowed = _digits(base)
    if not s or any(c not in allowed for c in s):
        return None
    number = int(s, base)
    if negative and unsigned and number != 0:
        return None  # safe_atou() refuses "-N"
    return -number if negative else number


def _mangle_base(text: str) -> tuple[str, int]:
    """systemd's mangle_base(): Python-style 0b/0o prefixes, else strtol's base 0."""
    if text[:2] in ("0b", "0B"):
        return text[2:], 2
    if text[:2] in ("0o", "0O"):
        return text[2:], 8
    return text, 0


def parse_int(text: str) -> int | None:
    """systemd safe_atoi(): the link_priority= parser."""
    rest, base = _mangle_base(text.lstrip(WHITESPACE))
    number = _strtol(rest, base)
    if number is None or not -(2**31) <= number < 2**31:
        return None
    return number


def parse_log_level(text: str) -> bool:
    """systemd log_level_from_string() (a name or 0..7), plus udev's "reset"."""
    if text == "reset" or text in LOG_LEVELS:
        return True
    rest, base = _mangle_base(text.lstrip(WHITESPACE))
    number = _strtol(rest, base, unsigned=True)
    return number is not None and number <= 7


def parse_mode(text: str) -> int | None:
    """systemd parse_mode(): octal, at most 07777, no sign."""
    s = text.lstrip(WHITESPACE)
    if s[:1] in ("+", "-"):
        return None
    number = _strtol(s, 8, unsigned=True)
    if number is None or number > 0o7777:
        return None
    return number


def builtin_lookup(command: str) -> bool:
    """udev_builtin_lookup(): the first word is compared as a prefix ("path" finds path_id)."""
    word = command.lstrip(WHITESPACE)
    end = 0
    while end < len(word) and word[end] not in WHITESPACE:
        end += 1
    word = word[:end]
    return any(name[:end] == word for name in BUILTINS)


# --- substitutions: %k and $kernel are one thing -------------------------------------------


def normalize_substitutions(value: str) -> str:
    """Spell every substitution the short way (%k, %s{attr}) and every literal % or $ doubled.

    This follows udev's get_subst_type(): "$kernel" and "%k" are the same, "%%" and "$$" stay,
    and a '%' or '$' that starts no substitution is a literal, the same as "%%" or "$$".
    An unclosed or empty "{...}" makes udev stop substituting there, so the rest is kept as is.
    """
    if "%" not in value and "$" not in value:
        return value
    return "".join(_short(piece) for piece in scan(value))


def _short(piece: Piece) -> str:
    if piece.kind == SIGN:
        return piece.fmt + piece.fmt
    if piece.kind == SUBST:
        return "%" + piece.fmt + ("" if piece.arg is None else "{" + piece.arg + "}")
    return piece.raw  # text, and the rest after a bad "{...}" as it is


def _attr_subst(attr: str) -> str:
    """ATTR{}/ATTRS{} match names are substituted unless they use the "[subsys/kernel]" form."""
    return attr if attr.startswith("[") else normalize_substitutions(attr)


# --- interpreting one token ------------------------------------------------------------------

Handler = Callable[[str, Optional[str], str, str], Meaning]


def _refuse(key: str, attr: str | None, op: str, value: str, why: str) -> Meaning:
    return Meaning(RANK_INVALID, key, attr, op, value, error=why)


def _no_attr(key: str, attr: str | None, op: str, value: str) -> Meaning:
    return _refuse(key, attr, op, value, f"{key} takes no attribute, but has {{{attr}}}")


def _attr_required(key: str, attr: str | None, op: str, value: str) -> Meaning:
    return _refuse(key, attr, op, value, f"{key} requires an attribute: {key}{{...}}")


def _bad_op(key: str, attr: str | None, op: str, value: str, hint: str = "") -> Meaning:
    return _refuse(key, attr, op, value, f"{key} does not take '{op}'{hint}")


_ONLY_MATCHES = " (it only matches: use '==' or '!=')"
_ONLY_ASSIGNS = " (it only assigns)"


def _assumed(key: str, op: str, takes: str) -> tuple[str, ...]:
    return (f"{key} takes {takes}; udev reads '{op}' as '='",)


def _empty(key: str, value: str) -> tuple[str, ...]:
    return (f"empty value for {key} (udev logs an error but keeps the rule)",) if not value else ()


def _match(rank: int, key: str, attr: str | None, op: str, value: str,
           warnings: tuple[str, ...] = ()) -> Meaning:  # fmt: skip
    if value == "?*" and rank in _FOLDABLE:
        op, value = ("!=" if op == "==" else "=="), ""
    return Meaning(rank, key, attr, op, value, warnings=warnings)


def _match_only(rank_name: str) -> Handler:
    rank = RANK[rank_name]

    def handle(key: str, attr: str | None, op: str, value: str) -> Meaning:
        if attr is not None:
            return _no_attr(key, attr, op, value)
        if op not in MATCH_OPS:
            return _bad_op(key, attr, op, value, _ONLY_MATCHES)
        return _match(rank, key, None, op, value)

    return handle


def _subsystem(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    if op not in MATCH_OPS:
        return _bad_op(key, attr, op, value, _ONLY_MATCHES)
    if value in ("bus", "class"):  # udev matches all three against "subsystem"
        warning = (f'"{value}" must be specified as "subsystem"',)
        return _match(RANK["M_SUBSYSTEM"], key, None, op, "subsystem", warning)
    return _match(RANK["M_SUBSYSTEM"], key, None, op, value)


def _symlink(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    if op in MATCH_OPS:
        return _match(RANK["M_DEVLINK"], key, None, op, value)
    return Meaning(RANK["A_DEVLINK"], key, None, op, normalize_substitutions(value))


def _name(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    warnings: tuple[str, ...] = ()
    if op == "+=":
        warnings, op = _assumed(key, op, "'==', '!=', '=' or ':='"), "="
    if op in MATCH_OPS:
        return _match(RANK["M_NAME"], key, None, op, value)
    if value == "%k":
        return _refuse(key, attr, op, value, 'ignoring NAME="%k", as it will take no effect')
    if not value:
        return _refuse(key, attr, op, value, 'ignoring NAME="", as udev will not delete network interfaces')
    value = normalize_substitutions(value)
    if value == "%k":  # udev refuses the literal "%k" only; "$kernel" is the valid spelling
        value = "$kernel"
    return Meaning(RANK["A_NAME"], key, None, op, value, warnings=warnings)


def _env(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if not attr:
        return _attr_required(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    warnings: tuple[str, ...] = ()
    if op == ":=":
        warnings, op = _assumed(key, op, "'==', '!=', '=' or '+='"), "="
    if op in MATCH_OPS:
        return _match(RANK["M_ENV"], key, attr, op, value)
    if attr in ENV_READ_ONLY:
        return _refuse(key, attr, op, value, f"invalid ENV attribute: '{attr}' cannot be set")
    return Meaning(RANK["A_ENV"], key, attr, op, normalize_substitutions(value), warnings=warnings)


def _const(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr not in ("arch", "virt"):
        return _refuse(key, attr, op, value, "CONST requires CONST{arch} or CONST{virt}")
    if op not in MATCH_OPS:
        return _bad_op(key, attr, op, value, _ONLY_MATCHES)
    return _match(RANK["M_CONST"], key, attr, op, value)


def _tag(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    warnings: tuple[str, ...] = ()
    if op == ":=":
        warnings, op = _assumed(key, op, "'==', '!=', '=', '+=' or '-='"), "="
    if op in MATCH_OPS:
        return _match(RANK["M_TAG"], key, None, op, value)
    warnings += _empty(key, value)
    return Meaning(RANK["A_TAG"], key, None, op, normalize_substitutions(value), warnings=warnings)


def _attr(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if not attr:
        return _attr_required(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    warnings: tuple[str, ...] = ()
    if op in ("+=", ":="):
        warnings, op = _assumed(key, op, "'==', '!=' or '='"), "="
    if op in MATCH_OPS:
        return _match(RANK["M_ATTR"], key, _attr_subst(attr), op, value)
    # ATTR{name}= writes to a path: udev does not substitute in the name here
    return Meaning(RANK["A_ATTR"], key, attr, op, normalize_substitutions(value), warnings=warnings)


def _sysctl(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if not attr:
        return _attr_required(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    warnings: tuple[str, ...] = ()
    if op in ("+=", ":="):
        warnings, op = _assumed(key, op, "'==', '!=' or '='"), "="
    name = normalize_substitutions(attr)
    if op in MATCH_OPS:
        return _match(RANK["M_SYSCTL"], key, name, op, value)
    value = normalize_substitutions(value)
    return Meaning(RANK["A_SYSCTL"], key, name, op, value, warnings=warnings)


def _attrs(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if not attr:
        return _attr_required(key, attr, op, value)
    if op not in MATCH_OPS:
        return _bad_op(key, attr, op, value, _ONLY_MATCHES)
    warnings: tuple[str, ...] = ()
    if attr.startswith("device/"):
        warnings += ("'device' link may not be available in future kernels",)
    if "../" in attr:
        warnings += ("direct reference to parent sysfs directory, may break in future kernels",)
    return _match(RANK["M_PARENTS_ATTR"], key, _attr_subst(attr), op, value, warnings)


def _test(key: str, attr: str | None, op: str, value: str) -> Meaning:
    mode: str | None = None
    if attr:  # TEST{} is the same as TEST
        number = parse_mode(attr)
        if number is None:
            return _refuse(key, attr, op, value, f"failed to parse mode '{attr}' of TEST{{...}}")
        mode = f"{number:04o}"
    if op not in MATCH_OPS:
        return _bad_op(key, attr, op, value, _ONLY_MATCHES)
    value_n = normalize_substitutions(value)
    return Meaning(RANK["M_TEST"], key, mode, op, value_n, warnings=_empty(key, value))


def _program(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    op = op if op in MATCH_OPS else "=="  # udev reads PROGRAM= += := as PROGRAM==
    value_n = normalize_substitutions(value)
    return Meaning(RANK["M_PROGRAM"], key, None, op, value_n, warnings=_empty(key, value))


def _import(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if not attr:
        return _attr_required(key, attr, op, value)
    if op == "-=":
        return _bad_op(key, attr, op, value)
    op = op if op in MATCH_OPS else "=="  # udev reads IMPORT= += := as IMPORT==
    warnings = _empty(key, value)
    if attr == "program" and builtin_lookup(value):
        attr = "builtin"  # udev runs IMPORT{program}="<builtin>" as the builtin
    if attr == "builtin":
        if not builtin_lookup(value):
            return _refuse(key, attr, op, value, f"unknown builtin command '{value}'")
        rank = RANK["M_IMPORT_BUILTIN"]
    elif attr in ("program", "file", "parent"):
        rank = RANK["M_IMPORT_" + attr.upper()]
    elif attr in ("db", "cmdline"):  # a property or option name: no substitution
        return Meaning(RANK["M_IMPORT_" + attr.upper()], key, attr, op, value, warnings=warnings)
    else:
        return _refuse(key, attr, op, value,
                       f"invalid attribute for IMPORT: {{{attr}}} is none of "
                       + ", ".join(IMPORT_TYPES))  # fmt: skip
    return Meaning(rank, key, attr, op, normalize_substitutions(value), warnings=warnings)


def _options(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    if op in MATCH_OPS or op == "-=":
        return _bad_op(key, attr, op, value, _ONLY_ASSIGNS if op in MATCH_OPS else "")
    # OPTIONS+= is OPTIONS=, and only "watch"/"nowatch" give ":=" a meaning
    simple = {
        "string_escape=none": "A_OPTIONS_STRING_ESCAPE_NONE",
        "string_escape=replace": "A_OPTIONS_STRING_ESCAPE_REPLACE",
        "db_persist": "A_OPTIONS_DB_PERSIST",
    }
    if value in simple:
        return Meaning(RANK[simple[value]], key, None, "=", value)
    if value in ("watch", "nowatch"):
        return Meaning(RANK["A_OPTIONS_INOTIFY_WATCH"], key, None, "=" if op == "+=" else op, value)
    if value.startswith("static_node="):
        return Meaning(RANK["A_OPTIONS_STATIC_NODE"], key, None, "=", value)
    if value.startswith("link_priority="):
        if parse_int(value[len("link_priority=") :]) is None:
            return _refuse(key, attr, op, value, _bad_option(value, "link priority"))
        return Meaning(RANK["A_OPTIONS_DEVLINK_PRIORITY"], key, None, "=", value)
    if value.startswith("log_level="):
        if not parse_log_level(value[len("log_level=") :]):
            return _refuse(key, attr, op, value, _bad_option(value, "log level"))
        return Meaning(RANK["A_OPTIONS_LOG_LEVEL"], key, None, "=", value)
    hint = " (one option per OPTIONS key)" if "," in value else ""
    warning = f"invalid OPTIONS value '{value}' is ignored{hint}"
    return Meaning(RANK_INVALID, key, None, op, value, warnings=(warning,), ignored=True)


def _bad_option(value: str, what: str) -> str:
    if "," in value:
        return f"invalid OPTIONS value '{value}' (one option per OPTIONS key)"
    return f"invalid OPTIONS value '{value}' (failed to parse {what})"


def _owner_group(names: tuple[str, str]) -> Handler:
    by_name, by_id = RANK[names[0]], RANK[names[1]]

    def handle(key: str, attr: str | None, op: str, value: str) -> Meaning:
        if attr is not None:
            return _no_attr(key, attr, op, value)
        if op in MATCH_OPS or op == "-=":
            return _bad_op(key, attr, op, value, _ONLY_ASSIGNS if op in MATCH_OPS else "")
        warnings: tuple[str, ...] = ()
        if op == "+=":
            warnings, op = _assumed(key, op, "'=' or ':='"), "="
        if value.startswith("[") or "%" in value or "$" in value:
            return Meaning(by_name, key, None, op, normalize_substitutions(value), warnings=warnings)
        # a number or a plain name: resolved once when the rules are loaded
        return Meaning(by_id, key, None, op, value, warnings=warnings)

    return handle


def _mode(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if attr is not None:
        return _no_attr(key, attr, op, value)
    if op in MATCH_OPS or op == "-=":
        return _bad_op(key, attr, op, value, _ONLY_ASSIGNS if op in MATCH_OPS else "")
    warnings: tuple[str, ...] = ()
    if op == "+=":
        warnings, op = _assumed(key, op, "'=' or ':='"), "="
    number = parse_mode(value)
    if number is not None:  # "660" and "0660" are one mode
        return Meaning(RANK["A_MODE_ID"], key, None, op, f"{number:04o}", warnings=warnings)
    value_n = normalize_substitutions(value)
    return Meaning(RANK["A_MODE"], key, None, op, value_n, warnings=warnings + _empty(key, value))


def _seclabel(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if not attr:
        return _attr_required(key, attr, op, value)
    if op in MATCH_OPS or op == "-=":
        return _bad_op(key, attr, op, value, _ONLY_ASSIGNS if op in MATCH_OPS else "")
    warnings = _empty(key, value)
    if op == ":=":
        warnings, op = warnings + _assumed(key, op, "'=' or '+='"), "="
    value_n = normalize_substitutions(value)
    return Meaning(RANK["A_SECLABEL"], key, attr, op, value_n, warnings=warnings)


def _run(key: str, attr: str | None, op: str, value: str) -> Meaning:
    if op in MATCH_OPS or op == "-=":
        return _bad_op(key, attr, op, value, _ONLY_ASSIGNS if op in MATCH_OPS else "")
    warnings = _empty(key, value)
    value_n = normalize_substitutions(value)
    if attr is None or attr == "program":  # RUN and RUN{program} are one thing
        return Meaning(RANK["A_RUN_PROGRAM"], key, None, op, value_n, warnings=warnings)
    if attr == "builtin":
        if not builtin_lookup(value):
            return _refuse(key, attr, op, value, f"unknown builtin command '{value}'")
        return Meaning(RANK["A_RUN_BUILTIN"], key, attr, op, value_n, warnings=warnings)
    return _refuse(key, attr, op, value,
                   f"invalid attribute for RUN: {{{attr}}} is neither program nor builtin")  # fmt: skip


def _goto_label(rank: int) -> Handler:
    def handle(key: str, attr: str | None, op: str, value: str) -> Meaning:
        if attr is not None:
            return _no_attr(key, attr, op, value)
        if op != "=":
            return _bad_op(key, attr, op, value, " (use '=')")
        return Meaning(rank, key, None, op, value)

    return handle


_HANDLERS: dict[str, Handler] = {
    "ACTION": _match_only("M_ACTION"),
    "DEVPATH": _match_only("M_DEVPATH"),
    "KERNEL": _match_only("M_KERNEL"),
    "SYMLINK": _symlink,
    "NAME": _name,
    "ENV": _env,
    "CONST": _const,
    "TAG": _tag,
    "SUBSYSTEM": _subsystem,
    "DRIVER": _match_only("M_DRIVER"),
    "ATTR": _attr,
    "SYSCTL": _sysctl,
    "KERNELS": _match_only("M_PARENTS_KERNEL"),
    "SUBSYSTEMS": _match_only("M_PARENTS_SUBSYSTEM"),
    "DRIVERS": _match_only("M_PARENTS_DRIVER"),
    "ATTRS": _attrs,
    "TAGS": _match_only("M_PARENTS_TAG"),
    "TEST": _test,
    "PROGRAM": _program,
    "IMPORT": _import,
    "RESULT": _match_only("M_RESULT"),
    "OPTIONS": _options,
    "OWNER": _owner_group(("A_OWNER", "A_OWNER_ID")),
    "GROUP": _owner_group(("A_GROUP", "A_GROUP_ID")),
    "MODE": _mode,
    "SECLABEL": _seclabel,
    "RUN": _run,
    "GOTO": _goto_label(RANK_GOTO),
    "LABEL": _goto_label(RANK_LABEL),
}



MEANINGS: dict[tuple[str, str | None, str, str], Meaning] = {}
_CACHE_MAX = 65536


def interpret(key: str, attr: str | None, op: str, value: str) -> Meaning:
    """What udev 252 makes of `KEY{attr}OP"value"` (value already unquoted).

    Rules files repeat tokens a lot (KERNEL=="sd*", ENV{DEVTYPE}=="disk"), so results are
    cached; a Meaning is never changed after it is made.
    """
    cache_key = (key, attr, op, value)
    meaning = MEANINGS.get(cache_key)
    if meaning is None:
        if len(MEANINGS) >= _CACHE_MAX:
            MEANINGS.clear()
        meaning = MEANINGS[cache_key] = _interpret(key, attr, op, value)
    return meaning


def _interpret(key: str, attr: str | None, op: str, value: str) -> Meaning:
    handler = _HANDLERS.get(key)
    if handler is None:
        return _refuse(key, attr, op, value, f"unknown key '{key}'")
    if op not in OPERATORS:
        return _refuse(key, attr, op, value, f"invalid operator '{op}'")
    return handler(key, attr, op, value)


# --- the canonical line ---------------------------------------------------------------------


def effective_meanings(meanings: Iterable[Meaning]) -> list[Meaning]:
    """The tokens udev really keeps for a line, in udev's order (stable sort by type).

    Takes the meanings in source order. A second GOTO is ignored (the first wins), a later
    LABEL replaces an earlier one, and tokens udev ignores (a bad OPTIONS value) are left out.
    Refused tokens stay, last.
    """
    kept: list[Meaning] = []
    label_at = -1
    seen_goto = False
    for meaning in meanings:
        if meaning.ignored:
            continue
        if meaning.rank == RANK_GOTO:
            if seen_goto:
                continue
            seen_goto = True
        elif meaning.rank == RANK_LABEL:
            if label_at >= 0:
                kept[label_at] = meaning
                continue
            label_at = len(kept)
        kept.append(meaning)
    kept.sort(key=_RANK_OF)  # list.sort is stable, as udev's selection sort is
    return kept


_RANK_OF = attrgetter("rank")


_NEEDS_E_QUOTES = re.compile(r"[\n\r\x00]|\\\Z")


def render_value(value: str) -> str:
    """A quoted value that udev reads back as `value`: plain quotes unless they cannot say it.

    In plain quotes only \\" is an escape, so a value ending in a backslash (which would
    escape the closing quote) or holding a line break needs the C-escaped e"..." form.
    """
    if _NEEDS_E_QUOTES.search(value):
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\x00", "\\x00")  # udev refuses NUL: such a token cannot be written
        )
        return 'e"' + escaped + '"'
    if '"' in value:
        value = value.replace('"', '\\"')
    return '"' + value + '"'


def render_token(key: str, attr: str | None, op: str, value: str) -> str:
    head = key if attr is None else key + "{" + attr + "}"
    if head[-1:] in _OPERATOR_STARTS:
        # Only an unknown key can end so (":", "A+"): written against its operator it
        # would read back as another key and operator (":" "==" as "" ":=").
        head += " "
    return head + op + render_value(value)


_OPERATOR_STARTS = frozenset("+-!:")


# The canonical form of a line without tokens: a lone comma is the one rule line udev reads
# as "nothing", so it too parses back to itself.
EMPTY_CANONICAL = ","


def canonical_from_meanings(meanings: Iterable[Meaning]) -> str:
    """The canonical line for tokens already interpreted (in source order)."""
    parts = [m.text for m in effective_meanings(meanings)]
    if not parts:
        return EMPTY_CANONICAL
    line = ", ".join(parts)
    if line.startswith("#"):  # only a refused key can start with '#'; keep it a rule line
        line = ", " + line
    return line


def canonical_rule_line(tokens: Iterable[Token]) -> str:
    """The canonical spelling of a rule: `KEY{attr}OP"value"` in udev's order, joined by ", ".

    Rules that udev treats the same give the same string; the string is itself a rule line
    that parses back to the same canonical form.
    """
    return canonical_from_meanings(interpret(t.key, t.attr, t.op, t.value) for t in tokens)
