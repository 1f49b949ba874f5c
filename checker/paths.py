"""Where udev reads rules from (udev(7), systemd 252): highest priority first."""

from __future__ import annotations

UDEV_RULES_DIRS = (
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
)
