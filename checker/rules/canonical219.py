"""What udev 219 (systemd 219, RHEL 7: `src/udev/udev-rules.c` add_rule()) makes of each
token, as the same `Meaning` values canonical.py gives for 252, so that the rest (the
canonical line, the evaluator) reads both.

Where 219 differs from 252 for one token:
- keys are compared whole (`streq`), except `ATTR{` `SECLABEL{` `ATTRS{` `ENV{` `IMPORT`
  `TEST` `RUN` `NAME`, which only need to start so (`NAMEX="x"` is NAME); there is no
  CONST and no SYSCTL (unknown key: the rule is dropped), but WAIT_FOR and WAIT_FOR_SYSFS;
- a refused operator drops the rule ("invalid ... operation"), but an unknown IMPORT{}
  type, an unknown builtin, a RUN{} that is neither program nor builtin, `NAME="%k"` and
  `NAME=""` drop only their token;
- assignments take any operator but `-=`: `OPTIONS=="x"` assigns, `RUN=="x"` adds,
  `RUN:=` clears without freezing (219 has no final RUN list), `LABEL=="x"` labels;
  PROGRAM and IMPORT with any operator but `!=` act as `==`;
- `OPTIONS` looks for each option anywhere in the value (strstr): one key can set
  link_priority (atoi: "x" is 0), string_escape, db_persist, watch/nowatch and
  static_node; anything else, `last_rule` included, is silently nothing;
- `SUBSYSTEM=="bus"` (or "class", "subsystem") matches "subsystem|class|bus";
- ENV{SEQNUM} may be set (252 refuses it); builtins are found by their whole first word.
"""

from __future__ import annotations

from checker.rules.canonical import (
    ENV_READ_ONLY,
    MATCH_OPS,
    RANK,
    RANK_GOTO,
    RANK_INVALID,
    RANK_LABEL,
    Meaning,
    normalize_substitutions,
)

# The builtins of RHEL 7's udev 219 (udev-builtin.c, built with blkid, kmod and acl).
BUILTINS_219 = (
    "blkid", "btrfs", "hwdb", "input_id", "keyboard", "kmod", "net_id", "net_setup_link",
    "path_id", "usb_id", "uaccess",
)  # fmt: skip
# add_rule()'s blacklist: SEQNUM is not in it (252 added it)
ENV_READ_ONLY_219 = ENV_READ_ONLY - {"SEQNUM"}

# 219's TK_M_WAITFOR sorts between DRIVER and ATTR; it is a plain match, so it shares
# DRIVER's rank (matches of one line all have to pass: their order among plain matches
# does not change the answer).
RANK_WAITFOR = RANK["M_DRIVER"]

_MATCH_KEYS = {
    "ACTION": "M_ACTION", "DEVPATH": "M_DEVPATH", "KERNEL": "M_KERNEL", "DRIVER": "M_DRIVER",
    "KERNELS": "M_PARENTS_KERNEL", "SUBSYSTEMS": "M_PARENTS_SUBSYSTEM",
    "DRIVERS": "M_PARENTS_DRIVER", "TAGS": "M_PARENTS_TAG", "RESULT": "M_RESULT",
}  # fmt: skip


def raw_key(key: str, attr: str | None) -> str:
    """The key as 219's get_key() cut it from the line (attribute braces included)."""
    return key if attr is None else key + "{" + attr + "}"


def split_key(raw: str) -> tuple[str, str | None]:
    """`ATTR{size}` -> ("ATTR", "size"); a key with anything after its `}` stays whole."""
    brace = raw.find("{")
    if brace > 0 and raw.endswith("}") and raw.find("}", brace) == len(raw) - 1:
        return raw[:brace], raw[brace + 1 : -1]
    return raw, None


def key_attribute(raw: str, prefix: str) -> str | None:
    """get_key_attribute(): what is between the first '{' after `prefix` and the next '}'."""
    rest = raw[len(prefix):]
    open_at = rest.find("{")
    if open_at < 0:
        return None
    close = rest.find("}", open_at + 1)
    if close < 0:
        return None
    return rest[open_at + 1 : close]


def builtin_lookup_219(command: str) -> bool:
    """udev_builtin_lookup(): the text up to the first space is a builtin's whole name."""
    return command.split(" ", 1)[0] in BUILTINS_219


def atoi(text: str) -> int:
    """C atoi(): leading white space, a sign, digits; anything else ends the number."""
    s = text.lstrip(" \t\n\v\f\r")
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    digits = ""
    for c in s:
        if not "0" <= c <= "9":
            break
        digits += c
    number = sign * int(digits) if digits else 0
    return max(-(2**31), min(2**31 - 1, number))


def _strtol_whole(text: str, base: int) -> int | None:
    """strtol()/strtoul() whose end pointer must reach the end of the string; "" is 0."""
    s = text.lstrip(" \t\n\v\f\r")
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    allowed = "01234567" if base == 8 else "0123456789"
    if text == "":
        return 0
    if not s or any(c not in allowed for c in s):
        return None
    number = int(s, base)
    return -number if negative else number


def _refuse(key: str, attr: str | None, op: str, value: str, why: str) -> tuple[Meaning, ...]:
    return (Meaning(RANK_INVALID, key, attr, op, value, error=why),)


def _ignored(key: str, attr: str | None, op: str, value: str, why: str) -> tuple[Meaning, ...]:
    return (Meaning(RANK_INVALID, key, attr, op, value, warnings=(why,), ignored=True),)


# match_key()'s GL_SOMETHING: "?*" asks for a value that is not empty, as `!=""` does
# (the canonical form says it so, as for 252). Not TAG and TAGS: 219 compares those as
# plain strings.
_FOLDED = frozenset(("M_ACTION", "M_DEVPATH", "M_KERNEL", "M_DEVLINK", "M_NAME", "M_ENV", "M_SUBSYSTEM",
                     "M_DRIVER", "M_PARENTS_KERNEL", "M_PARENTS_SUBSYSTEM", "M_PARENTS_DRIVER",
                     "M_RESULT"))


def _one(rank_name: str, key: str, attr: str | None, op: str, value: str) -> tuple[Meaning, ...]:
    if value == "?*" and op in MATCH_OPS and rank_name in _FOLDED:
        op, value = ("!=" if op == "==" else "=="), ""
    return (Meaning(RANK[rank_name], key, attr, op, value),)


_CACHE: dict[tuple[str, str | None, str, str], tuple[Meaning, ...]] = {}


def interpret_219(key: str, attr: str | None, op: str, value: str) -> tuple[Meaning, ...]:
    """What udev 219 keeps of one token: no Meaning (a token it ignores with a message),
    one, or several (OPTIONS). A Meaning with an error: 219 drops the whole rule."""
    cache_key = (key, attr, op, value)
    found = _CACHE.get(cache_key)
    if found is None:
        if len(_CACHE) > 65536:
            _CACHE.clear()
        found = _CACHE[cache_key] = _interpret(raw_key(key, attr), op, value)
    return found


def _interpret(raw: str, op: str, value: str) -> tuple[Meaning, ...]:  # noqa: C901 - one branch per key, as add_rule()
    matching = op in MATCH_OPS
    name = _MATCH_KEYS.get(raw)
    if name is not None:
        if not matching:
            return _refuse(raw, None, op, value, f"invalid {raw} operation '{op}' (it only matches)")
        return _one(name, raw, None, op, value)
    if raw == "SUBSYSTEM":
        if not matching:
            return _refuse(raw, None, op, value, f"invalid SUBSYSTEM operation '{op}' (it only matches)")
        if value in ("subsystem", "bus", "class"):
            value = "subsystem|class|bus"
        return _one("M_SUBSYSTEM", raw, None, op, value)
    if raw.startswith("ATTR{"):
        attr = key_attribute(raw, "ATTR")
        if attr is None:
            return _refuse(raw, None, op, value, "error parsing ATTR attribute (no closing '}')")
        if op == "-=":
            return _refuse("ATTR", attr, op, value, "invalid ATTR operation '-='")
        if matching:
            return _one("M_ATTR", "ATTR", attr, op, value)
        return _one("A_ATTR", "ATTR", attr, "=", normalize_substitutions(value))
    if raw.startswith("SECLABEL{"):
        attr = key_attribute(raw, "SECLABEL")
        if attr is None:
            return _refuse(raw, None, op, value, "error parsing SECLABEL attribute (no closing '}')")
        if op == "-=":
            return _refuse("SECLABEL", attr, op, value, "invalid SECLABEL operation '-='")
        assign = "=" if op in ("=", ":=") else "+="
        return _one("A_SECLABEL", "SECLABEL", attr, assign, value)
    if raw.startswith("ATTRS{"):
        if not matching:
            return _refuse(raw, None, op, value, f"invalid ATTRS operation '{op}' (it only matches)")
        attr = key_attribute(raw, "ATTRS")
        if attr is None:
            return _refuse(raw, None, op, value, "error parsing ATTRS attribute (no closing '}')")
        return _one("M_PARENTS_ATTR", "ATTRS", attr, op, value)
    if raw.startswith("ENV{"):
        attr = key_attribute(raw, "ENV")
        if attr is None:
            return _refuse(raw, None, op, value, "error parsing ENV attribute (no closing '}')")
        if op == "-=":
            return _refuse("ENV", attr, op, value, "invalid ENV operation '-='")
        if matching:
            return _one("M_ENV", "ENV", attr, op, value)
        if attr in ENV_READ_ONLY_219:
            return _refuse("ENV", attr, op, value, f"invalid ENV attribute: '{attr}' cannot be set")
        return _one("A_ENV", "ENV", attr, "+=" if op == "+=" else "=", normalize_substitutions(value))
    if raw == "TAG":
        if matching:
            return _one("M_TAG", raw, None, op, value)
        assign = op if op in ("+=", "-=") else "="
        return _one("A_TAG", raw, None, assign, normalize_substitutions(value))
    if raw == "PROGRAM":
        if op == "-=":
            return _refuse(raw, None, op, value, "invalid PROGRAM operation '-='")
        return _one("M_PROGRAM", raw, None, "!=" if op == "!=" else "==", normalize_substitutions(value))
    if raw.startswith("IMPORT"):
        return _import(raw, op, value)
    if raw.startswith("TEST"):
        if not matching:
            return _refuse(raw, None, op, value, f"invalid TEST operation '{op}' (it only matches)")
        mode_attr = key_attribute(raw, "TEST")
        mode = None
        if mode_attr is not None:
            number = atoi_octal(mode_attr)
            mode = f"{number:04o}" if number else None
        return _one("M_TEST", "TEST", mode, op, normalize_substitutions(value))
    if raw.startswith("RUN"):
        return _run(raw, op, value)
    if raw in ("WAIT_FOR", "WAIT_FOR_SYSFS"):
        if op == "-=":
            return _refuse(raw, None, op, value, f"invalid {raw} operation '-='")
        return (Meaning(RANK_WAITFOR, "WAIT_FOR", None, "==", normalize_substitutions(value)),)
    if raw in ("LABEL", "GOTO"):
        if op == "-=":
            return _refuse(raw, None, op, value, f"invalid {raw} operation '-='")
        return (Meaning(RANK_LABEL if raw == "LABEL" else RANK_GOTO, raw, None, "=", value),)
    if raw.startswith("NAME"):
        if op == "-=":
            return _refuse("NAME", None, op, value, "invalid NAME operation '-='")
        if matching:
            return _one("M_NAME", "NAME", None, op, value)
        if value == "%k":
            return _ignored("NAME", None, op, value, 'NAME="%k" is ignored (it breaks kernel supplied names)')
        if value == "":
            return _ignored("NAME", None, op, value, 'NAME="" is ignored')
        return _one("A_NAME", "NAME", None, ":=" if op == ":=" else "=", normalize_substitutions(value))
    if raw == "SYMLINK":
        if op == "-=":
            return _refuse(raw, None, op, value, "invalid SYMLINK operation '-='")
        if matching:
            return _one("M_DEVLINK", raw, None, op, value)
        return _one("A_DEVLINK", raw, None, op, normalize_substitutions(value))
    if raw in ("OWNER", "GROUP"):
        if op == "-=":
            return _refuse(raw, None, op, value, f"invalid {raw} operation '-='")
        assign = ":=" if op == ":=" else "="
        uid = _strtol_whole(value, 10)
        if uid is not None or (value[:1] not in ("$", "%", "")):
            return _one(f"A_{raw}_ID", raw, None, assign, value)
        return _one(f"A_{raw}", raw, None, assign, normalize_substitutions(value))
    if raw == "MODE":
        if op == "-=":
            return _refuse(raw, None, op, value, "invalid MODE operation '-='")
        assign = ":=" if op == ":=" else "="
        mode_number = _strtol_whole(value, 8)
        if mode_number is not None:
            return _one("A_MODE_ID", raw, None, assign, f"{mode_number & 0o7777:04o}")
        return _one("A_MODE", raw, None, assign, normalize_substitutions(value))
    if raw == "OPTIONS":
        return _options(op, value)
    return _refuse(raw, None, op, value, f"unknown key '{raw}'")


def atoi_octal(text: str) -> int:
    """strtol(attr, NULL, 8) as TEST{mode} reads it: the leading octal digits."""
    s = text.lstrip(" \t\n\v\f\r")
    digits = ""
    for c in s:
        if c not in "01234567":
            break
        digits += c
    return int(digits, 8) if digits else 0


def _import(raw: str, op: str, value: str) -> tuple[Meaning, ...]:
    attr = key_attribute(raw, "IMPORT")
    if attr is None:
        return _ignored("IMPORT", None, op, value, "IMPORT{} type missing: udev 219 ignores this IMPORT")
    if op == "-=":
        return _refuse("IMPORT", attr, op, value, "invalid IMPORT operation '-='")
    match_op = "!=" if op == "!=" else "=="
    if attr == "program":
        if value[:1] != "/" and builtin_lookup_219(value):
            attr = "builtin"
        else:
            return _one("M_IMPORT_PROGRAM", "IMPORT", "program", match_op, normalize_substitutions(value))
    if attr == "builtin":
        if not builtin_lookup_219(value):
            return _ignored("IMPORT", attr, op, value,
                            f"IMPORT{{builtin}}: '{value}' unknown: udev 219 ignores this IMPORT")
        return _one("M_IMPORT_BUILTIN", "IMPORT", "builtin", match_op, normalize_substitutions(value))
    if attr in ("file", "parent"):
        return _one("M_IMPORT_" + attr.upper(), "IMPORT", attr, match_op, normalize_substitutions(value))
    if attr in ("db", "cmdline"):
        return _one("M_IMPORT_" + attr.upper(), "IMPORT", attr, match_op, value)
    return _ignored("IMPORT", attr, op, value, f"IMPORT{{{attr}}} unknown type: udev 219 ignores this IMPORT")


def _run(raw: str, op: str, value: str) -> tuple[Meaning, ...]:
    attr = key_attribute(raw, "RUN")
    if attr is None:
        attr = "program"
    if op == "-=":
        return _refuse("RUN", attr, op, value, "invalid RUN operation '-='")
    # 219 keeps no final RUN list: ':=' clears it as '=' does; '==' and '!=' add
    assign = "=" if op in ("=", ":=") else "+="
    if attr == "builtin":
        if not builtin_lookup_219(value):
            return _ignored("RUN", attr, op, value,
                            f"RUN{{builtin}}: '{value}' unknown: udev 219 ignores this RUN")
        return _one("A_RUN_BUILTIN", "RUN", "builtin", assign, normalize_substitutions(value))
    if attr == "program":
        return _one("A_RUN_PROGRAM", "RUN", None, assign, normalize_substitutions(value))
    return _ignored("RUN", attr, op, value, f"RUN{{{attr}}} unknown type: udev 219 ignores this RUN")


def _options(op: str, value: str) -> tuple[Meaning, ...]:
    if op == "-=":
        return _refuse("OPTIONS", None, op, value, "invalid OPTIONS operation '-='")
    found: list[Meaning] = []
    pos = value.find("link_priority=")
    if pos >= 0:
        number = atoi(value[pos + len("link_priority="):])
        found.append(Meaning(RANK["A_OPTIONS_DEVLINK_PRIORITY"], "OPTIONS", None, "=",
                             f"link_priority={number}"))
    pos = value.find("string_escape=")
    if pos >= 0:
        rest = value[pos + len("string_escape="):]
        if rest.startswith("none"):
            found.append(Meaning(RANK["A_OPTIONS_STRING_ESCAPE_NONE"], "OPTIONS", None, "=",
                                 "string_escape=none"))
        elif rest.startswith("replace"):
            found.append(Meaning(RANK["A_OPTIONS_STRING_ESCAPE_REPLACE"], "OPTIONS", None, "=",
                                 "string_escape=replace"))
    if "db_persist" in value:
        found.append(Meaning(RANK["A_OPTIONS_DB_PERSIST"], "OPTIONS", None, "=", "db_persist"))
    watch = "nowatch" if "nowatch" in value else "watch" if "watch" in value else None
    if watch is not None:
        found.append(Meaning(RANK["A_OPTIONS_INOTIFY_WATCH"], "OPTIONS", None,
                             ":=" if op == ":=" else "=", watch))
    pos = value.find("static_node=")
    if pos >= 0:
        found.append(Meaning(RANK["A_OPTIONS_STATIC_NODE"], "OPTIONS", None, "=", value[pos:]))
    if not found:
        return _ignored("OPTIONS", None, op, value, f"OPTIONS value '{value}' sets nothing in udev 219")
    return tuple(found)
