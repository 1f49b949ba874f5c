"""Property: for any vendor file and any drift, a repair makes the host compliant, and a
second repair writes nothing at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.engine import load_desired, repair
from checker.host import Host
from checker.state import StateDir

RULES = "/etc/udev/rules.d/50-udev.rules"
OURS = [
    'ACTION=="add", KERNEL=="sdb", SYMLINK+="xapi/block/%k", RUN+="/opt/change %k"',
    'ACTION=="remove", KERNEL=="sdb", RUN+="/opt/change %k"',
]
POLICY = (
    "version: 1\nname: xen\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n    ensure: block\n"
    "    content: |\n" + "".join(f"      {line}\n" for line in OURS)
)

vendor_rule = st.builds(
    lambda key, value, assign: f'{key}=="{value}", {assign}',
    st.sampled_from(["KERNEL", "SUBSYSTEM", "ENV{DEVTYPE}", "ATTRS{vendor}", "DRIVERS"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789*?[]", min_size=1, max_size=12),
    st.sampled_from(['GROUP="disk"', 'MODE="0660"', 'SYMLINK+="x/%k"', 'RUN+="/bin/true"',
                     'ENV{ID_X}="1"', 'OPTIONS+="nowatch"']),
)
vendor_line = st.one_of(vendor_rule, st.just(""), st.just("# a vendor comment"),
                        st.just('KERNEL=="sdz", \\'),  # a rule that goes on on the next line
                        st.builds(lambda r: r.replace(", ", ", \\\n    ", 1), vendor_rule))
BEGIN, END = "# BEGIN udev-drift xen", "# END udev-drift xen"
drifts = st.sampled_from([
    "none", "missing", "changed", "duplicated", "lost-begin", "lost-end", "unmarked",
    "reformatted", "requoted", "dropped-comment",
])


def with_drift(vendor: list[str], where: int, drift: str) -> list[str]:
    block = [BEGIN, *OURS, END]
    if drift == "missing":
        block = []
    elif drift == "changed":
        block = [BEGIN, OURS[0].replace("sdb", "sdc"), OURS[1], END]
    elif drift == "duplicated":
        return vendor[:where] + block + vendor[where:] + block
    elif drift == "lost-begin":
        block = block[1:]
    elif drift == "lost-end":
        block = block[:-1]
    elif drift == "unmarked":
        block = block[1:-1]
    elif drift == "reformatted":
        block = [BEGIN, OURS[0].replace(", ", " "), OURS[1].replace(", ", ",\\\n  "), END]
    elif drift == "requoted":
        block = [BEGIN, OURS[0].replace("/opt/change %k", "/opt/change  %k"), OURS[1], END]
    elif drift == "dropped-comment":
        block = [BEGIN, OURS[0] + "  # the NAS disk", OURS[1], END]
    return vendor[:where] + block + vendor[where:]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vendor=st.lists(vendor_line, max_size=12), where=st.integers(min_value=0), drift=drifts,
       crlf=st.booleans(), final_newline=st.booleans())
def test_repair_makes_any_host_compliant_and_a_second_repair_writes_nothing(
        vendor: list[str], where: int, drift: str, crlf: bool, final_newline: bool) -> None:
    lines = with_drift(vendor, where % (len(vendor) + 1), drift)
    ending = "\r\n" if crlf else "\n"
    text = ending.join(lines) + (ending if final_newline and lines else "")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "etc/udev/rules.d").mkdir(parents=True)
        (root / "p.yaml").write_text(POLICY)
        (root / RULES.lstrip("/")).write_text(text, newline="")
        policies = load_desired([str(root / "p.yaml")])
        host, state = Host(str(root)), StateDir(str(root / "state"))
        first = repair(policies, host, state, None)
        assert first.compliant, (drift, text, first.to_json())
        repaired = (root / RULES.lstrip("/")).read_bytes()
        # Every vendor line is still there, in order.
        kept = iter(repaired.decode().replace("\r\n", "\n").split("\n"))
        physical = "\n".join(vendor).split("\n")
        assert all(any(line == have for have in kept) for line in physical if line.strip()), (text, repaired)
        stat_before = os.stat(root / RULES.lstrip("/"))
        second = repair(policies, host, state, None)
        assert second.compliant and not second.actions
        stat_after = os.stat(root / RULES.lstrip("/"))
        assert (stat_after.st_ino, stat_after.st_mtime_ns) == (stat_before.st_ino, stat_before.st_mtime_ns)
        assert len(os.listdir(root / "etc/udev/rules.d")) == 1, "no temporary or backup file left beside it"
