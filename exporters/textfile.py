"""`DIR/udev_drift.prom` for node_exporter's textfile collector.

node_exporter reads every `*.prom` in the directory at each scrape, so the file must be
whole at every moment: checker.atomic writes it under a hidden temporary name that does
not end in `.prom`, fsyncs, renames it over the file and fsyncs the directory. Its mode
is 0644 whatever the umask or the old file's mode: node_exporter often runs as another user.
"""

from __future__ import annotations

import os

from checker.atomic import WriteError, write_atomic
from checker.paths import TEXTFILE_NAME

MODE = 0o644


def write_textfile(directory: str, data: bytes) -> str:
    """Write `data` to DIR/udev_drift.prom atomically; return the path. Raises WriteError."""
    path = os.path.join(directory, TEXTFILE_NAME)
    if not os.path.isdir(directory):
        raise WriteError(f"--textfile-dir {directory}: no such directory")
    try:
        write_atomic(path, data, mode=MODE)
    except WriteError as error:
        reason = str(error).split(": ", 1)[-1]
        raise WriteError(f"{path}: cannot write the metrics: {reason}") from None
    return path
