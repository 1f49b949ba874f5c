"""The systemd units `udev-drift install` writes to /etc/systemd/system, made from templates.

Made here rather than shipped as data files: each unit carries two values known only at
install time (the udev-drift command and the textfile directory), and the self-contained
binary (scripts/build-binary) takes in every checker module but only the package data it
is told about, so templates in a module travel with it for free.

    udev-drift.timer   after boot, then hourly (spread over 15 min)  ┐
    udev-drift.path    a udev rules directory changed                ├─▶ udev-drift.service
    (by hand)          systemctl start udev-drift.service            ┘   check --repair, once
    udev-drift-serve.service   the HTTP exporter (installed, not enabled)

The comments inside each unit say why each option is there: a person reading
/etc/systemd/system/udev-drift.service has no other place to look.
"""

from __future__ import annotations

from checker.host import Host
from checker.install.target import Settings
from checker.paths import POLICY_DIR, SERVE_LISTEN, STATE_DIR, UDEV_RULES_DIRS

SERVICE = "udev-drift.service"
TIMER = "udev-drift.timer"
PATH = "udev-drift.path"
SERVE = "udev-drift-serve.service"
ENABLED = (TIMER, PATH)  # what install enables; the service is started by them
HOME_DIRS = ("/home", "/root", "/run/user")

HEADER = """\
# {name}: written by `udev-drift install`, removed by `udev-drift uninstall`.
# To change it, use a drop-in (systemctl edit {name}): install does not overwrite this
# file once you edit it, and uninstall leaves an edited file in place.
"""

# -- what differs by the target's systemd ------------------------------------------------

CHECK_WRITES = """\
# The whole file system read-only but for what a repair writes: the rules files (and the
# temporary file beside each, renamed over it), the state directory (lock, backups,
# fingerprints, counters) and the textfile directory (udev_drift.prom). /dev, /proc and
# /sys are left as they are: ProtectSystem= does not touch the API file systems.
ProtectSystem=strict
ReadWritePaths={writable}
# /run/udev/rules.d exists only where something made it: "-" skips it when absent
# instead of failing the start.
ReadWritePaths=-/run/udev/rules.d
# The self-contained binary unpacks itself once per build into /var/cache/udev-drift;
# systemd makes that directory and keeps it writable (for a pip install it stays empty).
CacheDirectory=udev-drift
CacheDirectoryMode=0700
"""
CHECK_WRITES_219 = """\
# systemd 219 has no ProtectSystem=strict: =full makes /usr, /boot and /etc read-only
# (/var, /srv and /run stay writable), and what a repair writes there is made writable
# again: the rules files (and the temporary file beside each, renamed over it), the
# state directory (lock, backups, fingerprints, counters) and the textfile directory
# (udev_drift.prom). /dev, /proc and /sys are left as they are.
ProtectSystem=full
ReadWriteDirectories={writable}
# The self-contained binary unpacks itself once per build into /var/cache/udev-drift,
# which stays writable here (systemd 219 has no CacheDirectory=).
"""

SPREAD = """\
# A fleet must not check in lockstep: each host waits a random delay of up to 15 minutes,
# the same one every time (FixedRandomDelay=), so the checks stay spread over the hour.
RandomizedDelaySec=15min
FixedRandomDelay=true
"""
SPREAD_219 = """\
# A fleet must not check in lockstep: each host waits a random delay of up to 15 minutes
# (systemd 219 draws a new one each time: it has no FixedRandomDelay=).
RandomizedDelaySec=15min
"""

SERVE_WRITES = """\
# Read-only everywhere but the state directory (persisted counters). To run
# `serve --repair` instead, a drop-in must also add the rules directories to
# ReadWritePaths= and set ProtectKernelTunables=no (udevadm trigger writes /sys).
ProtectSystem=strict
ReadWritePaths={state_dir}
CacheDirectory=udev-drift
CacheDirectoryMode=0700
ProtectKernelTunables=yes
"""
SERVE_WRITES_219 = """\
# /usr, /boot and /etc read-only (systemd 219 has no ProtectSystem=strict), and the kernel's
# tunables too (it has no ProtectKernelTunables=). To run `serve --repair` instead, a
# drop-in must also add ReadWriteDirectories=/etc/udev/rules.d and ReadOnlyDirectories=
# (empty, then /proc/sys alone): udevadm trigger writes /sys.
ProtectSystem=full
ReadOnlyDirectories=/sys /proc/sys
"""

# What the check service and the exporter both give up: kernel modules and logs, cgroups,
# hostname, namespaces, realtime, set-uid files, personalities, foreign system calls.
CONFINED = """\
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
{syscall_why}SystemCallFilter=~@clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
"""
CONFINED_219 = """\
SystemCallArchitectures=native
# systemd 219 knows none of ProtectKernelModules=, ProtectKernelLogs=,
# ProtectControlGroups=, ProtectHostname=, RestrictNamespaces=, RestrictRealtime=,
# RestrictSUIDSGID= and LockPersonality= (it would ignore each with a warning), nor
# system call @groups: the calls of the same groups are denied by name below, and the
# capabilities those options withhold are not in the bounding set.
{syscall_why}SystemCallFilter=~{denied_219}
SystemCallErrorNumber=EPERM
"""
# systemd 252's @clock @cpu-emulation @debug @module @mount @obsolete @raw-io @reboot @swap,
# less what has no x86_64 number in Linux 3.10 (the dom0 kernels' base): 219 resolves each
# name with libseccomp and ignores, with a warning, one it cannot resolve.
DENIED_219 = (
    "adjtimex clock_adjtime clock_settime settimeofday "            # @clock
    "modify_ldt "                                                   # @cpu-emulation
    "lookup_dcookie perf_event_open ptrace "                        # @debug
    "delete_module finit_module init_module "                       # @module
    "chroot mount pivot_root umount2 "                              # @mount
    "_sysctl afs_syscall create_module get_kernel_syms getpmsg putpmsg query_module "
    "security sysfs tuxcall uselib ustat vserver "                  # @obsolete
    "ioperm iopl "                                                  # @raw-io
    "kexec_load reboot "                                            # @reboot
    "swapoff swapon"                                                # @swap
)

SYSCALL_WHY_219 = "# System calls a check never makes, denied (EPERM, not a kill).\n"
SYSCALL_WHY = """\
# System calls a check never makes, denied (EPERM, not a kill). A deny list rather than
# @system-service: systemd 219 (XenServer 8, XCP-ng 8) knows no groups and ignores them,
# which in a deny list leaves nothing denied but in an allow list would allow nothing.
"""

SERVICE_TEXT = """\
#
# One check of the host against the policies in {policy_dir}, repairing what
# drifted. Started by udev-drift.timer (after boot, then hourly), by udev-drift.path (a
# udev rules directory changed) and by hand: systemctl start udev-drift.service; the
# report is in journalctl -u udev-drift.service.

[Unit]
Description=Check and repair udev rules and /dev symlinks (udev-drift)
# Check what udevd loaded and linked at boot: after udevd, the coldplug trigger and the
# settle (where something pulls it in). After= orders only; it starts none of them.
After=systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service local-fs.target
# No policy yet: skip the run (the unit is not failed) instead of failing it every hour.
ConditionDirectoryNotEmpty={policy_dir}

[Service]
Type=oneshot
ExecStart={command}
# Exit 1 means "drift remains after the repair": a state of the host, which the metrics
# and the alert report with the policy and the item. Counted as a failure, it would also
# put the unit in `systemctl --failed` and fire unit-failed alerts every hour for the same
# drift, saying nothing of what drifted. Exit 2 (an invalid policy) and 3 (I/O error,
# lock held, udevadm failed) still fail the unit: those need a person.
SuccessExitStatus=1
# A check takes a second; the bound is for a hung udevadm or a lock never released.
TimeoutStartSec=10min

# -- hardening: what a check and a repair need, and no more -----------------------------
{check_writes}# Nothing it runs (udevadm, rpm, dpkg) can gain privileges through set-uid or file caps.
NoNewPrivileges=yes
# A /tmp of its own, emptied after the run.
PrivateTmp=yes
# {protect_home_why}
ProtectHome={protect_home}
# udevadm talks to udevd over /run/udev/control and a netlink socket; nothing else.
RestrictAddressFamilies=AF_UNIX AF_NETLINK
# Harmless to a check: it loads no kernel module, reads no kernel log, changes no cgroup,
# hostname, personality or scheduling class, makes no namespace, no set-uid file.
{confined}# Root without root's other powers: only what writing a rules file that someone else may
# own needs (keeping its owner and mode), and reading any file. udevadm needs none:
# udevd trusts the control socket's uid 0, and the uevent files are root's own.
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID
UMask=0022
# Left out on purpose, because each one breaks a repair:
#   ProtectKernelTunables=yes  makes /sys read-only, and `udevadm trigger` writes
#                              /sys/.../uevent to make udevd apply the repaired rules
#   PrivateDevices=yes         a private /dev without the disks: the /dev symlinks could
#                              be neither checked nor waited for
#   PrivateNetwork=yes         `udevadm settle` and `trigger --settle` hear udevd's events
#                              on netlink, in the host's network namespace only
#   MemoryDenyWriteExecute=yes ctypes (libudev through pyudev, inotify) may need memory
#                              that is writable and executable
# A policy that manages a file under /usr/lib/udev/rules.d or /lib/udev/rules.d is checked
# but not repaired here (read-only): put the file in /etc/udev/rules.d, where it shadows
# the vendor's, or add {read_write}= for it in a drop-in.
"""

TIMER_TEXT = """\
#
# Starts udev-drift.service after boot, then every hour.

[Unit]
Description=Check and repair udev rules and /dev symlinks after boot and hourly (udev-drift)

[Timer]
# After boot, once udevd has had time for the coldplug events; the service itself is
# ordered after systemd-udevd, -trigger and -settle.
OnBootSec=2min
OnCalendar=hourly
{spread}# A run missed while the host was off happens at the next boot.
Persistent=true
Unit={service}

[Install]
WantedBy=timers.target
"""

PATH_TEXT = """\
#
# Starts udev-drift.service as soon as a file in a udev rules directory is written,
# created, removed or renamed: a rules file replaced by an update or edited by hand is
# repaired at once, not at the next hourly run.
#
# A repair writes into these directories too. That cannot loop: a run that finds nothing
# to repair writes nothing here (the repair is idempotent, and tested to be), so a repair
# causes at most one more run, which finds the host compliant and ends there. A change
# made while the service runs is folded into that run's start. systemd's own trigger
# limit (TriggerLimitBurst=, 200 per 2 s) is the last line of defence.

[Unit]
Description=Repair udev rules as soon as a rules directory changes (udev-drift)

[Path]
{paths}
Unit={service}

[Install]
WantedBy=paths.target
"""

SERVE_TEXT = """\
#
# The HTTP exporter: `udev-drift serve` checks every 60 s, and at once when a udev rules
# directory changes, and answers GET /metrics from the last result for Prometheus. Not
# enabled by `udev-drift install` (the textfile metrics of udev-drift.service are the
# default); enable it with: systemctl enable --now udev-drift-serve.service
# To listen elsewhere, override ExecStart= in a drop-in (an empty ExecStart= first).

[Unit]
Description=udev-drift metrics exporter (/metrics on {listen})
After=network.target systemd-udevd.service

[Service]
Type=simple
ExecStart={binary} serve --listen {listen}
# SIGHUP runs a check at once.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s

# -- hardening: serve only checks ---------------------------------------------------------
{serve_writes}NoNewPrivileges=yes
PrivateTmp=yes
# {protect_home_why}
ProtectHome={protect_home}
# Scrapes over IP; libudev and the journal over AF_UNIX and AF_NETLINK.
RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6
{confined_quiet}# Reading any file is all a check needs of root's powers.
CapabilityBoundingSet=CAP_DAC_READ_SEARCH
UMask=0022
# Not PrivateDevices= nor PrivateNetwork=: the /dev symlinks are checked, and udevd's
# events heard, in the host's /dev and network namespace.

[Install]
WantedBy=multi-user.target
"""


def protect_home(host: Host, binary: str) -> tuple[str, str]:
    """ProtectHome= for a unit that runs `binary`, and the comment that says why.

    Hiding /home, /root and /run/user (=yes) is the safer choice, but the command, or the
    Python its script runs (pip install --user, a venv made from pyenv's Python), may live
    there; then they can only be made read-only, or the unit could not start.
    """
    needed = [binary]
    interpreter = _shebang(host, binary)
    if interpreter is not None:
        needed.append(interpreter)
        resolved = host.resolve(interpreter)
        if resolved is not None:
            needed.append(resolved)
    resolved_binary = host.resolve(binary)
    if resolved_binary is not None:
        needed.append(resolved_binary)
    inside = sorted({path for path in needed if any(_under(path, home) for home in HOME_DIRS)})
    if inside:
        return ("read-only", f"Home directories read-only, not hidden: the command needs {inside[0]}.")
    return ("yes", "Home directories (/home, /root, /run/user) hidden: nothing here needs them.")


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/")


def _shebang(host: Host, binary: str) -> str | None:
    try:
        with open(host.path(binary), "rb") as script:
            first = script.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    return words[0] if words and words[0].startswith("/") else None


# The first systemd that parses every directive of the modern units (FixedRandomDelay=,
# 247); an older one gets the units written for 219, which every later version reads too.
MODERN_SYSTEMD = 247


def units(settings: Settings, host: Host, systemd: int) -> dict[str, str]:
    """Unit file name -> text, in directives the target's systemd version parses."""
    home, home_why = protect_home(host, settings.binary)
    writable = ["/etc/udev/rules.d", STATE_DIR]
    if settings.textfile_dir is not None:
        writable.append(settings.textfile_dir)
    values = {"protect_home": home, "protect_home_why": home_why, "policy_dir": POLICY_DIR,
              "service": SERVICE, "state_dir": STATE_DIR, "writable": " ".join(writable),
              "command": " ".join(settings.check_command()), "binary": settings.binary,
              "listen": SERVE_LISTEN, "paths": "\n".join(f"PathChanged={d}" for d in UDEV_RULES_DIRS),
              "denied_219": DENIED_219}
    modern = systemd >= MODERN_SYSTEMD
    confined = CONFINED if modern else CONFINED_219
    values |= {"confined": confined.format(syscall_why=SYSCALL_WHY if modern else SYSCALL_WHY_219, **values),
               "confined_quiet": confined.format(syscall_why="", **values),
               "check_writes": (CHECK_WRITES if modern else CHECK_WRITES_219).format(**values),
               "serve_writes": (SERVE_WRITES if modern else SERVE_WRITES_219).format(**values),
               "spread": SPREAD if modern else SPREAD_219,
               "read_write": "ReadWritePaths" if modern else "ReadWriteDirectories"}
    templates = {SERVICE: SERVICE_TEXT, TIMER: TIMER_TEXT, PATH: PATH_TEXT, SERVE: SERVE_TEXT}
    return {name: HEADER.format(name=name) + template.format(**values)
            for name, template in templates.items()}
