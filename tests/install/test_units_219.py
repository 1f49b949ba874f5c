"""Units for the target's systemd: a XenServer 8 / XCP-ng 8 dom0 runs systemd 219, which
ignores (with a warning) every directive it does not know, so units written for 252 would
run there without the hardening they promise.

The oracle is 219's own source (`../shared/vendor/systemd-219-rhel7.tar.xz`): the table of
every directive it parses (`src/core/load-fragment-gperf.gperf.m4`), each directive's
parser, and for system call names the libseccomp that 219 resolves them with. Building
219's `systemd-analyze` would need most of systemd's core; the table and the parsers are
what it would consult.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import socket
import tarfile
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest

from checker.host import Host
from checker.install.target import Settings
from checker.install.units import MODERN_SYSTEMD, PATH, SERVE, SERVICE, TIMER, units
from checker.observe.versions import systemd_version
from tests.conftest import REPO
from tests.install.conftest import make_target
from tests.install.test_units import parse

UNITS = (SERVICE, TIMER, PATH, SERVE)
TARBALL = REPO.parent / "shared/vendor/systemd-219-rhel7.tar.xz"
TABLE = "systemd-219/src/core/load-fragment-gperf.gperf.m4"
# Linux 3.10 (the dom0 kernels' base) numbers x86_64 system calls up to finit_module.
LAST_SYSCALL_3_10 = 313
# include/uapi/linux/capability.h of Linux 3.10
CAPABILITIES_3_10 = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
}


@lru_cache(maxsize=1)
def directives_219() -> dict[str, dict[str, str]]:
    """Section -> directive -> the parser 219 reads its value with.

    The m4 table defines the context items once as macros over `$1` and expands them per
    unit type; an `m4_ifdef` lists each directive twice, first as parsed when the feature
    is built in (RHEL 7 builds with seccomp), then as `config_parse_warn_compat`."""
    if not TARBALL.is_file():
        pytest.skip(f"systemd 219's source is not at {TARBALL} (the shared vendor folder)")
    with tarfile.open(TARBALL) as archive:
        member = archive.extractfile(TABLE)
        assert member is not None
        text = member.read().decode()
    macros: dict[str, list[tuple[str, str]]] = defaultdict(list)
    table: dict[str, dict[str, str]] = defaultdict(dict)
    current = None
    for line in text.splitlines():
        define = re.match(r"m4_define\(`(\w+)',", line)
        if define:
            current = define.group(1)
            continue
        item = re.match(r"`?\$1\.(\w+),\s*(\w+)", line)
        if item and current is not None:
            if item.group(1) not in dict(macros[current]):  # the built-in branch comes first
                macros[current].append((item.group(1), item.group(2)))
            continue
        if line.startswith(")m4_dnl"):
            current = None
            continue
        use = re.match(r"(\w+)\((\w+)\)m4_dnl", line)
        if use:
            for name, parser in macros[use.group(1)]:
                table[use.group(2)].setdefault(name, parser)
            continue
        plain = re.match(r"`?(\w+)\.(\w+),\s*(\w+|NULL)", line)
        if plain and current is None:
            table[plain.group(1)].setdefault(plain.group(2), plain.group(3))
    assert len(table["Service"]) > 100 and "ProtectSystem" in table["Service"], "the table was not read"
    return table


@lru_cache(maxsize=1)
def seccomp() -> ctypes.CDLL:
    found = ctypes.util.find_library("seccomp")
    if found is None:
        pytest.skip("libseccomp is not installed (apt-get install libseccomp2)")
    library = ctypes.CDLL(found)
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    return library


BOOLEANS = {"1", "yes", "y", "true", "t", "on", "0", "no", "n", "false", "f", "off"}
TIME_SPAN = re.compile(r"(\d+\s*(usec|us|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h|"
                       r"days|day|d|weeks|week|w)?\s*)+")


def value_problem(parser: str, value: str) -> str | None:
    """Why 219's `parser` would not take `value` as we mean it, or None."""
    words = value.split()
    if parser in ("config_parse_bool", "config_parse_no_new_privileges"):
        return None if value.lower() in BOOLEANS else "not a boolean"
    if parser == "config_parse_protect_system":  # a boolean or "full"; no "strict"
        return None if value.lower() in BOOLEANS | {"full"} else "219 takes yes or full"
    if parser == "config_parse_protect_home":
        return None if value.lower() in BOOLEANS | {"read-only"} else "219 takes yes or read-only"
    if parser == "config_parse_namespace_path_strv":
        return None if all(w.lstrip("-").startswith("/") for w in words) else "not absolute paths"
    if parser == "config_parse_syscall_filter":
        names = value.removeprefix("~").split()
        for name in names:
            number = seccomp().seccomp_syscall_resolve_name(name.encode())
            if not 0 <= number <= LAST_SYSCALL_3_10:
                return f"{name} is not an x86_64 system call of Linux 3.10 (219 ignores it)"
        return None
    if parser == "config_parse_syscall_archs":
        return None if words == ["native"] else "not native"
    if parser == "config_parse_syscall_errno":
        return None if value in ("EPERM", "EACCES") else "not an errno name"
    if parser == "config_parse_address_families":
        return None if all(hasattr(socket, w) for w in words) else "an unknown address family"
    if parser == "config_parse_capability_set":
        unknown = set(value.removeprefix("~").split()) - CAPABILITIES_3_10
        return f"not a capability of Linux 3.10: {sorted(unknown)}" if unknown else None
    if parser == "config_parse_mode":
        return None if re.fullmatch(r"0?[0-7]{3,4}", value) else "not an octal mode"
    if parser in ("config_parse_sec", "config_parse_service_timeout"):
        return None if TIME_SPAN.fullmatch(value) else "not a time span"
    if parser == "config_parse_timer":  # OnCalendar= a calendar spec, On*Sec= a span
        return None if value in ("hourly", "daily", "weekly") or TIME_SPAN.fullmatch(value) else "not a timer"
    if parser == "config_parse_set_status":
        return None if all(w.isdigit() or w.startswith("SIG") for w in words) else "not exit statuses"
    if parser in ("config_parse_service_type",):
        return None if value in ("simple", "forking", "oneshot", "dbus", "notify", "idle") else "unknown type"
    if parser == "config_parse_service_restart":
        return None if value in ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort",
                                 "always") else "unknown restart"
    if parser in ("config_parse_unit_condition_path", "config_parse_path_spec", "config_parse_exec"):
        return None if value.startswith("/") else "not an absolute path"
    if parser in ("config_parse_unit_string_printf", "config_parse_unit_deps", "config_parse_trigger_unit",
                  "NULL"):
        return None
    return f"no value check for {parser} here: add one"


def units_for(systemd: int, tmp_path: Path, textfile: str | None = "/var/lib/prometheus/node-exporter"
              ) -> dict[str, str]:
    return units(Settings("/usr/local/bin/udev-drift", textfile), Host(str(tmp_path)), systemd)


@pytest.mark.parametrize("textfile", ["/var/lib/prometheus/node-exporter", None])
def test_every_directive_written_for_219_is_one_219_parses_with_a_value_it_takes(
        tmp_path: Path, textfile: str | None) -> None:
    table = directives_219()
    problems = []
    for name, text in units_for(219, tmp_path, textfile).items():
        for section, keys in parse_text(text, tmp_path / name).items():
            for key, values in keys.items():
                parser = table.get(section, {}).get(key)
                if parser is None:
                    problems.append(f"{name}: [{section}] {key}= is unknown to systemd 219")
                    continue
                for value in values:
                    problem = value_problem(parser, value)
                    if problem:
                        problems.append(f"{name}: {key}={value}: {problem}")
    assert problems == []


def test_the_check_above_refuses_what_the_units_for_252_hold(tmp_path: Path) -> None:
    # The same check over the modern units: each directive 219 does not know is named.
    table = directives_219()
    unknown = set()
    invalid = set()
    for name, text in units_for(252, tmp_path).items():
        for section, keys in parse_text(text, tmp_path / name).items():
            for key, values in keys.items():
                parser = table.get(section, {}).get(key)
                if parser is None:
                    unknown.add(key)
                elif any(value_problem(parser, value) for value in values):
                    invalid.add(key)
    assert {"ProtectKernelModules", "ProtectKernelLogs", "RestrictNamespaces", "ReadWritePaths",
            "CacheDirectory", "FixedRandomDelay", "LockPersonality"} <= unknown
    assert {"ProtectSystem", "SystemCallFilter"} <= invalid  # strict; @groups


def test_219_units_keep_what_a_repair_needs_and_deny_the_same_system_call_groups(tmp_path: Path) -> None:
    modern = units_for(252, tmp_path)
    old = units_for(219, tmp_path)
    service = parse_text(old[SERVICE], tmp_path / SERVICE)["Service"]
    assert service["ProtectSystem"] == ["full"]
    assert service["ReadWriteDirectories"] == ["/etc/udev/rules.d /var/lib/udev-drift "
                                               "/var/lib/prometheus/node-exporter"]
    denied = set(service["SystemCallFilter"][0].removeprefix("~").split())
    assert {"init_module", "finit_module", "mount", "reboot", "swapon", "settimeofday", "ptrace"} <= denied
    assert not any(name.startswith("@") for name in denied)
    # everything else the check service is told is the same
    same = parse_text(modern[SERVICE], tmp_path / SERVICE)["Service"]
    for key in ("ExecStart", "SuccessExitStatus", "CapabilityBoundingSet", "RestrictAddressFamilies",
                "NoNewPrivileges", "PrivateTmp", "ProtectHome", "UMask", "SystemCallErrorNumber"):
        assert service[key] == same[key], key
    serve = parse_text(old[SERVE], tmp_path / SERVE)["Service"]
    assert serve["ProtectSystem"] == ["full"] and serve["ReadOnlyDirectories"] == ["/sys /proc/sys"]


def parse_text(text: str, path: Path) -> dict[str, dict[str, list[str]]]:
    path.write_text(text)
    return parse(path)


# -- which systemd the target has --------------------------------------------------------

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u4

Package: systemd
Status: {status}
Priority: important
Version: {version}
Description: system and service manager
 Version: 999 in a continuation line is not the version
"""
# What 219's src/core/main.c compiles into the manager: PACKAGE_STRING " running in
# %ssystem mode. (" SYSTEMD_FEATURES ")"
BANNER_219 = (b"\x7fELF\x02\x01\x01" + b"\0" * 64 + b"\0systemd 219 running in %ssystem mode. "
              b"(+PAM +AUDIT +SELINUX +IMA -APPARMOR +SMACK +SYSVINIT +UTMP)\0" + b"\0" * 64)


@pytest.mark.parametrize(("tree", "expected", "source"), [
    ({"var/lib/dpkg/status": DPKG_STATUS.format(status="install ok installed", version="252.39-1~deb12u2")},
     252, "dpkg: systemd 252.39-1~deb12u2"),
    ({"var/lib/dpkg/status": DPKG_STATUS.format(status="install ok installed", version="1:219-78")},
     219, "dpkg: systemd 1:219-78"),
    ({"var/lib/dpkg/status": DPKG_STATUS.format(status="deinstall ok config-files", version="241-7"),
      "usr/lib/systemd/systemd": BANNER_219}, 219, '/usr/lib/systemd/systemd: "systemd 219"'),
    ({"usr/lib/systemd/systemd": BANNER_219}, 219, '/usr/lib/systemd/systemd: "systemd 219"'),
    ({"usr/lib/systemd/libsystemd-shared-255.so": b"", "usr/lib/systemd/systemd": b""}, 255,
     "/usr/lib/systemd/libsystemd-shared-255.so"),
    ({"usr/lib/systemd/systemd": b"\0no banner here\0"}, None, "no systemd package"),
])
def test_the_targets_systemd_version_is_read_never_run(tmp_path: Path, tree: dict[str, object],
                                                       expected: int | None, source: str) -> None:
    for name, content in tree.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        path.chmod(0o755)
    found = systemd_version(Host(str(tmp_path)))
    assert found.number == expected and found.source.startswith(source), found


def test_a_merged_usr_tree_is_read_through_its_lib_link_and_never_outside(tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/lib/systemd/systemd").write_bytes(BANNER_219)
    (root / "lib").symlink_to("usr/lib")
    (root / "usr/lib/systemd/systemd").rename(root / "usr/lib/systemd/real")
    (root / "usr/lib/systemd/systemd").symlink_to("/etc/elsewhere")  # a link at the last name: not read
    (root / "lib/systemd/real").rename(root / "lib/systemd/systemd")
    assert systemd_version(Host(str(root))).number == 219
    outside = tmp_path / "outside"
    (outside / "lib/systemd").mkdir(parents=True)
    (outside / "lib/systemd/systemd").write_bytes(BANNER_219)
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "usr").symlink_to(outside)  # absolute: a chroot would stay inside planted/
    (planted / "lib").symlink_to(str(outside / "lib"))
    assert systemd_version(Host(str(planted))).number is None


def test_install_writes_the_units_of_the_targets_systemd_and_says_which(udev_drift, tmp_path: Path,
                                                                        fake_binary: Path) -> None:
    root = make_target(tmp_path / "dom0", ["systemd"])
    (root / "usr/lib/systemd/systemd").write_bytes(BANNER_219)
    result = udev_drift("install", "--root", root, "--binary", fake_binary)
    assert result.status == 0, result
    assert 'systemd 219, from /usr/lib/systemd/systemd: "systemd 219"' in result.out
    service = (root / "etc/systemd/system" / SERVICE).read_text()
    assert "ProtectSystem=full" in service and "ReadWritePaths" not in service
    # the admin knows better: --systemd overrides what was read
    other = make_target(tmp_path / "image", ["systemd"])
    (other / "usr/lib/systemd/systemd").write_bytes(BANNER_219)
    result = udev_drift("install", "--root", other, "--binary", fake_binary, "--systemd", "252")
    assert result.status == 0 and "systemd 252, from --systemd" in result.out
    assert "ProtectSystem=strict" in (other / "etc/systemd/system" / SERVICE).read_text()


def test_a_systemd_between_219_and_the_modern_units_gets_the_219_units(tmp_path: Path) -> None:
    assert units_for(MODERN_SYSTEMD - 1, tmp_path) == units_for(219, tmp_path)
    assert units_for(MODERN_SYSTEMD, tmp_path) == units_for(252, tmp_path)
