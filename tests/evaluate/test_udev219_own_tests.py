"""The rules of udev 219's own test suite (test/udev-test.pl in the RHEL 7 source), applied
by udevadm test 219 to this machine's loop devices, and by the evaluator with 219's
semantics: every decided answer must be udev 219's.

udev-test.pl runs its rules on a fake sysfs of SCSI disks, ttys and input devices; here
only the tests of block devices are taken, with their disk "sda" renamed "loop6" (and
"sdb" "loop7") so that the rules that name it apply to a real device. Their expected
names are not used: the oracle is udev 219 itself. The source is read from the vendored
tarball (UDEV_DRIFT_SYSTEMD_219_SOURCE names another); without it the test skips.
"""

from __future__ import annotations

import os
import re
import tarfile

import pytest

from checker.evaluate.values import Tri, Unknown
from checker.rules.semantics import UDEV_219
from tests.conftest import REPO
from tests.evaluate.test_differential import evaluations
from tests.evaluate.udevadm219 import Tally219, Udevadm219

# shared/ lies beside the checkout (here and in CI's clone)
TARBALL = os.environ.get("UDEV_DRIFT_SYSTEMD_219_SOURCE",
                         str(REPO.parent / "shared/vendor/systemd-219-rhel7.tar.xz"))
_TEST = re.compile(r'desc\s*=>\s*"(?P<desc>[^"]*)".*?devpath\s*=>\s*"(?P<devpath>[^"]*)".*?'
                   r"rules\s*=>\s*<<EOF\n(?P<rules>.*?)\nEOF\n", re.S)
TALLY = Tally219()


def block_tests() -> list[tuple[str, str]]:
    """(description, rules) of udev-test.pl's tests on block devices, sda -> loop6."""
    if not os.path.exists(TARBALL):
        return []
    with tarfile.open(TARBALL) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("test/udev-test.pl")), None)
        if member is None:
            return []
        handle = tar.extractfile(member)
        assert handle is not None
        perl = handle.read().decode("utf-8", "surrogateescape")
    found = []
    for number, match in enumerate(_TEST.finditer(perl), 1):
        if "/block/" not in match.group("devpath"):
            continue
        rules = match.group("rules").replace("sda", "loop6").replace("sdb", "loop7")
        # perl's heredoc: "\\" is one backslash, "\$" a dollar sign
        rules = rules.replace("\\\\", "\\").replace("\\$", "$").replace('\\"', '"')
        found.append((f"{number}: {match.group('desc')}", rules + "\n"))
    return found


TESTS = block_tests()


@pytest.mark.skipif(not TESTS, reason=f"udev 219's test/udev-test.pl not found in {TARBALL}")
@pytest.mark.parametrize("desc,rules", TESTS, ids=[d for d, _ in TESTS])
def test_the_evaluator_agrees_with_udev_219_on_its_own_tests(udev219: Udevadm219, desc: str, rules: str) -> None:
    files = {"50-udev-test.rules": rules}
    outcome = udev219.run(files)
    if udev219.hung:
        TALLY.leave_out("udev 219 loops for ever on a link name ending in '/'")
        pytest.skip("udev 219 never finishes this event (a link name ending in '/')")
    TALLY.sets += 1
    for device, ev in evaluations(files, outcome, UDEV_219).items():
        real = outcome.devices[device]
        where = f"{desc} on {device}:\n{rules}"
        for link in real.links | set(ev.links.members):
            answer = ev.link(link)
            TALLY.note(answer is not Tri.UNKNOWN)
            if answer is not Tri.UNKNOWN:
                assert (answer is Tri.YES) == (link in real.links), f"link {link}: {answer} vs {sorted(real.links)} {where}"
        for name in set(real.properties) | set(ev.set_properties()):
            value = ev.prop(name)
            TALLY.note(not isinstance(value, Unknown))
            if not isinstance(value, Unknown):
                assert real.properties.get(name) == value, f"{name}: {value!r} vs {real.properties.get(name)!r} {where}"
        for tag in real.current_tags | set(ev.state.tags.members):
            answer = ev.state.tags.has(tag)
            TALLY.note(answer is not Tri.UNKNOWN)
            if answer is not Tri.UNKNOWN:
                assert (answer is Tri.YES) == (tag in real.current_tags), f"tag {tag}: {answer} {where}"
        for command in real.ran | set(ev.state.run.members):
            answer = ev.runs(command)
            TALLY.note(answer is not Tri.UNKNOWN)
            if answer is not Tri.UNKNOWN:
                assert (answer is Tri.YES) == (command in real.ran), f"RUN {command}: {answer} vs {real.ran} {where}"
        priority = ev.link_priority
        TALLY.note(isinstance(priority, int))
        if isinstance(priority, int):
            assert priority == real.priority, f"link_priority {priority} vs {real.priority} {where}"


def test_the_unknown_share_of_udev_219s_own_tests_stays_small() -> None:
    total = TALLY.counts["decided"] + TALLY.counts["unknown"]
    if total == 0:
        pytest.skip("udev 219's own tests did not run")
    print(TALLY.summary().replace("differential vs udevadm test 219", "udev-test.pl 219 block tests"))
    assert TALLY.counts["unknown"] / total <= 0.07, TALLY.summary()
