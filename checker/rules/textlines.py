"""Physical lines as udev splits them, keeping each line's ending, so that an edit changes
only the lines it means to and leaves CRLF files CRLF.

udev's read_line() ends a line at "\\n", "\\r", NUL, or a run holding each of "\\n" and
"\\r" at most once ("\\r\\n", "\\n\\r"), optionally closed by one NUL. The rules parser
splits with the same expression, so line numbers agree everywhere."""

from __future__ import annotations

import re
from collections import Counter

EOL = re.compile("\n\r?\x00?|\r\n?\x00?|\x00")
_LINE = re.compile("[^\r\n\x00]*(?:" + EOL.pattern + ")|[^\r\n\x00]+\\Z")


def split_keepends(text: str) -> list[str]:
    return _LINE.findall(text)


def strip_ending(line: str) -> str:
    return line.rstrip("\r\n\0")


def line_ending(lines: list[str]) -> str:
    """The ending most lines use ("\\n" for an empty file), for the lines we add."""
    counts = Counter(line[len(strip_ending(line)):] for line in lines)
    counts.pop("", None)
    counts.pop("\0", None)
    return counts.most_common(1)[0][0] if counts else "\n"


def with_ending(lines: list[str], ending: str) -> list[str]:
    return [strip_ending(line) + ending for line in lines]


def terminate_last(lines: list[str], ending: str) -> list[str]:
    """Give the last line an ending before lines are added after it."""
    if lines and strip_ending(lines[-1]) == lines[-1]:
        return lines[:-1] + [lines[-1] + ending]
    return lines


def open_continuation(lines: list[str]) -> bool:
    """True when udev would join the next physical line onto what `lines` end with: the
    last line that is not a comment ends in a backslash (udev skips comment lines inside a
    continuation, and the continuation goes on after them)."""
    for line in reversed(lines):
        text = strip_ending(line).lstrip()
        if text.startswith("#"):
            continue
        return text.endswith("\\")
    return False
