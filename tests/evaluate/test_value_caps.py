"""Values stop where udev's buffers stop them: the evaluator against `udevadm test` 252.

udev builds every assigned value in a buffer of fixed size (ENV, OWNER, GROUP, MODE:
512 bytes; SYMLINK, TAG, NAME: 1024; RUN, PROGRAM: 16384, the NUL included) and refuses
an assignment whose value does not fit, leaving what was there. So a property doubled on
every line stops at 256 bytes here, and the evaluator must say the same as the real
udev, which runs the same rules on /dev/null in a private mount namespace.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.values import Tri, Unknown
from checker.observe.udev import device_facts
from tests.namespace import require_namespaces, udevadm_test

DEVICE = "/sys/devices/virtual/mem/null"
RUN_OK = "/bin/true " + "%E{X}" * 63  # 10 + 63 * 256 = 16138 bytes: fits 16384
RUN_LONG = "/bin/echo " + "%E{X}" * 64  # 10 + 64 * 256 = 16394 bytes: refused
RULES = "".join([
    'ENV{X}="abcdefgh"\n',
    'ENV{X}="%E{X}%E{X}"\n' * 8,  # 16, 32, 64, 128, 256, then 512 is refused each time
    f'ENV{{A}}="{"a" * 511}"\n',  # the longest value that fits
    f'ENV{{B}}="{"b" * 512}"\n',  # one byte too many: never set
    f'ENV{{C}}="{"c" * 300}"\n', f'ENV{{C}}+="{"d" * 210}"\n',  # 300 + 1 + 210 = 511: fits
    f'ENV{{D}}="{"c" * 300}"\n', f'ENV{{D}}+="{"d" * 211}"\n',  # 512: keeps its 300 bytes
    'ENV{E}="%E{A}"\n', 'ENV{F}="%E{A}z"\n', 'ENV{G}="é%E{X}%E{X}"\n',  # 2 + 512 bytes: refused
    'SYMLINK+="l/%E{X}%E{X}%E{X}"\n',  # 770 bytes: made
    'SYMLINK+="m/%E{X}%E{X}%E{X}%E{X}"\n',  # 1026 bytes: refused
    'TAG+="%E{X}%E{X}%E{X}"\n', 'TAG+="x%E{X}%E{X}%E{X}%E{X}"\n',
    f'RUN+="{RUN_OK}"\n', f'RUN+="{RUN_LONG}"\n',
    f'PROGRAM=="{RUN_LONG}", ENV{{P}}="ran"\n',  # a command too long fails the key,
    f'PROGRAM!="{RUN_LONG}", ENV{{Q}}="ran"\n',  # whatever its operator
])  # fmt: skip
X = "abcdefgh" * 32


@pytest.fixture(scope="module")
def real() -> dict[str, str]:
    require_namespaces()
    if not Path(DEVICE).exists():
        pytest.skip(f"needs {DEVICE} for udevadm test")
    with tempfile.TemporaryDirectory(prefix="udev-drift-") as rules:
        Path(rules, "50-caps.rules").write_text(RULES)
        done = udevadm_test(rules, DEVICE)
    output = done.stdout + done.stderr
    assert "refusing to add property 'B'" in output, output[-3000:]
    found = dict(line.split("=", 1) for line in output.splitlines() if re.match(r"[A-Z_]+=", line))
    # udevadm test prints each program through one more udev_event_apply_format() into
    # program[UDEV_PATH_SIZE] (udevadm-test.c): its first 1023 bytes
    found["run"] = "\n".join(re.findall(r"^run: '([^']*)'", output, re.MULTILINE))
    found["refused"] = "\n".join(re.findall(r"caps\.rules:\d+ The command '(/bin/\w+) ", output))
    return found


def test_a_property_doubled_on_every_line_stops_where_udev_stops_it(real: dict[str, str]) -> None:
    ev = evaluate(RuleSet.from_texts([("50-caps.rules", RULES)]), device_facts(DEVICE))
    assert real["X"] == X
    for name in ("X", "A", "C", "D", "E"):
        assert ev.prop(name) == real[name], name
    for name in ("B", "F", "G", "P", "Q"):
        assert name not in real and ev.prop(name) is None, name
    assert len(real["A"]) == 511 and len(real["D"]) == 300


def test_links_tags_and_programs_too_long_for_udev_are_not_made(real: dict[str, str]) -> None:
    ev = evaluate(RuleSet.from_texts([("50-caps.rules", RULES)]), device_facts(DEVICE))
    assert real["DEVLINKS"].split() == ["/dev/l/" + X * 3]
    assert ev.link("l/" + X * 3) is Tri.YES and ev.link("m/" + X * 4) is Tri.NO
    assert real["TAGS"] == ":" + X * 3 + ":"
    assert ev.state.tags.has(X * 3) is Tri.YES and ev.state.tags.has("x" + X * 4) is Tri.NO
    assert real["run"] == ("/bin/true " + X * 63)[:1023] and set(real["refused"].split()) == {"/bin/echo"}
    assert dict(ev.state.run.members) == {"/bin/true " + X * 63: Tri.YES}


def test_a_link_name_too_long_for_udev_never_ends_its_event() -> None:
    """TK_A_DEVLINK `continue`s without taking the next word when "/dev/" and the word do
    not fit filename[UDEV_PATH_SIZE]: udevd 252 loops. The evaluator cannot know what the
    device has then, and says so."""
    rules = f'SYMLINK+="before"\nSYMLINK+="{"x" * 1019}"\nSYMLINK+="after"\n'
    require_namespaces()
    if not Path(DEVICE).exists():
        pytest.skip(f"needs {DEVICE} for udevadm test")
    with tempfile.TemporaryDirectory(prefix="udev-drift-") as tmp:
        Path(tmp, "50-caps.rules").write_text(rules)
        done = udevadm_test(tmp, DEVICE, timeout=3)
    assert done.returncode != 0 and "DEVNAME=" not in done.stdout, done.stdout[-2000:]
    ev = evaluate(RuleSet.from_texts([("50-caps.rules", rules)]), device_facts(DEVICE))
    assert ev.link("before") is Tri.UNKNOWN and ev.link("after") is Tri.UNKNOWN


def test_a_value_with_a_part_of_unknown_length_may_be_refused() -> None:
    """A PROGRAM's output may be as long as udev's line: the property may keep its value."""
    rules = ('ENV{X}="old"\nPROGRAM=="/bin/p", ENV{Y}="1"\nENV{X}="new-%c"\n'
             'SYMLINK+="l/%c sure"\nKERNEL=="null", ENV{Z}="%k-%c"\n')
    ev = evaluate(RuleSet.from_texts([("50-caps.rules", rules)]), device_facts(DEVICE))
    x = ev.prop("X")
    assert isinstance(x, Unknown) and x.could_be("old") and x.could_be("new-out")
    assert ev.link("sure") is Tri.UNKNOWN


def test_appending_to_a_value_of_unknown_length_may_be_refused() -> None:
    """The old value may be unset (no space then) or long: 511 new bytes may fit, 512 not."""
    rules = (f'IMPORT{{program}}="/bin/p"\nENV{{A}}+="{"a" * 511}"\nENV{{B}}="b"\n'
             f'IMPORT{{program}}="/bin/p"\nENV{{B}}+="{"b" * 512}"\n')
    ev = evaluate(RuleSet.from_texts([("50-caps.rules", rules)]), device_facts(DEVICE))
    a = ev.prop("A")
    assert isinstance(a, Unknown) and a.could_be("a" * 511)
    appended = [step.effects for step in ev.steps if step.where.line in (2, 5)]
    assert "(refused if longer than udev's buffer of 512 bytes)" in appended[0][0]
    assert "refused: longer than udev's buffer of 512 bytes" in appended[1][0]
