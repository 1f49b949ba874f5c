"""A rules file swapped between the look at it and the read (in a tree someone else owns
and checks run on as root): a FIFO put there is never waited on, and a link put there is
never followed out of the tree. Each run in a child, so that a hang fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import HostTree

RULES = "/etc/udev/rules.d/60-x.rules"


def read_after_the_swap(tree: HostTree, swap: str) -> subprocess.CompletedProcess[str]:
    """RulesFiles.get() of RULES, the file replaced by `swap` (Python) after the looks
    that found a regular file, before it is opened: the race won."""
    code = textwrap.dedent(f"""
        import os
        from checker.errors import UdevDriftError
        from checker.host import Host
        from checker.observe.files import RulesFiles

        class Racer(RulesFiles):
            def read(self, path):  # after every look, before the open
                os.unlink(self.host.path(path))
                {swap}
                return super().read(path)

        try:
            observed = Racer(Host({str(tree.root)!r})).get({RULES!r})
            print("read:", observed.kind, repr(observed.text))
        except UdevDriftError as error:
            print("error:", error)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parents[2])


def test_a_fifo_swapped_in_is_never_waited_on(tree: HostTree) -> None:
    tree.write(RULES, 'KERNEL=="sdb"\n', dedent=False)
    try:
        done = read_after_the_swap(tree, "os.mkfifo(self.host.path(path))")
    except subprocess.TimeoutExpired:
        raise AssertionError("the read waited on the FIFO") from None
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("error:") and "not a regular file" in done.stdout, done.stdout


def test_a_link_swapped_in_is_never_followed_out_of_the_tree(tree: HostTree, tmp_path: Path) -> None:
    outside = tmp_path / "shadow"
    outside.write_text("root:$6$hash\n")
    tree.write(RULES, 'KERNEL=="sdb"\n', dedent=False)
    done = read_after_the_swap(tree, f"os.symlink({str(outside)!r}, self.host.path(path))")
    assert done.returncode == 0, done.stderr
    assert "$6$hash" not in done.stdout, done.stdout
    assert os.path.islink(tree.path(RULES))
