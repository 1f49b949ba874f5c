"""The link names udev 252 writes for a SYMLINK value: one function for the evaluator's
links and for the patterns that find the rules able to make a link.

systemd 252, src/udev/udev-rules.c, udev_rule_apply_token_to_event(), TK_A_DEVLINK:
udev_event_apply_format() expands the value (each substituted value's whitespace runs
become '_' unless string_escape=none), then

    if (event->esc == ESCAPE_UNSET)        count = udev_replace_chars(buf, "/ ");
    else if (event->esc == ESCAPE_REPLACE) count = udev_replace_chars(buf, "/");
    else                                   count = 0;

and the result is split at ' ' (skip_leading_chars() before each word). udev_replace_chars()
(src/shared/udev-util.c) keeps ASCII letters and digits, "#+-.:=@_", the allowed ones,
"\\x" escapes and valid UTF-8; whitespace becomes ' ' where ' ' is allowed; anything else
'_'. `event->esc` is reset for every line, and a line's OPTIONS tokens sort before its
SYMLINK ones. Seen with udevd 252: SYMLINK+="fz/a,b" makes /dev/fz/a_b, "fz/%%k" makes
/dev/fz/_k, "fz/$$$kernel" /dev/fz/_loop6, and " fz/s3 " with string_escape=replace
/dev/_fz/s3_ (tests/evaluate/test_link_names_real.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from checker.evaluate.substitute import Piece, map_known, replace_chars

ESCAPES = ("unset", "none", "replace")


def escape_of(options: Iterable[str]) -> str:
    """The line's string_escape from the values of its OPTIONS assignments ("unset" when
    none sets it; the last one counts, as each token sets event->esc in turn)."""
    esc = "unset"
    for value in options:
        if value == "string_escape=none":
            esc = "none"
        elif value == "string_escape=replace":
            esc = "replace"
    return esc


def as_written(pieces: list[Piece], esc: str) -> list[Piece]:
    """An expanded SYMLINK value with udev's character replacement applied to its known
    text (an unknown piece stays unknown: '_' is one of the characters it may hold)."""
    if esc == "unset":
        return map_known(pieces, lambda text: replace_chars(text, "/ "))
    if esc == "replace":
        return map_known(pieces, lambda text: replace_chars(text, "/"))
    return pieces
