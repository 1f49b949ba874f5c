"""A policy decides what root writes: it is read as sshd's StrictModes reads a key file
(every directory on the way owned by root and writable by no one else), opened once, and
what was parsed is exactly what is cached; the cache is trusted only from a place no one
else can write, and only for the validator that made it. Paths a `for_each` item expands
into are held to the same rules as the paths written out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from checker.policy.cache import CACHE_NAME
from tests.conftest import REPO, HostTree, Result

Run = Callable[..., Result]
STATE = "/var/lib/udev-drift"
POLICY_PATH = "/etc/udev-drift/policies.d/xen.yaml"
POLICY = """\
version: 1
name: xen
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    content: |
      KERNEL=="sdb", SYMLINK+="xapi/block/%k"
"""
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the permission checks apply to runs as root")


def host_in(parent: Path) -> HostTree:
    root = parent / "host"
    tree = HostTree(root)
    tree.write(POLICY_PATH, POLICY)
    tree.write("/etc/udev/rules.d/50-udev.rules", "")
    return tree


# -- every directory on the way ------------------------------------------------------------

@as_root
@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_writable_ancestor_of_the_policy_directory_is_refused(tmp_path: Path, udev_drift: Run,
                                                               mode: int) -> None:
    # Whoever can write an ancestor can swap the directories below it between two opens.
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    tree = host_in(shared)
    before = tree.snapshot()
    result = udev_drift("check", "--root", tree.root, "--repair")
    assert result.status == 2 and result.out == "", result.err
    assert result.err.count("\n") == 1 and f"{shared}, a directory on its way," in result.err
    assert "writable by group" in result.err
    assert tree.snapshot() == before


@as_root
def test_an_ancestor_owned_by_another_user_is_refused(tmp_path: Path, udev_drift: Run) -> None:
    owned = tmp_path / "owned"
    owned.mkdir()
    os.chown(owned, 1000, 1000)
    tree = host_in(owned)
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and f"{owned}, a directory on its way, is owned by uid 1000" in result.err


@as_root
def test_a_link_is_checked_where_it_leads_and_every_directory_on_the_way(tmp_path: Path, udev_drift: Run) -> None:
    # policies.d -> /srv/policies, itself reached through a link in a writable directory
    shared = tmp_path / "shared"
    (shared / "real").mkdir(parents=True)
    os.chmod(shared, 0o777)
    safe = tmp_path / "safe"
    safe.mkdir()
    (safe / "xen.yaml").write_text(POLICY)
    os.symlink(safe, shared / "hop")
    tree = HostTree(tmp_path / "host")
    tree.link("/etc/udev-drift/policies.d", str(shared / "hop"))
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and f"{shared}, a directory on its way," in result.err


@as_root
def test_a_sticky_root_directory_is_a_safe_way(tmp_path: Path, udev_drift: Run) -> None:
    # /tmp: anyone may add names, but none may rename or remove root's.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    tree = host_in(sticky)
    assert udev_drift("check", "--root", tree.root).status == 1
    os.chown(tree.root, 1000, 1000)  # but what another user made in it is theirs
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and "is owned by uid 1000" in result.err


@as_root
def test_a_fifo_at_a_policy_name_is_refused_without_hanging(tmp_path: Path, udev_drift: Run) -> None:
    tree = host_in(tmp_path)
    os.unlink(tree.path(POLICY_PATH))
    os.mkfifo(tree.path(POLICY_PATH))
    result = udev_drift("check", "--root", tree.root)
    assert result.status == 2 and "not a regular file" in result.err


def policy_opens(root: Path, tmp_path: Path) -> int:
    """How many times a check opens the policy file, counted by the kernel (strace)."""
    log = tmp_path / "strace.log"
    subprocess.run(["strace", "-f", "-e", "trace=open,openat,openat2", "-o", str(log),
                    sys.executable, "-m", "checker", "check", "--root", str(root), "--repair"],
                   cwd=REPO, capture_output=True, timeout=120, check=False)
    name = os.path.basename(POLICY_PATH)
    return sum(1 for line in log.read_text().splitlines() if f'/{name}"' in line)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_the_policy_is_opened_once_and_the_bytes_read_are_the_bytes_cached(tmp_path: Path) -> None:
    # Opened twice, a file swapped between the opens is parsed as one text and cached
    # under the hash of another; every later run would replay what was parsed.
    tree = host_in(tmp_path)
    assert policy_opens(tree.root, tmp_path) == 1
    document = json.loads(tree.path(f"{STATE}/{CACHE_NAME}").read_text())
    [entry] = document["policies"].values()
    import hashlib
    assert entry["sha256"] == hashlib.sha256(tree.path(POLICY_PATH).read_bytes()).hexdigest()


# -- the cache ------------------------------------------------------------------------------

def warm(tree: HostTree, udev_drift: Run) -> dict[str, object]:
    assert udev_drift("check", "--root", tree.root, "--repair").status == 0
    data: dict[str, object] = json.loads(tree.path(f"{STATE}/{CACHE_NAME}").read_text())
    return data


def plant(tree: HostTree, document: dict[str, object], where: Path | None = None) -> None:
    path = tree.path(f"{STATE}/{CACHE_NAME}")
    target = where or path
    target.write_text(json.dumps(document))
    os.chmod(target, 0o600)
    if where is not None:
        path.unlink()
        os.symlink(where, path)


def evil(document: dict[str, object], file: str = "/etc/udev/rules.d/50-udev.rules") -> dict[str, object]:
    for entry in document["policies"].values():  # type: ignore[attr-defined]
        for rule in entry["desired"]["rules"]:
            rule["content"] = 'KERNEL=="sdz", RUN+="/tmp/evil"\n'
            rule["file"] = file
    return document


def test_a_cache_made_by_another_validator_is_a_miss(tmp_path: Path, udev_drift: Run) -> None:
    # The same version number does not mean the same checks: a cache kept by a build that
    # let something through must not be replayed by one that refuses it.
    tree = host_in(tmp_path)
    document = evil(warm(tree, udev_drift))
    document["validator"] = "0" * 64
    plant(tree, document)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert result.status == 0 and "evil" not in result.out


def test_a_cached_policy_is_checked_again_for_where_it_writes(tmp_path: Path, udev_drift: Run) -> None:
    tree = host_in(tmp_path)
    plant(tree, evil(warm(tree, udev_drift), file="/etc/cron.d/evil.rules"))
    before = tree.snapshot()
    result = udev_drift("check", "--root", tree.root, "--repair", "--format", "json")
    assert result.status == 0 and "evil" not in result.out
    assert not tree.path("/etc/cron.d").exists()
    assert {k: v for k, v in tree.snapshot().items() if "udev-drift/" not in k} == \
        {k: v for k, v in before.items() if "udev-drift/" not in k}


def test_a_cached_path_too_long_for_the_file_system_is_not_replayed(tmp_path: Path, udev_drift: Run) -> None:
    tree = host_in(tmp_path)
    tree.write("/etc/udev-drift/policies.d/link.yaml",
               "version: 1\nname: link\nsymlinks:\n  - link: /dev/xapi/block/sdb\n    target: /dev/sdb\n")
    document = warm(tree, udev_drift)
    for entry in document["policies"].values():  # type: ignore[attr-defined]
        for link in entry["desired"]["symlinks"]:
            link["link"] = "/dev/" + "/".join(["d" * 200] * 21)
    plant(tree, document)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert result.status in (0, 1) and "ddddd" not in result.out, result.err
    assert "internal error" not in result.err and "/dev/xapi/block/sdb" in result.out


def test_a_cache_reached_through_a_link_into_a_writable_directory_is_ignored_with_a_warning(
        tmp_path: Path, udev_drift: Run, caplog: pytest.LogCaptureFixture) -> None:
    tree = host_in(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    plant(tree, evil(warm(tree, udev_drift)), where=shared / "cache.json")
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert result.status == 0 and "evil" not in result.out
    assert "not trusted" in result.err


def test_a_state_directory_linked_to_a_writable_directory_is_not_trusted_for_the_cache(
        tmp_path: Path, udev_drift: Run) -> None:
    tree = host_in(tmp_path)
    document = evil(warm(tree, udev_drift))
    # Under --root the link is followed as in a chroot: /srv/shared is the tree's.
    shared = tree.path("/srv/shared")
    shutil.copytree(tree.path(STATE), shared)
    os.chmod(shared, 0o777)
    shutil.rmtree(tree.path(STATE))
    os.symlink("/srv/shared", tree.path(STATE))
    (shared / CACHE_NAME).write_text(json.dumps(document))
    os.chmod(shared / CACHE_NAME, 0o600)
    result = udev_drift("check", "--root", tree.root, "--format", "json")
    assert result.status == 0 and "evil" not in result.out and "not trusted" in result.err


# -- what for_each items expand into ------------------------------------------------------

def item_policy(field: str, item: str) -> str:
    if field == "file":
        return ("version: 1\nname: x\nrules:\n  - file: /etc/udev/rules.d/{{ item }}.rules\n"
                f"    ensure: file\n    for_each: [{json.dumps(item)}]\n"
                "    content: |\n      KERNEL==\"sdb\", SYMLINK+=\"x\"\n")
    link, target = ("/dev/xapi/{{ item }}", "/dev/sdb") if field == "link" else ("/dev/xapi/x", "/dev/{{ item }}")
    return (f"version: 1\nname: x\nsymlinks:\n  - link: {link}\n    target: {target}\n"
            f"    for_each: [{json.dumps(item)}]\n")


@pytest.mark.parametrize(("field", "item", "expected"), [
    ("file", "../../../cron.d/evil", "'..'"),
    ("file", "sub/x", "a directory udev never reads"),
    ("file", ".hidden", "hidden"),
    ("file", "a b", "may hold only"),
    ("file", "$(reboot)", "may hold only"),
    ("link", "../../etc/evil", "'..'"),
    ("link", "..", "'..'"),
    ("target", "../etc/shadow", "'..'"),
    ("target", "sdb/../../../etc/shadow", "'..'"),
    # a name the file system refuses (ENAMETOOLONG) validated and then ended the check in
    # an internal error
    ("file", "a" * 300, "a component of 306 bytes, more than the 255"),
    ("link", "a" * 256, "a component of 256 bytes, more than the 255"),
    ("link", "a" * 5000, "5010 bytes long, more than the 4095"),
    ("target", "é" * 128, "a component of 256 bytes, more than the 255"),
])
def test_an_item_cannot_lead_a_path_out_of_where_it_may_write(tree: HostTree, udev_drift: Run,
                                                              field: str, item: str, expected: str) -> None:
    path = tree.policy(item_policy(field, item))
    tree.write("/dev/sdb", "")
    before = tree.snapshot()
    for command in (("validate", path), ("check", "--root", tree.root, "--repair")):
        result = udev_drift(*command)
        assert result.status == 2 and result.out == "", result.err
        assert result.err.count("\n") == 1 and expected in result.err, result.err
        assert "for item" in result.err
    assert tree.snapshot() == before


@pytest.mark.parametrize(("file", "expected"), [
    ("/etc/udev/rules.d/.x.rules", "hidden"),
    ("/etc/udev/rules.d/./x.rules", "'.'"),
    ("/etc/udev/rules.d//x.rules", "empty"),
    ("/etc/udev/rules.d/" + "x" * 250 + ".rules", "a component of 256 bytes"),
])
def test_names_udev_never_reads_are_refused_without_items_too(tree: HostTree, udev_drift: Run,
                                                             file: str, expected: str) -> None:
    path = tree.policy(POLICY.replace("/etc/udev/rules.d/50-udev.rules", file))
    result = udev_drift("validate", path)
    assert result.status == 2 and expected in result.err, result.err


def test_items_in_content_and_identities_keep_their_freedom(tree: HostTree, udev_drift: Run) -> None:
    # Only paths are held to the safe characters; a serial may hold what a serial holds.
    path = tree.policy("version: 1\nname: x\nsymlinks:\n  - link: /dev/disk/vm/{{ item }}\n"
                       "    device: {serial: 'WDC WD40 {{ item }}'}\n    for_each: [sdb, nvme0n1p1, a.b_c-d:1]\n")
    assert udev_drift("validate", path).status == 0




@pytest.mark.skipif(shutil.which("udevadm") is None, reason="needs udevadm (udev 252)")
def test_the_real_udev_never_reads_hidden_names_or_subdirectories(tmp_path: Path) -> None:
    # Why such names are refused: a policy that manages one would be compliant and idle.
    from tests.namespace import require_namespaces, udevadm_test

    require_namespaces()
    rules = tmp_path / "rules"
    (rules / "sub").mkdir(parents=True)
    for name in ("60-visible.rules", ".60-hidden.rules", "sub/60-sub.rules"):
        (rules / name).write_text('KERNEL=="never-matches", SYMLINK+="x"\n')
    done = udevadm_test(str(rules), "/sys/class/net/lo")
    assert done.returncode == 0, done.stderr
    read = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Reading rules file: ")]
    assert read == ["Reading rules file: /usr/lib/udev/rules.d/60-visible.rules"]
