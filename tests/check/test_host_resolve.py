"""Host.resolve() against the kernel: random trees of files, directories and links
(relative, absolute, through `..`, chains, loops, dangling), each path resolved by
Host.resolve() under --root and by the kernel in a chroot of the same tree.

The kernel's answer is taken in a forked child that chroots into the tree (root only;
skipped, with the reason, otherwise) and stats every probe path: same inode, ENOENT or
ENOTDIR for a dangling path, ELOOP for a loop.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.host import Host

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot() needs root")

NAMES = ["a", "b", "sdb", "xapi", "block"]
DIRS = ["/dev", "/dev/a", "/dev/xapi", "/dev/xapi/block", "/dev/b"]
TARGETS = ["../sdb", "../../sdb", "/dev/sdb", "sdb", "a", "../a/b", "/dev/xapi", "..", ".",
           "b/../sdb", "../xapi/block/a", "/dev/a/../sdb", "nowhere", "../nowhere/x", "block/a"]

entries = st.lists(
    st.tuples(st.sampled_from(DIRS), st.sampled_from(NAMES),
              st.one_of(st.just(None), st.sampled_from(TARGETS))),
    min_size=1, max_size=12)


def build(root: Path, spec: list[tuple[str, str, str | None]]) -> None:
    for directory in DIRS:
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for directory, name, target in spec:
        path = root / directory.lstrip("/") / name
        if path.exists() or path.is_symlink():
            continue
        if target is None:
            path.write_text("")
        else:
            path.symlink_to(target)


def kernel_answers(root: Path, probes: list[str]) -> list[tuple[str, int, int] | tuple[str, int]]:
    """("ok", dev, ino) or ("error", errno) per probe, as the kernel sees the chroot."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: chroot, stat, report, leave without cleanup handlers
        os.close(read)
        try:
            os.chroot(root)
            out = []
            for probe in probes:
                try:
                    st_ = os.stat(probe)
                    out.append(["ok", st_.st_dev, st_.st_ino])
                except OSError as error:
                    out.append(["error", error.errno])
            os.write(write, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return [tuple(item) for item in json.loads(data)]


@settings(deadline=None)
@given(spec=entries)
def test_resolve_agrees_with_the_kernel(spec: list[tuple[str, str, str | None]]) -> None:
    root = Path(tempfile.mkdtemp(prefix="resolve-"))
    try:
        build(root, spec)
        probes = sorted({f"{d}/{n}" for d in DIRS for n in NAMES} | {"/dev/xapi/block/../a"})
        kernel = kernel_answers(root, probes)
        host = Host(str(root))
        for probe, answer in zip(probes, kernel):
            ours = host.resolve(probe)
            followed = host.follow(probe)
            if answer[0] == "ok":
                assert ours is not None and followed is not None, probe
                mine = os.lstat(host.path(ours))
                assert (mine.st_dev, mine.st_ino) == answer[1:], (probe, ours)
                assert followed[0] == ours and followed[1] == mine, (probe, followed)
            elif answer[1] == errno.ELOOP:
                assert ours is None and followed is None, (probe, ours)
            else:  # dangling: ours names a path that is not there (or under a non-directory)
                assert answer[1] in (errno.ENOENT, errno.ENOTDIR), (probe, answer)
                assert ours is not None and not os.path.lexists(host.path(ours)), (probe, ours)
                assert followed == (ours, None), (probe, followed)
            # A link's own text given: the same answer without reading the link again.
            text = host.readlink(probe)
            if text is not None:
                assert host.follow(probe, text) == followed, probe
    finally:
        shutil.rmtree(root)


def test_a_directory_is_resolved_once_per_run(tmp_path: Path) -> None:
    (tmp_path / "dev/xapi/block").mkdir(parents=True)
    (tmp_path / "dev/sdb").write_text("")
    (tmp_path / "dev/xapi/block/sdb").symlink_to("../../sdb")
    host = Host(str(tmp_path))
    assert host.resolve("/dev/xapi/block/sdb") == "/dev/sdb"
    # A later change to the directories is seen only after forget() (a repair calls it).
    shutil.rmtree(tmp_path / "dev/xapi/block")
    (tmp_path / "dev/elsewhere/block2").mkdir(parents=True)
    (tmp_path / "dev/elsewhere/block2/sdb").write_text("")
    (tmp_path / "dev/xapi/block").symlink_to("../elsewhere/block2")
    assert host.resolve("/dev/xapi/block/sdb") == "/dev/xapi/block/sdb"  # as first read
    host.forget()
    assert host.resolve("/dev/xapi/block/sdb") == "/dev/elsewhere/block2/sdb"
