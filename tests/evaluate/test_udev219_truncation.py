"""udev 219 cuts a value too long for its buffer where udev 252 refuses it: the evaluator
with 219's semantics against `udevadm test` 219 (tests/evaluate/udevadm219.py).

The same kind of rules as test_value_caps.py (which asks udev 252): a property doubled on
every line, values just under and over ENV's 512 bytes, links and a RUN command over 1024.
udev 219 (udev-event.c udev_event_apply_format(), strxcpyx.c strpcpy()) copies a
substituted value that does not fit as its first room-1 bytes and stops there, so each
value here ends at 511 (ENV) or 1023 (SYMLINK, RUN) bytes, and a link name at 1018 (what
filename[UTIL_PATH_SIZE] holds after "/dev/"). A template's own text that fills the
buffer writes the NUL past it (undefined): no rule here does that, and the evaluator says
"not known" for it.
"""

from __future__ import annotations

from functools import cache

import pytest

from checker.evaluate.engine import RuleSet, evaluate
from checker.evaluate.result import Evaluation
from checker.evaluate.truncate219 import cut
from checker.evaluate.values import Tri, Unknown
from checker.observe.udev import device_facts
from checker.rules.semantics import UDEV_219, UDEV_252
from tests.evaluate.udevadm219 import run_sets_219, skip_unless_here
from tests.evaluate.udevd import DeviceResult

ON = 'KERNEL=="loop6", '
PART = "abcdefg/"  # a link name's parts must stay under NAME_MAX: a slash every 8 bytes
RUN_LONG = "/bin/echo " + "%E{X}" * 3  # 10 + 3 * 511 bytes
RULES = "".join(ON + line for line in [
    f'ENV{{X}}="{PART}"\n',
    'ENV{X}="%E{X}%E{X}"\n' * 7,  # 16 ... 256, then 511 (the second copy cut), then 511 again
    f'ENV{{A}}="{"a" * 511}"\n',  # the longest text that fits
    f'ENV{{C}}="{"c" * 300}"\n', f'ENV{{C}}+="{"d" * 210}"\n',  # 300 + 1 + 210 = 511: fits
    f'ENV{{D}}="{"c" * 300}"\n', f'ENV{{D}}+="{"d" * 211}"\n',  # 512: the last d is cut
    'ENV{E}="%E{A}"\n', 'ENV{F}="z%E{A}"\n', 'ENV{G}="é%E{X}%E{X}"\n',  # 2 + 509 bytes
    'SYMLINK+="l/%E{X}%E{X}"\n',  # 2 + 511 + 510 = 1023 bytes, a link name of 1018
    'SYMLINK+="m/%E{X}%E{X}%E{X}"\n',  # the same, the third copy dropped
    f'RUN+="{RUN_LONG}"\n',  # expanded after the last rule: cut at 1023 bytes
])  # fmt: skip
X = (PART * 64)[:511]
EXPECTED = {
    "X": X,
    "A": "a" * 511,
    "C": "c" * 300 + " " + "d" * 210,
    "D": "c" * 300 + " " + "d" * 210,
    "E": "a" * 511,
    "F": "z" + "a" * 510,
    "G": "é" + X[:509],
}
LINKS = {("l/" + X + X)[:1018], ("m/" + X + X)[:1018]}
RAN = ("/bin/echo " + X + X + X)[:1023]


@cache
def _evaluated(version: int) -> Evaluation:
    semantics = UDEV_219 if version == 219 else UDEV_252
    rules = RuleSet.from_texts([("/etc/udev/rules.d/50-caps.rules", RULES)], semantics)
    return evaluate(rules, device_facts("/sys/block/loop6", "add"))


@pytest.fixture(scope="module")
def seen() -> DeviceResult:
    skip_unless_here()
    [outcome] = run_sets_219([{"50-caps.rules": RULES}])
    assert set(outcome.dev_links) >= LINKS, "the links are made in /dev, not only in the database"
    return outcome.devices["loop6"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_udev_219_cuts_each_property_and_the_evaluator_agrees(seen: DeviceResult, name: str) -> None:
    assert seen.properties.get(name) == EXPECTED[name]
    assert _evaluated(219).prop(name) == EXPECTED[name]


def test_udev_219_makes_the_links_cut_to_what_its_filename_buffer_holds(seen: DeviceResult) -> None:
    assert seen.links == LINKS
    for link in LINKS:
        assert _evaluated(219).link(link) is Tri.YES


def test_udev_219_runs_the_command_cut_at_1023_bytes(seen: DeviceResult) -> None:
    assert seen.ran == {RAN}
    assert _evaluated(219).runs(RAN) is Tri.YES


def test_udev_252_refuses_what_219_cuts() -> None:
    # (asked of udev 252 in test_value_caps.py: a value that does not fit is refused)
    evaluation = _evaluated(252)
    assert evaluation.prop("D") == "c" * 300  # the += refused
    assert evaluation.prop("X") == (PART * 32)  # stops at 256 bytes
    assert not any(evaluation.link(link) is Tri.YES for link in LINKS)


def test_text_that_fills_the_buffer_is_not_known() -> None:
    # the template's own text fills all 512 bytes: 219 writes the NUL past the buffer
    pieces, fits = cut(["b" * 512], [True], 512)
    assert fits is Tri.UNKNOWN and isinstance(pieces[-1], Unknown)
    # a substituted value of the same length is cut cleanly to 511
    assert cut(["b" * 512], [False], 512) == (["b" * 511], Tri.YES)

