"""The package-manager hooks and the cron entry `udev-drift install` writes, as text.

Each runs `udev-drift check --repair` once after every package transaction, because a
package update is what replaces rules files (the case udev-drift was built for):

    apt  /etc/apt/apt.conf.d/80udev-drift                          DPkg::Post-Invoke
    dnf  /etc/dnf/plugins/post-transaction-actions.d/udev-drift.action   (dnf 4 plugin)
    yum  /etc/yum/post-actions/udev-drift.action                   (yum plugin)
    cron /etc/cron.d/udev-drift          every 15 minutes and at boot, where no systemd runs

Before each transaction, `udev-drift preview` reads the packages about to be installed and
says what they would take away from the policies (it refuses the transaction only where
/etc/udev-drift/preview.yaml says `preview.block: true`):

    apt  /etc/apt/apt.conf.d/79udev-drift-preview                  DPkg::Pre-Install-Pkgs (v3)
    dnf  <python>/site-packages/dnf-plugins/udev_drift_preview.py  a dnf 4 plugin, and its
         /etc/dnf/plugins/udev_drift_preview.conf                  configuration
    yum  /usr/lib/yum-plugins/udev_drift_preview.py                a yum plugin (Python 2.7 on
         /etc/yum/pluginconf.d/udev_drift_preview.conf             XenServer / XCP-ng dom0)

dnf's and yum's post-transaction-actions plugins read `*.action` files of lines
`package-glob:state:command`; `*:any:` matches every package of every transaction, and
both plugins run one command once per transaction however many packages matched. yum
splits the line at every ':' (dnf at the first two only), which is one reason the
command's paths may hold no ':' (target.SAFE_PATH).
"""

from __future__ import annotations

import glob
import hashlib
import os

from checker.host import Host
from checker.install.target import Settings

APT_HOOK = "/etc/apt/apt.conf.d/80udev-drift"
DNF_HOOK = "/etc/dnf/plugins/post-transaction-actions.d/udev-drift.action"
YUM_HOOK = "/etc/yum/post-actions/udev-drift.action"
APT_PREVIEW_HOOK = "/etc/apt/apt.conf.d/79udev-drift-preview"  # before 80udev-drift: it runs first
YUM_PREVIEW_PLUGIN = "/usr/lib/yum-plugins/udev_drift_preview.py"
YUM_PREVIEW_CONF = "/etc/yum/pluginconf.d/udev_drift_preview.conf"
DNF_PREVIEW_CONF = "/etc/dnf/plugins/udev_drift_preview.conf"
DNF_PLUGIN_DIRS = ("/usr/lib/python3*/site-packages/dnf-plugins",
                   "/usr/lib64/python3*/site-packages/dnf-plugins",
                   "/usr/lib/python3/dist-packages/dnf-plugins")  # Debian's dnf
DNF_PREVIEW_NAME = "udev_drift_preview.py"
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


# apt runs each Pre-Install-Pkgs command with `sh -c` and writes, with protocol version 3,
# its configuration and one line per package (the .deb's path last) to its standard input;
# the version is looked up by the command's first word. A non-zero exit stops apt before
# dpkg unpacks anything: the preview exits 1 only where preview.yaml says block. A
# udev-drift that is gone (126, 127) must not stop every apt run: the input is drained
# and the hook says yes.
APT_PREVIEW_TEXT = """\
// udev-drift: before dpkg unpacks anything, say what the .deb files about to be installed
// would take away from the udev policies (`udev-drift preview`). It warns, and refuses the
// update only with `preview: {{block: true}}` in /etc/udev-drift/preview.yaml
// (UDEV_DRIFT_PREVIEW=allow apt-get ... goes ahead anyway). Written by `udev-drift
// install`, removed by `udev-drift uninstall`.
DPkg::Pre-Install-Pkgs {{ "{command}; s=$?; if [ $s -ge 126 ]; then cat >/dev/null; exit 0; fi; exit $s"; }};
DPkg::Tools::Options::{binary}::Version "3";
"""

PLUGIN_CONF = """\
# udev-drift: the preview before each {manager} transaction ({plugin}). Written by
# `udev-drift install`, removed by `udev-drift uninstall`.
[main]
enabled=1
"""

# Runs in the Python that yum runs: Python 2.7 on XenServer / XCP-ng dom0 (2.6 on the
# oldest). No f-strings, no subprocess.run; it only calls the udev-drift binary.
YUM_PLUGIN = """\
# udev-drift: before each yum transaction, `udev-drift preview --hook` on the packages
# about to be installed (and the names of those it removes). Written by `udev-drift install`,
# removed by `udev-drift uninstall`.
# It refuses the transaction only when the preview exits 1 (preview.block: true in
# /etc/udev-drift/preview.yaml); UDEV_DRIFT_PREVIEW=allow yum ... goes ahead anyway.
import os
import subprocess

from yum.plugins import PluginYumExit, TYPE_CORE

requires_api_version = '2.3'
plugin_type = (TYPE_CORE,)

BINARY = {binary!r}


def local_packages(conduit):
    found, removed = [], []
    for member in conduit.getTsInfo().getMembers():
        if member.ts_state == 'e':  # erased; an update's old version is 'ud', not this
            if member.po.name not in removed:
                removed.append(member.po.name)
            continue
        if member.ts_state not in ('i', 'u'):  # installed or updated
            continue
        try:
            path = member.po.localPkg()
        except Exception:  # an installed package object has no local file
            continue
        if path and path.endswith('.rpm') and os.path.isfile(path) and path not in found:
            found.append(path)
    return found, removed


def pretrans_hook(conduit):
    if not os.access(BINARY, os.X_OK):
        return
    packages, removed = local_packages(conduit)
    if not packages and not removed:
        return
    command = [BINARY, 'preview', '--hook']
    root = getattr(conduit.getConf(), 'installroot', '/') or '/'
    if root != '/':  # yum --installroot: the host the packages go to
        command += ['--root', root]
    for name in removed:
        command += ['--remove', name]
    try:
        status = subprocess.call(command + packages)
    except OSError as error:
        conduit.info(2, 'udev-drift preview could not run: %s; the update goes on' % error)
        return
    if status == 1:
        raise PluginYumExit('udev-drift preview: the update would take away what a udev policy '
                            'wants (see above); refused. UDEV_DRIFT_PREVIEW=allow yum ... goes ahead')
"""

DNF_PLUGIN = """\
# udev-drift: before each dnf transaction, `udev-drift preview --hook` on the packages
# about to be installed (and the names of those it removes). Written by `udev-drift install`,
# removed by `udev-drift uninstall`.
# It refuses the transaction only when the preview exits 1 (preview.block: true in
# /etc/udev-drift/preview.yaml); UDEV_DRIFT_PREVIEW=allow dnf ... goes ahead anyway.
import os
import subprocess

import dnf
import dnf.exceptions

BINARY = {binary!r}


class UdevDriftPreview(dnf.Plugin):
    name = 'udev_drift_preview'

    def pre_transaction(self):
        if not os.access(BINARY, os.X_OK) or self.base.transaction is None:
            return
        packages, installing = [], set()
        for pkg in self.base.transaction.install_set:
            installing.add(pkg.name)
            path = pkg.localPkg()
            if path and os.path.isfile(path) and path not in packages:
                packages.append(path)
        # remove_set also holds the old version of each upgraded package: only a name that
        # nothing in the transaction installs again is removed from the host
        removed = sorted(set(pkg.name for pkg in self.base.transaction.remove_set) - installing)
        if not packages and not removed:
            return
        command = [BINARY, 'preview', '--hook']
        root = getattr(self.base.conf, 'installroot', '/') or '/'
        if root != '/':  # dnf --installroot: the host the packages go to
            command += ['--root', root]
        for name in removed:
            command += ['--remove', name]
        try:
            status = subprocess.call(command + packages)
        except OSError as error:
            print('udev-drift preview could not run: %s; the update goes on' % error)
            return
        if status == 1:
            raise dnf.exceptions.Error(
                'udev-drift preview: the update would take away what a udev policy wants (see '
                'above); refused. UDEV_DRIFT_PREVIEW=allow dnf ... goes ahead')
"""


def apt_preview_hook(settings: Settings) -> str:
    command = f"{settings.binary} preview --apt-hook"
    if settings.textfile_dir is not None:
        command += f" --textfile-dir {settings.textfile_dir}"
    return APT_PREVIEW_TEXT.format(command=command, binary=settings.binary)


def yum_preview_plugin(settings: Settings) -> str:
    return YUM_PLUGIN.format(binary=settings.binary)


def dnf_preview_plugin(settings: Settings) -> str:
    return DNF_PLUGIN.format(binary=settings.binary)


def dnf_plugin_dir(host: Host) -> str | None:
    """Where the target's dnf looks for plugins (its Python's site-packages), or None."""
    for pattern in DNF_PLUGIN_DIRS:
        found = sorted(glob.glob(host.path(pattern)))
        if found:
            return found[-1][len(host.root):] if host.is_tree else found[-1]
    return None


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
        files[APT_PREVIEW_HOOK] = apt_preview_hook(settings)
    if "dnf" in managers:
        files[DNF_HOOK] = action_file(settings, "dnf")
        plugins = dnf_plugin_dir(host)
        if plugins is not None:
            files[os.path.join(plugins, DNF_PREVIEW_NAME)] = dnf_preview_plugin(settings)
            files[DNF_PREVIEW_CONF] = PLUGIN_CONF.format(manager="dnf", plugin="a dnf plugin")
    if "yum" in managers:
        files[YUM_HOOK] = action_file(settings, "yum")
        files[YUM_PREVIEW_PLUGIN] = yum_preview_plugin(settings)
        files[YUM_PREVIEW_CONF] = PLUGIN_CONF.format(manager="yum", plugin="a yum plugin")
    return files
