"""A full file system under the state directory: one plain line, exit 3, nothing changed."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import XEN_BLOCK_POLICY
from tests.namespace import run_private

RULES = "etc/udev/rules.d/50-udev.rules"
OLD = 'KERNEL=="null", MODE="0666"\n'


def test_a_full_state_file_system_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(XEN_BLOCK_POLICY)
    root = tmp_path / "host"
    (root / "etc/udev/rules.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d").mkdir(parents=True)
    (root / "etc/udev-drift/policies.d/xen.yaml").write_text(XEN_BLOCK_POLICY)
    (root / RULES).write_text(OLD)
    # A tiny tmpfs holds the state directory (made while there was room), then is filled.
    script = textwrap.dedent(f"""\
        mkdir -p {tmp_path}/fs
        mount -t tmpfs -o size=64k,mode=0755 tmpfs {tmp_path}/fs
        mkdir -m 0700 {tmp_path}/fs/state
        dd if=/dev/zero of={tmp_path}/fs/filler bs=4k 2>/dev/null || true
        set +e
        $UDEV_DRIFT check --root {root} --repair --state-dir {tmp_path}/fs/state > {tmp_path}/out 2> {tmp_path}/err
        echo "exit $?" >> {tmp_path}/out
        ls -A {tmp_path}/fs/state > {tmp_path}/state-listing
    """)
    done = run_private(script)
    assert done.returncode == 0, done.stderr
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "out").read_text().endswith("exit 3\n"), (tmp_path / "out").read_text() + err
    assert err.count("\n") == 1 and "No space left on device" in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert (root / RULES).read_text() == OLD
    assert sorted(p.name for p in (root / "etc/udev/rules.d").iterdir()) == ["50-udev.rules"]
