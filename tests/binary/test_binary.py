"""The single-file binary (scripts/build-binary) needs no Python and no C library of the
host's, finds the host's libudev, and behaves as the pip-installed tool does.

One private mount namespace runs every command of the binary, in three chroots:

  bare       the binary, /dev/null, /proc, /sys and a tmpfs /tmp, and the trees it checks:
             no C library, no Python, no shell. --help of every command, check, check
             --repair (--dry-run), validate, policies and schema run here and are compared
             with the pip-installed tool run on an identical tree outside: the same exit
             status, stdout and stderr (the tree's path replaced), the same JSON report,
             and the same files afterwards. serve answers /metrics and stops on SIGTERM.
  debian     the bare chroot plus the host's libudev.so.1 and what ldd lists for it,
             /sbin/ldconfig, /etc/ld.so.conf and a cache made inside: the hidden command
             `_libudev` (checker/cli/diagnose.py) lists the host's disks, and `suggest`
             (which reads them through libudev) reports what it reports outside.
  xenserver  the same libraries laid out as on a XenServer dom0 (/usr/lib64, /lib64 a link
             to it) with a cache in the "compat" format that glibc 2.17's ldconfig writes;
             the same two commands.

Both tools run with TZ=UTC and LANG=C.UTF-8: the chroot has no time zone database.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checker.cli.dispatch import build_parser
from tests.namespace import run_private

pytestmark = pytest.mark.binary

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "xenserver-host"
POLICY_NAME = "xenserver-local-sata"
POLICY = REPO / "policies" / f"{POLICY_NAME}.yaml"
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TZ": "UTC",
       "LANG": "C.UTF-8", "COLUMNS": "100"}
CHROOT_ROOT = "/srv/host"  # where the checked tree is, inside the chroot
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{6}Z")  # the time in a backup's name
BAD_POLICY = "version: 1\nname: broken\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n    ensure: sideways\n"


def commands() -> list[str]:
    parser = build_parser()
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subparsers here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return sorted(action.choices)
    raise AssertionError("udev-drift has no subcommands?")


def sequence() -> list[tuple[str, list[str]]]:
    """(name, arguments) of every run, in order; {root} is the checked tree."""
    runs = [("version", ["--version"]), ("help", ["--help"])]
    runs += [(f"help-{command}", [command, "--help"]) for command in commands()]
    runs += [
        ("check-text", ["check", "--root", "{root}"]),
        ("check", ["check", "--root", "{root}", "--format", "json"]),
        ("usage-error", ["check", "--root", "{root}", "--dry-run"]),
        ("dry-run", ["check", "--root", "{root}", "--repair", "--dry-run", "--format", "json"]),
        ("repair", ["check", "--root", "{root}", "--repair", "--format", "json"]),
        ("after", ["check", "--root", "{root}", "--format", "json"]),
        ("after-text", ["check", "--root", "{root}"]),
        ("validate", ["validate", "{root}/etc/udev-drift/policies.d"]),
        ("validate-bad", ["validate", "{root}/broken.yaml"]),
        ("policies", ["policies"]),
        ("policy", ["policies", POLICY_NAME]),
        ("schema", ["schema"]),
    ]
    return runs


@dataclass
class Run:
    status: int
    out: str
    err: str


def make_tree(where: Path) -> Path:
    """A copy of examples/xenserver-host with the policy copied in (not linked)."""
    shutil.copytree(EXAMPLE, where, symlinks=True)
    policy = where / "etc" / "udev-drift" / "policies.d" / POLICY.name
    policy.unlink()
    shutil.copy2(POLICY, policy)
    (where / "broken.yaml").write_text(BAD_POLICY)
    return where


def normalize(text: str, root: str) -> str:
    return STAMP.sub("<TIME>", text.replace(root, "<ROOT>"))


def stable(value: Any) -> Any:
    """A state file's JSON without what differs from run to run: inodes and the clock."""
    if isinstance(value, dict):
        return {key: "<varies>" if key in {"device", "inode", "mtime"} or key.startswith("last_")
                else stable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stable(item) for item in value]
    return value


def snapshot(root: Path) -> dict[str, Any]:
    """Every entry under root: type, mode, link target or content (state files made stable)."""
    seen: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        name = STAMP.sub("<TIME>", path.relative_to(root).as_posix())
        if path.is_symlink():
            seen[name] = ("link", os.readlink(path))
        elif path.is_dir():
            seen[name] = ("dir", path.stat().st_mode)
        else:
            data: Any = path.read_bytes()
            if name.startswith("var/lib/udev-drift/"):
                if path.name.endswith("lock"):  # the run lock and the metrics lock hold a pid
                    data = "<pid>"
                elif path.suffix == ".json":
                    # The policy cache names the policy files by absolute path: the tree's
                    # place differs inside and outside the chroot.
                    data = re.sub(rb'"[^"]*?(/etc/udev-drift/)', rb'"<ROOT>\1', data)
                    data = stable(json.loads(data))
                    if isinstance(data, dict) and "origin" in data:
                        # "host" inside the chroot, this boot's id for --root outside: a
                        # tree's cache is replayed only by the boot that wrote it, by design
                        data["origin"] = "<origin>"
                    if path.name == "policy-cache.json" and isinstance(data, dict) and "validator" in data:
                        # The validator's fingerprint is of its code: the binary's bytecode
                        # and the pip install's source are two builds, by design.
                        data["validator"] = "<validator>"
                    if path.name == "verdict-cache.json" and isinstance(data, dict) \
                            and isinstance(data.get("entries"), dict):
                        # Keyed by the root and the deciding code's fingerprint, which differ
                        # inside and outside by design: the keys are not compared, their number
                        # is (the binary kept one more while its fingerprint changed after a
                        # repair: trusted_cache.code_bytes)
                        data["entries"] = f"<{len(data['entries'])} keys>"
            seen[name] = ("file", path.stat().st_mode, data)
    return seen


def pip_tool() -> list[str]:
    """The pip-installed udev-drift of the Python that runs the tests."""
    script = Path(sys.executable).with_name("udev-drift")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "checker"]


def run_outside(args: list[str], cwd: Path) -> Run:
    done = subprocess.run([*pip_tool(), *args], capture_output=True, text=True, timeout=120,
                          env={**ENV, "HOME": str(cwd)}, cwd=cwd, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


def host_libudev() -> Path:
    """The file of the host's libudev.so.1, as this process loads it."""
    try:
        ctypes.CDLL("libudev.so.1")
    except OSError as error:
        pytest.skip(f"the host has no libudev.so.1 ({error}): nothing to load in the chroot")
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "/libudev.so.1" in line:
            return Path(line.split()[-1])
    raise AssertionError("libudev.so.1 loaded, but /proc/self/maps does not show it")


def ldd(path: Path) -> list[Path]:
    """The libraries (and the loader) that ldd lists for path; [] for a static program."""
    done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    return [Path(p) for p in re.findall(r"(/\S+) \(0x", done.stdout)]


def lay_libraries(chroot: Path, layout: str) -> None:
    """The host's libudev, what ldd lists for it, ldconfig and ld.so.conf, in `layout`."""
    libudev = host_libudev()
    # (library, its name in the chroot): libudev under its soname, beside its real file.
    libraries = [(libudev, libudev.with_name("libudev.so.1"))]
    libraries += [(p, p) for p in [*ldd(libudev), *ldd(Path("/sbin/ldconfig"))]]
    (chroot / "sbin").mkdir(exist_ok=True)
    shutil.copy2("/sbin/ldconfig", chroot / "sbin" / "ldconfig")
    directories: list[str] = []
    if layout == "xenserver":
        (chroot / "usr" / "lib64").mkdir(parents=True, exist_ok=True)
        (chroot / "lib64").symlink_to("usr/lib64")
        directories.append("/usr/lib64")
    for library, name in libraries:
        target = chroot / "usr" / "lib64" / name.name if layout == "xenserver" else chroot / str(name).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library.resolve(), target)
        target.chmod(0o755)
        if layout != "xenserver" and str(name.parent) not in directories:
            directories.append(str(name.parent))
    (chroot / "etc").mkdir(exist_ok=True)
    (chroot / "etc" / "ld.so.conf").write_text("".join(f"{d}\n" for d in directories))


def bare_chroot(where: Path, binary: Path) -> Path:
    for directory in ("usr/local/bin", "proc", "sys", "tmp", "dev", "srv"):
        (where / directory).mkdir(parents=True)
    (where / "dev" / "null").touch()
    shutil.copy2(binary, where / "usr" / "local" / "bin" / "udev-drift")
    return where


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SCRIPT = r"""
bare={bare} debian_libs={debian_libs} xen={xen} out={out} port={port} python={python}
environment=({environment})

enter() {{  # the mounts a chroot needs, private to this namespace
    mount -t proc proc "$1/proc"; mount -t sysfs sysfs "$1/sys"; mount -t tmpfs tmpfs "$1/tmp"
    mount --bind /dev/null "$1/dev/null"
}}
run() {{  # run CHROOT NAME ARGS...: the binary in CHROOT; stdout, stderr, status in $out/NAME.*
    local chroot=$1 name=$2 status=0
    shift 2
    env -i "${{environment[@]}}" chroot "$chroot" /usr/local/bin/udev-drift "$@" \
        >"$out/$name.out" 2>"$out/$name.err" </dev/null || status=$?
    echo "$status" >"$out/$name.status"
}}

enter "$bare"
{runs}
run "$bare" libudev-none _libudev

# serve: start it, read /metrics once it answers, stop it with SIGTERM.
env -i "${{environment[@]}}" chroot "$bare" /usr/local/bin/udev-drift serve --root /srv/serve \
    --listen 127.0.0.1:$port --interval 3600 >"$out/serve.out" 2>"$out/serve.err" </dev/null &
serve=$!
"$python" - "$port" >"$out/metrics.out" <<'EOF'
import sys, time, urllib.request
for _ in range(300):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{{sys.argv[1]}}/metrics", timeout=5) as answer:
            sys.stdout.write(answer.read().decode())
            break
    except OSError:
        time.sleep(0.1)
EOF
kill -TERM "$serve" 2>/dev/null || true
status=0; wait "$serve" || status=$?; echo "$status" >"$out/serve.status"
ls -A "$bare/tmp" >"$out/tmp.list"

cp -a "$debian_libs/." "$bare/"
chroot "$bare" /sbin/ldconfig
run "$bare" libudev-debian _libudev
{suggest_debian}

enter "$xen"
chroot "$xen" /sbin/ldconfig -c compat
run "$xen" libudev-xenserver _libudev
{suggest_xen}
"""
# `suggest` reads the host's disks through libudev (checker/observe/udev.py).
SUGGEST = ["suggest", "--format", "json", "{root}/etc/udev-drift/policies.d/" + POLICY.name]


@dataclass
class Results:
    pairs: dict[str, tuple[Run, Run]]  # name: (the binary in the chroot, the pip tool outside)
    only: dict[str, Run]  # the binary's runs without a counterpart, and `libudev-outside`
    outside_root: str
    trees: tuple[dict[str, Any], dict[str, Any]]  # (in the chroot, outside) after the runs
    metrics: str
    tmp_entries: list[str]


def read_run(out: Path, name: str) -> Run:
    return Run(int((out / f"{name}.status").read_text()), (out / f"{name}.out").read_text(),
               (out / f"{name}.err").read_text())


@pytest.fixture(scope="module")
def results(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Results:
    base = tmp_path_factory.mktemp("binary")
    bare = bare_chroot(base / "bare", binary)
    make_tree(bare / CHROOT_ROOT.lstrip("/"))
    make_tree(bare / "srv" / "serve")
    debian_libs = base / "debian-libs"
    debian_libs.mkdir()
    lay_libraries(debian_libs, "debian")
    xen = bare_chroot(base / "xenserver", binary)
    lay_libraries(xen, "xenserver")
    make_tree(xen / CHROOT_ROOT.lstrip("/"))
    suggest = " ".join(shlex.quote(a.replace("{root}", CHROOT_ROOT)) for a in SUGGEST)
    with_suggest = "suggest" in commands()
    found = sorted(str(p.relative_to(bare)) for p in bare.rglob("*")
                   if re.match(r"(ld-linux|libc\.so|libpython|python)", p.name))
    assert found == [], f"the bare chroot holds a C library or Python: {found}"
    out = base / "out"
    out.mkdir()

    lines = []
    for name, args in sequence():
        arguments = " ".join(shlex.quote(a.replace("{root}", CHROOT_ROOT)) for a in args)
        lines.append(f'run "$bare" {name} {arguments}')
    script = SCRIPT.format(
        bare=shlex.quote(str(bare)), debian_libs=shlex.quote(str(debian_libs)),
        xen=shlex.quote(str(xen)), out=shlex.quote(str(out)), port=free_port(),
        python=shlex.quote(sys.executable), runs="\n".join(lines),
        suggest_debian=f'run "$bare" suggest-debian {suggest}' if with_suggest else "",
        suggest_xen=f'run "$xen" suggest-xenserver {suggest}' if with_suggest else "",
        environment=" ".join(shlex.quote(f"{k}={v}") for k, v in ENV.items()))
    done = run_private(script, timeout=600)
    assert done.returncode == 0, f"the chroot script failed:\n{done.stdout}\n{done.stderr}"

    # The same path below the working directory as in the chroot (where it is /): text
    # output shows the root relative to it.
    cwd = base / "outside"
    outside = make_tree(cwd / CHROOT_ROOT.lstrip("/"))
    pairs = {name: (read_run(out, name), run_outside([a.replace("{root}", str(outside)) for a in args], cwd))
             for name, args in sequence()}
    only = {name: read_run(out, name)
            for name in ("libudev-none", "libudev-debian", "libudev-xenserver", "serve")}
    only["libudev-outside"] = run_outside(["_libudev"], cwd)
    if with_suggest:
        for layout in ("debian", "xenserver"):
            only[f"suggest-{layout}"] = read_run(out, f"suggest-{layout}")
        only["suggest-outside"] = run_outside([a.replace("{root}", str(outside)) for a in SUGGEST], cwd)
    return Results(pairs, only, str(outside),
                   (snapshot(bare / CHROOT_ROOT.lstrip("/")), snapshot(outside)),
                   (out / "metrics.out").read_text(), (out / "tmp.list").read_text().split())


@pytest.mark.parametrize("name", [name for name, _ in sequence()])
def test_each_command_behaves_as_the_pip_installed_tool(results: Results, name: str) -> None:
    inside, outside = results.pairs[name]
    assert inside.status == outside.status, f"{name}: exit {inside.status} in the chroot:\n{inside.err}"
    assert normalize(inside.out, CHROOT_ROOT) == normalize(outside.out, results.outside_root)
    assert normalize(inside.err, CHROOT_ROOT) == normalize(outside.err, results.outside_root)
    assert "Traceback" not in inside.err


def test_check_and_repair_give_the_same_reports_and_files(results: Results) -> None:
    statuses = {}
    for name in ("check", "dry-run", "repair", "after"):
        inside, outside = results.pairs[name]
        assert json.loads(normalize(inside.out, CHROOT_ROOT)) == \
            json.loads(normalize(outside.out, results.outside_root))
        statuses[name] = inside.status
    # The example host has drifted; the repair puts it right.
    assert statuses == {"check": 1, "dry-run": 1, "repair": 0, "after": 0}
    in_chroot, outside_tree = results.trees
    assert in_chroot == outside_tree, "the trees differ after the repair"
    assert "dev/xapi/block/sdb" in in_chroot
    assert results.pairs["usage-error"][0].status == 2
    assert results.pairs["validate-bad"][0].status == 2


def test_serve_answers_metrics_in_the_chroot(results: Results) -> None:
    serve = results.only["serve"]
    assert "udev_drift_run_success 1.0" in results.metrics, f"{results.metrics}\n{serve.err}"
    assert 'udev_drift_item_drifted{item="/dev/xapi/block/sdb",kind="symlink",' in results.metrics
    assert serve.status == 0, serve.err


def test_it_unpacks_once_into_a_private_cache(results: Results) -> None:
    # /var/cache does not exist in the chroot: the launcher falls back to /tmp/udev-drift-<uid>.
    assert results.tmp_entries == [f"udev-drift-{os.geteuid()}"]


def test_without_libudev_it_says_so(results: Results) -> None:
    run = results.only["libudev-none"]
    assert run.status == 3
    assert run.out.splitlines()[0] == "libudev None"
    assert "libudev" in run.err and "Traceback" not in run.err


@pytest.mark.parametrize("layout", ["debian", "xenserver"])
def test_libudev_of_the_host_loads_and_sees_its_disks(results: Results, layout: str) -> None:
    outside = results.only["libudev-outside"]
    if outside.status != 0:
        pytest.skip(f"libudev does not load outside the chroot either: {outside.err.strip()}")
    inside = results.only[f"libudev-{layout}"]
    assert inside.status == 0, inside.err
    assert inside.out.splitlines()[0] == "libudev libudev.so.1"
    # The same disks as the pip-installed tool sees, and as /sys/class/block lists.
    assert inside.out == outside.out
    disks = sorted(p.name for p in Path("/sys/class/block").iterdir() if not (p / "partition").exists())
    assert [line.split()[1] for line in inside.out.splitlines()[1:]] == disks


@pytest.mark.parametrize("layout", ["debian", "xenserver"])
def test_suggest_reads_the_disks_through_libudev_as_outside(results: Results, layout: str) -> None:
    if "suggest-outside" not in results.only:
        pytest.skip("this udev-drift has no `suggest` command")
    outside = results.only["suggest-outside"]
    if results.only["libudev-outside"].status != 0:
        pytest.skip("libudev does not load outside the chroot either")
    inside = results.only[f"suggest-{layout}"]
    assert inside.status == outside.status, inside.err
    assert json.loads(normalize(inside.out, CHROOT_ROOT)) == \
        json.loads(normalize(outside.out, results.outside_root))
    assert normalize(inside.err, CHROOT_ROOT) == normalize(outside.err, results.outside_root)
