"""The comment lines that mark a managed block inside a shared rules file.

    # BEGIN udev-drift <policy>
    ...the policy's rules...
    # END udev-drift <policy>

udev reads them as comments. They are matched loosely (spacing, case) so that a marker
an editor or an update reformatted is still found, and written exactly.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"^\s*#\s*(BEGIN|END)\s+udev-drift\b\s*(\S*)\s*$", re.IGNORECASE)


def begin_marker(policy: str) -> str:
    return f"# BEGIN udev-drift {policy}"


def end_marker(policy: str) -> str:
    return f"# END udev-drift {policy}"


def parse_marker(line: str) -> tuple[str, str] | None:
    """("BEGIN" | "END", policy name) for a marker line, else None."""
    if "#" not in line:  # most lines of a vendor file: no regular expression to run
        return None
    match = _MARKER.match(line)
    if match is None:
        return None
    return match.group(1).upper(), match.group(2)


def is_marker_line(line: str) -> bool:
    return _MARKER.match(line) is not None
