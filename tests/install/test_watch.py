"""Reacting to a change of the rules without systemd: the inotify watch, and `serve` with it.

Also the property that keeps udev-drift.path (and this watch) from looping on its own
repairs: a repair that finds nothing to do writes nothing into a rules directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.serve.watch_rules import DEBOUNCE, RulesWatch
from tests.conftest import REPO, HostTree
from tests.install.conftest import exact_snapshot
from tests.servers import Servers, copy_example, free_port, http_get, wait_for

RULES = "/etc/udev/rules.d/50-udev.rules"
BLOCK = "# BEGIN udev-drift xenserver-local-sata"


class Calls:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.event.set()

    def wait(self, timeout: float = 2.0) -> bool:
        got = self.event.wait(timeout)
        self.event.clear()
        return got


@pytest.fixture
def rules_dirs(tmp_path: Path) -> tuple[Path, Path]:
    etc = tmp_path / "etc/udev/rules.d"
    etc.mkdir(parents=True)
    return etc, tmp_path / "run/udev/rules.d"


@pytest.fixture
def watch(rules_dirs: tuple[Path, Path]) -> Iterator[tuple[RulesWatch, Calls]]:
    calls = Calls()
    watching = RulesWatch([str(d) for d in rules_dirs], calls).start()
    try:
        yield watching, calls
    finally:
        watching.stop()


class TestRulesWatch:
    def test_a_written_rules_file_calls_back_once_after_the_debounce(self, watch, rules_dirs) -> None:
        watching, calls = watch
        written = time.monotonic()
        (rules_dirs[0] / "50-udev.rules").write_text('KERNEL=="sdb"\n')
        assert calls.wait()
        assert DEBOUNCE <= calls.times[0] - written < DEBOUNCE + 0.3
        time.sleep(DEBOUNCE * 2)
        assert len(calls.times) == 1

    @pytest.mark.parametrize("change", ["replace", "remove", "rename-away", "create-empty"])
    def test_every_kind_of_change_counts(self, watch, rules_dirs, change: str) -> None:
        watching, calls = watch
        etc = rules_dirs[0]
        (etc / "50-udev.rules").write_text("x\n")
        assert calls.wait()
        if change == "replace":  # as rpm and most editors do: a new file renamed over the old
            (etc.parent / "new").write_text("y\n")
            os.replace(etc.parent / "new", etc / "50-udev.rules")
        elif change == "remove":
            (etc / "50-udev.rules").unlink()
        elif change == "rename-away":
            os.rename(etc / "50-udev.rules", etc.parent / "50-udev.rules.rpmsave")
        else:
            (etc / "60-new.rules").touch()
        assert calls.wait(), change

    def test_a_burst_of_writes_is_one_call_and_not_later_than_the_cap(self, watch, rules_dirs) -> None:
        watching, calls = watch
        first = time.monotonic()
        for n in range(30):  # an update writing thirty files, 20 ms apart
            (rules_dirs[0] / f"{n:02d}-pkg.rules").write_text("x\n")
            time.sleep(0.02)
        burst = time.monotonic() - first  # 0.6 s, or longer on a loaded machine
        time.sleep(0.8)
        # While writes go on, a call every max_delay at most; one more when they stop.
        assert 1 <= len(calls.times) <= int(burst / watching.max_delay) + 1, (burst, calls.times)
        assert calls.times[0] - first <= watching.max_delay + 0.2

    def test_the_atomic_writers_temporary_files_are_not_a_change(self, watch, rules_dirs) -> None:
        watching, calls = watch
        (rules_dirs[0] / ".50-udev.rules.123.abcd.udev-drift.tmp").write_text("x\n")
        assert not calls.wait(DEBOUNCE + 0.4)

    def test_a_directory_that_appears_later_is_watched_from_then_on(self, watch, rules_dirs) -> None:
        watching, calls = watch
        run = rules_dirs[1]
        assert str(run) not in watching.watched()
        run.mkdir(parents=True)
        assert calls.wait()  # its arrival is a change: it may hold rules already
        assert str(run) in watching.watched()
        (run / "70-runtime.rules").write_text("x\n")
        assert calls.wait()

    def test_a_removed_directory_is_waited_for_again(self, watch, rules_dirs) -> None:
        watching, calls = watch
        run = rules_dirs[1]
        run.mkdir(parents=True)
        assert calls.wait()
        shutil.rmtree(run.parent)
        assert calls.wait()
        assert str(run) not in watching.watched()
        run.mkdir(parents=True)
        assert calls.wait()
        (run / "x.rules").write_text("x\n")
        assert calls.wait()

    def test_a_directory_made_just_before_its_parents_watch_is_seen(self, rules_dirs) -> None:
        # The race that made a chain made quickly (mkdir -p) go unseen: the next directory
        # appears after its parent's watch is asked for but before events reach that watch.
        # Made deterministic by creating it just before the watch on its parent is added.
        run = rules_dirs[1]
        calls = Calls()
        raced = threading.Event()

        class Racing(RulesWatch):
            def _add(self, path: str, mask: int) -> int | None:
                if path == str(run.parent.parent) and not raced.is_set():
                    run.parent.mkdir()  # no watch sees this one arrive
                    raced.set()
                return super()._add(path, mask)

        watching = Racing([str(d) for d in rules_dirs], calls).start()
        try:
            run.parent.parent.mkdir()
            assert raced.wait(2.0)
            run.mkdir()  # one level below the directory that raced the watch
            assert calls.wait()
            assert str(run) in watching.watched()
            (run / "x.rules").write_text("x\n")
            assert calls.wait()
        finally:
            watching.stop()

    def test_a_failing_callback_does_not_end_the_watch(self, rules_dirs) -> None:
        calls = Calls()

        def failing() -> None:
            calls()
            raise RuntimeError("boom")

        watching = RulesWatch([str(rules_dirs[0])], failing).start()
        try:
            (rules_dirs[0] / "a.rules").write_text("x\n")
            assert calls.wait()
            (rules_dirs[0] / "b.rules").write_text("x\n")
            assert calls.wait()
        finally:
            watching.stop()

    def test_stop_ends_the_thread_at_once(self, rules_dirs) -> None:
        watching = RulesWatch([str(rules_dirs[0])], Calls()).start()
        began = time.monotonic()
        watching.stop()
        assert time.monotonic() - began < 0.5
        assert not watching._thread.is_alive()
        watching.stop()  # twice is harmless


class TestNoRepairLoop:
    def test_a_repair_with_nothing_to_do_writes_nothing_in_the_rules_directories(
            self, udev_drift, tmp_path: Path) -> None:
        """Why udev-drift.path cannot loop: the repair it starts writes there once at most;
        the run that write causes finds nothing to do and writes nothing, so no event."""
        host = copy_example(tmp_path / "host")
        assert udev_drift("check", "--root", host.root, "--repair").status == 0  # the one real repair
        rules_dirs = [host.path(d) for d in ("/etc/udev/rules.d", "/run/udev/rules.d")]
        calls = Calls()
        watching = RulesWatch([str(d) for d in rules_dirs], calls).start()
        try:
            before = exact_snapshot(host.path("/etc/udev"))
            for _ in range(3):
                result = udev_drift("check", "--root", host.root, "--repair")
                assert result.status == 0 and "compliant" in result.out
            assert not calls.wait(DEBOUNCE + 0.5), "a repair with nothing to do wrote into a rules directory"
            assert exact_snapshot(host.path("/etc/udev")) == before
        finally:
            watching.stop()


def has_block(host: HostTree) -> bool:
    return BLOCK in host.read(RULES)


class TestServeRepairsAtOnce:
    def test_a_rewritten_rules_file_is_repaired_within_a_second(self, servers: Servers, tmp_path: Path) -> None:
        host = copy_example(tmp_path / "host")
        drifted = host.path(RULES).read_bytes()  # as the update left it: no block
        port = free_port()
        server = servers.start("serve", [sys.executable, "-m", "checker", "serve", "--repair", "--root",
                                         str(host.root), "--listen", f"127.0.0.1:{port}", "--interval", "3600"],
                               cwd=REPO)
        wait_for("serve's first repair", lambda: has_block(host), timeout=30, every=0.02)
        wait_for("serve to answer", lambda: http_get(f"http://127.0.0.1:{port}/metrics", 1)[0] == 200, timeout=20)
        # The first repair's own write is seen too and checked once more (a no-op, 1 s
        # after the first check began; serve checks at most once a second): let that
        # pass, so that what is measured is the watch and one check, not that gap.
        quiet = 2.2
        time.sleep(quiet)
        took = {}
        for how in ("replaced by an update", "overwritten in place", "replaced again"):
            if how == "overwritten in place":
                with open(host.path(RULES), "wb") as rules:
                    rules.write(drifted)
            else:
                staged = host.path("/etc/udev/50-udev.rules.new")
                staged.write_bytes(drifted)
                os.replace(staged, host.path(RULES))
            written = time.monotonic()
            assert not has_block(host)
            wait_for(f"the repair after the file was {how}", lambda: has_block(host), timeout=10, every=0.005)
            took[how] = time.monotonic() - written
            time.sleep(quiet)
        print("seconds from the write to the block back:", {how: round(t, 3) for how, t in took.items()})
        assert max(took.values()) < 1.0, took
        assert servers.stop(server, signal.SIGTERM) == 0
        assert "udev-drift: stopped" in server.output()
