"""`udev-drift explain`: the rule set's trace for one device, under --root and live. Live,
in a private mount namespace where udev reads only the rules under test, the links explain
predicts for loop6 are the links the real `udevadm test` (udev 252) makes."""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import HostTree
from tests.namespace import run_private

RULES = (
    'KERNEL=="loop6", SYMLINK+="t/first"\n'
    'KERNEL=="loop*", GOTO="t_end"\n'
    'KERNEL=="loop6", SYMLINK+="t/skipped"\n'
    'LABEL="t_end"\n'
    'KERNEL=="loop6", ENV{T_SEEN}="yes", SYMLINK+="t/$env{T_SEEN}-%k"\n'
)


def test_explain_under_root_traces_the_device_and_says_why_a_link_is_not_made(
        tree: HostTree, udev_drift: Any) -> None:
    tree.write("/dev/loop6", "", dedent=False)
    tree.write("/etc/udev/rules.d/50-test.rules", RULES, dedent=False)
    result = udev_drift("explain", "/dev/t/skipped", "--root", tree.root, "--format", "json")
    # the link does not exist and no policy wants it: nothing says which device it is for
    assert result.status == 2
    result = udev_drift("explain", "loop6", "--root", tree.root, "--format", "json")
    assert result.status == 0, result.out
    data = result.json()
    assert data["device"] == "loop6" and data["udev"] == "252" and data["rules_files"] == 1
    assert data["links"]["yes"] == ["t/first", "t/yes-loop6"]
    assert data["properties"] == {"T_SEEN": "yes"}
    statuses = {(s["line"], s["status"]) for s in data["steps"]}
    assert (3, "not-reached") in statuses and (1, "matched") in statuses

    tree.link("/dev/t/skipped", "../loop6")  # a link made by hand: explain follows it
    text = udev_drift("explain", "/dev/t/skipped", "--root", tree.root)
    assert text.status == 0
    assert ("/dev/t/skipped: udev does not make it: the rule at /etc/udev/rules.d/50-test.rules:3 "
            "is skipped by the GOTO at /etc/udev/rules.d/50-test.rules:2") in text.out


def test_explain_of_an_unknown_device_is_a_usage_error(tree: HostTree, udev_drift: Any) -> None:
    result = udev_drift("explain", "sdz", "--root", tree.root)
    assert result.status == 2
    assert "sdz: no such device" in result.err
    assert "Traceback" not in result.err


def test_explain_of_a_name_too_long_for_the_file_system_is_a_usage_error(
        tree: HostTree, udev_drift: Any) -> None:
    for name, expected in (("/dev/" + "x" * 10_000, "more than the 4095 a path may have"),
                           ("/dev/t/" + "x" * 300, "a component of 300 bytes")):
        result = udev_drift("explain", name, "--root", tree.root)
        assert result.status == 2 and result.out == "", result.err
        assert result.err.count("\n") == 1 and expected in result.err, result.err


def test_explain_text_shows_what_a_rules_file_holds_and_never_lets_the_terminal_obey_it(
        tree: HostTree, udev_drift: Any) -> None:
    # A property value and a program from a hostile rules file, holding an escape sequence
    # that would retitle the terminal, a one-byte CSI (U+009B) and a line separator.
    value = "a\x1b]0;owned\x07b\x9b2Jc\u2028d"
    tree.write("/dev/loop6", "", dedent=False)
    tree.write("/etc/udev/rules.d/50-test.rules",
               f'KERNEL=="loop6", ENV{{EVIL}}="{value}", RUN+="/bin/x\x1b[2J"\n', dedent=False)
    result = udev_drift("explain", "loop6", "--root", tree.root)
    assert result.status == 0, result.err
    for raw in ("\x1b", "\x07", "\x9b", "\u2028"):
        assert raw not in result.out
    assert "properties: EVIL=a\\x1b]0;owned\\x07b\\x9b2Jc\\u2028d\n" in result.out
    assert "programs:   /bin/x\\x1b[2J\n" in result.out
    assert 'matched: ENV{EVIL}="a\\x1b]0;owned' in result.out  # the trace's "did:" too
    data = udev_drift("explain", "loop6", "--root", tree.root, "--format", "json").json()
    assert data["properties"]["EVIL"] == value  # JSON keeps the exact text


def test_explain_live_predicts_the_links_the_real_udev_makes() -> None:
    with tempfile.TemporaryDirectory(prefix="udev-drift-explain-") as rules:
        Path(rules, "50-test.rules").write_text(RULES)
        script = f"""
        RULES={shlex.quote(rules)}
        EMPTY=$(mktemp -d)
        mount -t tmpfs t /run
        mkdir -p /run/udev/rules.d
        mount --bind "$EMPTY" /etc/udev/rules.d
        mount --bind "$RULES" /usr/lib/udev/rules.d
        for dir in /usr/local/lib/udev/rules.d /lib/udev/rules.d; do
            if [ -d "$dir" ] && ! [ "$dir" -ef /usr/lib/udev/rules.d ]; then mount --bind "$EMPTY" "$dir"; fi
        done
        $UDEV_DRIFT explain /sys/block/loop6 --format json > /run/explain.json
        mount -t tmpfs t /dev  # udevadm test 252 makes links: never in the host's /dev
        LC_ALL=C udevadm test --action=add /sys/block/loop6 > /run/test.out 2>&1 || true
        echo "=== explain"; cat /run/explain.json; echo "=== udevadm"; cat /run/test.out
        """
        result = run_private(script)
    assert result.returncode == 0, result.stderr
    explained, real = result.stdout.split("=== explain\n", 1)[1].split("=== udevadm\n", 1)
    data: dict[str, Any] = json.loads(explained)
    devlinks = re.search(r"^DEVLINKS=(.*)$", real, re.M)
    assert devlinks is not None, real
    made = sorted(link.removeprefix("/dev/") for link in devlinks.group(1).split())
    assert data["links"]["yes"] == made == ["t/first", "t/yes-loop6"]
    assert re.search(r"^T_SEEN=yes$", real, re.M) and data["properties"]["T_SEEN"] == "yes"
