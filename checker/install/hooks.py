"""The package-manager hooks and the cron entry `udev-drift install` writes, as text.

Each runs `udev-drift check --repair` once after every package transaction, because a
package update is what replaces rules files (the case udev-drift was built for):

    apt  /etc/apt/apt.conf.d/80udev-drift                          DPkg::Post-Invoke
    dnf  /etc/dnf/plugins/post-transaction-actions.d/udev-drift.action   (dnf 4 plugin)
    yum  /etc/yum/post-actions/udev-drift.action                   (yum plugin)
    cron /etc/cron.d/udev-drift          every 15 minutes and at boot, where no systemd runs

dnf's and yum's post-transaction-actions plugins read `*.action` files of lines
`package-glob:state:command`; `*:any:` matches every package of every transaction, and
both plugins run one command once per transaction however many packages matched. yum
splits the line at every ':' (dnf at the first two only), which is one reason the
command's paths may hold no ':' (target.SAFE_PATH).
"""

from __future__ import annotations

import hashlib

from checker.host import Host
from checker.install.target import Settings

APT_HOOK = "/etc/apt/apt.conf.d/80udev-drift"
DNF_HOOK = "/etc/dnf/plugins/post-transaction-actions.d/udev-drift.action"
YUM_HOOK = "/etc/yum/post-actions/udev-drift.action"
CRON_ENTRY = "/etc/cron.d/udev-drift"  # no dot in the name: Debian's cron skips such files

# The plugins' own configuration files: without them the action files do nothing.
PLUGIN_CONFIGS = {
    "dnf": ("/etc/dnf/plugins/post-transaction-actions.conf", "python3-dnf-plugin-post-transaction-actions"),
    "yum": ("/etc/yum/pluginconf.d/post-transaction-actions.conf", "yum-plugin-post-transaction-actions"),
}
CRON_DAEMONS = ("/usr/sbin/cron", "/usr/sbin/crond", "/sbin/crond")
MACHINE_ID = "/etc/machine-id"

APT_TEXT = """\
// udev-drift: after every dpkg run (install, upgrade, removal), check the udev rules and
// put back what a package replaced. Written by `udev-drift install`, removed by
// `udev-drift uninstall`. It never fails the apt run: a failed check is only reported
// (|| true), and a removed udev-drift is skipped.
DPkg::Post-Invoke {{ "if [ -x {binary} ]; then {command} || true; fi"; }};
"""

ACTION_TEXT = """\
# udev-drift: after every {manager} transaction, check the udev rules and put back what a
# package replaced. Written by `udev-drift install`, removed by `udev-drift uninstall`.
# Read by {manager}'s post-transaction-actions plugin ({package});
# format package-glob:state:command, "*:any:" for every package of every transaction
# (the command runs once per transaction).
*:any:{command}
"""

CRON_TEXT = """\
# udev-drift: check the udev rules and /dev symlinks, and repair what drifted, every 15
# minutes and once after boot, on a host without systemd (with systemd, the units
# udev-drift.timer and udev-drift.path do this). Written by `udev-drift install`, removed
# by `udev-drift uninstall`. The report is dropped (the metrics keep the result);
# errors go to cron's mail. Minute {offset} and every 15 after it is this host's own,
# from its machine id, so that a fleet does not check at the same moment.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{offset}-59/15 * * * * root {command} >/dev/null
@reboot root sleep 60; {command} >/dev/null
"""


def apt_hook(settings: Settings) -> str:
    return APT_TEXT.format(binary=settings.binary, command=" ".join(settings.check_command()))


def action_file(settings: Settings, manager: str) -> str:
    return ACTION_TEXT.format(manager=manager, package=PLUGIN_CONFIGS[manager][1],
                              command=" ".join(settings.check_command()))


def cron_entry(settings: Settings, host: Host) -> str:
    return CRON_TEXT.format(offset=minute_offset(host), command=" ".join(settings.check_command()))


def minute_offset(host: Host) -> int:
    """A minute in 0..14 fixed for this host: the same on every install (so a second
    install writes the same file), different across a fleet."""
    seed = b""
    for path in (MACHINE_ID, "/etc/hostname"):
        try:
            with open(host.path(path), "rb") as source:
                seed = source.read(256).strip()
        except OSError:
            continue
        if seed:
            break
    return int.from_bytes(hashlib.sha256(seed).digest()[:4], "big") % 15


def hooks(settings: Settings, host: Host, managers: tuple[str, ...]) -> dict[str, str]:
    """Host path -> text, for the package managers the target has."""
    files: dict[str, str] = {}
    if "apt" in managers:
        files[APT_HOOK] = apt_hook(settings)
    if "dnf" in managers:
        files[DNF_HOOK] = action_file(settings, "dnf")
    if "yum" in managers:
        files[YUM_HOOK] = action_file(settings, "yum")
    return files
