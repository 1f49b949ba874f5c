"""udevadm runs bounded: a call that does not answer in time is stopped with everything
it started (a wrapper script's children too), and the run fails with one line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from checker.udevadm.calls import Udevadm, UdevadmError


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waits for its parent (init in a container may be slow to reap it)
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_timed_out_wrapper_is_stopped_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    wrapper = tmp_path / "udevadm"
    wrapper.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {pidfile}\nwait\n")
    wrapper.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(UdevadmError, match="no answer after 0.5 s"):
        Udevadm(str(wrapper), timeout=0.5).run(["settle"])
    assert time.monotonic() - started < 5
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the wrapper's child outlived the timeout"


def test_a_wrapper_whose_child_keeps_the_output_open_does_not_hang_the_run(tmp_path: Path) -> None:
    wrapper = tmp_path / "udevadm"
    wrapper.write_text("#!/bin/sh\nsleep 60 &\nexit 0\n")  # the child holds stdout open
    wrapper.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(UdevadmError):
        Udevadm(str(wrapper), timeout=0.5).run(["settle"])
    assert time.monotonic() - started < 5
