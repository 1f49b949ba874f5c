"""Text for a terminal: what came from a file, a policy or another program is shown, never
obeyed. Control characters (an escape sequence that retitles or clears the terminal, a
carriage return, a newline inside a value) and bidirectional overrides become \\xNN or
\\uNNNN escapes. JSON output keeps the exact text; this is only for people's screens.
"""

from __future__ import annotations

import logging

# C0 but the tab, DEL, C1 (0x9b is a one-byte CSI), bidirectional controls, line separators.
_C0_C1 = [*range(0x09), *range(0x0a, 0x20), *range(0x7f, 0xa0)]
_SHOWN_AS_ESCAPES = {code: f"\\x{code:02x}" for code in _C0_C1}
_SHOWN_AS_ESCAPES |= {code: f"\\u{code:04x}" for code in [0x061c, 0x200e, 0x200f, *range(0x202a, 0x202f),
                                                          *range(0x2066, 0x206a), 0x2028, 0x2029]}
_SHOWN_AS_ESCAPES |= {0x0a: "\\n", 0x0d: "\\r"}


def visible(text: str) -> str:
    """`text` with nothing a terminal would obey: control characters become escapes."""
    if text.isascii() and text.isprintable():  # nothing to escape: most text, without a copy
        return text
    return text.translate(_SHOWN_AS_ESCAPES)


class VisibleFormatter(logging.Formatter):
    """Log lines with every control character of their message made visible."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = visible(record.message)
        return super().formatMessage(record)
