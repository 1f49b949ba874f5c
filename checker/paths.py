"""Every fixed path, file name and port of udev-drift and of udev, defined once.

Paths are host paths: under `--root DIR` they are read below DIR (`Host.path`).
"""

from __future__ import annotations

# Where udev reads rules from (udev(7), systemd 252): highest priority first.
UDEV_RULES_DIRS = (
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
)

# Where admins put their own rules, and where packages put theirs (adopt compares the two).
ADMIN_RULES_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d")
VENDOR_RULES_DIRS = ("/usr/lib/udev/rules.d", "/lib/udev/rules.d")

POLICY_DIR = "/etc/udev-drift/policies.d"  # the policies `check` and `serve` read by default
STATE_DIR = "/var/lib/udev-drift"  # fingerprints, backups, counters, the policy cache
MANIFEST_NAME = "install-manifest.json"  # in STATE_DIR: what `install` added
MANIFEST = f"{STATE_DIR}/{MANIFEST_NAME}"
TEXTFILE_NAME = "udev_drift.prom"  # in node_exporter's textfile directory
PREVIEW_TEXTFILE_NAME = "udev_drift_preview.prom"  # beside it: the last `preview`
PREVIEW_CONFIG = "/etc/udev-drift/preview.yaml"  # whether a preview hook blocks an update
UNIT_DIR = "/etc/systemd/system"

SERVE_PORT = 9917  # not taken by a well-known exporter
SERVE_LISTEN = f"127.0.0.1:{SERVE_PORT}"
