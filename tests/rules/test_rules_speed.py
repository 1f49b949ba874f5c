"""The parser reads big and hostile files in one pass: no quadratic step, no regex blow-up.

Bounds are loose so that a busy CI machine passes; a quadratic step or catastrophic regex
backtracking misses them by orders of magnitude.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from checker.rules.parsed import parse_rules


def twenty_thousand_rules() -> str:
    out: list[str] = []
    n = 0
    i = 0
    while n < 20000:
        if i % 10 == 0:
            out.append(f"# comment {i}")
        kind = i % 5
        if kind == 0:
            out.append(f'SUBSYSTEM=="block", KERNEL=="sd{i}*", ENV{{ID_SERIAL}}=="s-{i}", '
                       f'SYMLINK+="disk/by-x/{i}", OPTIONS+="link_priority=10"')  # fmt: skip
            n += 1
        elif kind == 1:
            out.append(f'ACTION=="add|change", KERNEL=="nvme{i}n*", ATTRS{{serial}}=="S{i} ", \\')
            out.append('  IMPORT{program}="/lib/udev/foo %k", RUN+="/bin/sh -c \'echo $kernel\'"')
            n += 1
        elif kind == 2:
            out.append(f'ENV{{DEVTYPE}}=="disk", TEST=="/sys/x{i}", GOTO="end_{i}"')
            out.append(f'ENV{{X}}="{i}", MODE="0660", GROUP="disk"')
            out.append(f'LABEL="end_{i}"')
            n += 3
        elif kind == 3:
            out.append(f'KERNEL=="tty{i}", ATTR{{power/control}}="auto", TAG+="systemd", '
                       f'ENV{{SYSTEMD_WANTS}}+="foo@{i}.service"')  # fmt: skip
            n += 1
        else:
            out.append(f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="{i:04x}", '
                       f'ATTRS{{idProduct}}=="0001", MODE:="0666", SYMLINK+="usb{i}"')  # fmt: skip
            n += 1
        i += 1
    return "\n".join(out) + "\n"


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def test_twenty_thousand_rules_parse_in_well_under_a_second() -> None:
    text = twenty_thousand_rules()
    result = parse_rules(text)
    assert len(result.rules) == 20000
    assert all(rule.problem is None for rule in result.rules)
    assert min(seconds(lambda: parse_rules(text)) for _ in range(3)) < 1.0


HOSTILE = {
    "an unterminated quote as long as udev allows": 'KERNEL=="' + "a" * 16370,
    "an unterminated e-quote full of escapes": 'KERNEL==e"' + "\\x41" * 4000,
    "backslashes that keep escaping quotes": 'KERNEL=="' + '\\"' * 8000,
    "a key that never gets an operator": "K" * 16383,
    "braces that never close": "ATTR{" * 3000,
    "thousands of tokens on one line": ", ".join(f'ENV{{A{i}}}="{i}"' for i in range(1200)),
    "a continuation over thousands of lines": "\\\n".join(["a"] * 8000),
    "a hundred thousand comment lines": "# c\n" * 100000,
    "a hundred thousand broken lines": "KERNEL=='x'\n" * 100000,
    "a line far over the limit": 'KERNEL=="' + "a" * 200000 + '"\nKERNEL=="b", RUN+="c"\n' * 1000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_read_in_linear_time(name: str) -> None:
    text = HOSTILE[name]
    assert seconds(lambda: parse_rules(text)) < 2.0
