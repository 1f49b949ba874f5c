"""The metrics of spec/metrics.md, as `check --textfile-dir` writes them.

Names, types and labels as the contract says; every series present (0 when all is well);
counters and timestamps kept across runs in the state directory; a failed run says so
and keeps the last success.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checker.exporters import persist
from checker.exporters.exposition import render
from checker.exporters.families import families_of
from checker.exporters.outcome import outcome_of
from checker.findings import Finding, PolicyReport, Report
from tests.conftest import HostTree, Result

Run = Callable[..., Result]
RULES = "/etc/udev/rules.d/50-udev.rules"
POLICY = "xenserver-local-sata"
BLOCK = f"{RULES} block"
LINK = "/dev/xapi/block/sdb"

# The contract (spec/metrics.md): name -> (type, label names)
CONTRACT = {
    "udev_drift_item_drifted": ("gauge", {"policy", "kind", "item"}),
    "udev_drift_policy_compliant": ("gauge", {"policy"}),
    "udev_drift_last_drift_timestamp_seconds": ("gauge", {"policy"}),
    "udev_drift_repairs_total": ("counter", {"policy", "kind"}),
    "udev_drift_last_run_repaired_items": ("gauge", set()),
    "udev_drift_repair_enabled": ("gauge", set()),
    "udev_drift_run_success": ("gauge", set()),
    "udev_drift_last_run_timestamp_seconds": ("gauge", set()),
    "udev_drift_last_success_timestamp_seconds": ("gauge", set()),
    "udev_drift_run_duration_seconds": ("gauge", set()),
    "udev_drift_build_info": ("gauge", {"version"}),
    "udev_drift_udev_semantics_info": ("gauge", {"version"}),
}
ON_FAILURE_ABSENT = {"udev_drift_item_drifted", "udev_drift_policy_compliant", "udev_drift_udev_semantics_info"}


class Metrics:
    """A parsed exposition: types, and each sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.types[sample.name] = family.type
                self.samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))

    def value(self, name: str, **labels: str) -> float:
        found = [value for have, value in self.samples.get(name, []) if have == labels]
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples in\n{self.text}"
        return found[0]

    def series(self, name: str) -> list[dict[str, str]]:
        return [labels for labels, _ in self.samples.get(name, [])]


def read_metrics(directory: Path) -> Metrics:
    return Metrics((directory / "udev_drift.prom").read_text())


def check(udev_drift: Run, tree: HostTree, textfile_dir: Path, *args: str) -> tuple[Result, Metrics]:
    result = udev_drift("check", "--root", tree.root, "--textfile-dir", textfile_dir, *args)
    return result, read_metrics(textfile_dir)


class TestContract:
    def test_every_metric_of_the_contract_with_its_type_and_labels_and_nothing_else(
            self, example: HostTree, textfile_dir: Path, udev_drift: Run) -> None:
        result, metrics = check(udev_drift, example, textfile_dir)
        assert result.status == 1, result.err
        assert set(metrics.samples) == set(CONTRACT)
        for name, (kind, labels) in CONTRACT.items():
            assert metrics.types[name] == kind, name
            for series in metrics.series(name):
                assert set(series) == labels, (name, series)
        # no instance/job labels of our own: those are the scraper's
        assert "instance=" not in metrics.text and "job=" not in metrics.text

    def test_a_drifted_host_shows_each_item_and_the_policy(self, example: HostTree, textfile_dir: Path,
                                                           udev_drift: Run) -> None:
        _, metrics = check(udev_drift, example, textfile_dir)
        assert metrics.value("udev_drift_item_drifted", policy=POLICY, kind="rule", item=BLOCK) == 1
        assert metrics.value("udev_drift_item_drifted", policy=POLICY, kind="symlink", item=LINK) == 1
        # sdc is not plugged in and not required: present, and not drift
        assert metrics.value("udev_drift_item_drifted", policy=POLICY, kind="symlink",
                             item="/dev/xapi/block/sdc") == 0
        assert metrics.value("udev_drift_policy_compliant", policy=POLICY) == 0
        assert metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY) > 0
        assert metrics.value("udev_drift_run_success") == 1
        assert metrics.value("udev_drift_repair_enabled") == 0
        assert metrics.value("udev_drift_build_info", version="1.0.0") == 1

    def test_a_compliant_host_writes_every_series_at_zero(self, example: HostTree, textfile_dir: Path,
                                                          udev_drift: Run, tmp_path: Path) -> None:
        # Repair with another state directory, so that this one has never seen drift.
        assert udev_drift("check", "--root", example.root, "--repair", "--state-dir", tmp_path / "other").status == 0
        result, metrics = check(udev_drift, example, textfile_dir)
        assert result.status == 0
        assert [value for _, value in metrics.samples["udev_drift_item_drifted"]] == [0, 0, 0]
        assert metrics.value("udev_drift_policy_compliant", policy=POLICY) == 1
        assert metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY) == 0
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 0
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="symlink") == 0
        assert metrics.value("udev_drift_last_run_repaired_items") == 0

    def test_every_policy_loaded_has_its_series_even_with_no_items_of_a_kind(
            self, tree: HostTree, textfile_dir: Path, udev_drift: Run) -> None:
        tree.policy("version: 1\nname: only-rules\nrules:\n  - file: /etc/udev/rules.d/61-a.rules\n"
                    "    ensure: lines\n    content: |\n      KERNEL==\"sdb\", SYMLINK+=\"a\"\n", "a.yaml")
        tree.policy("version: 1\nname: only-links\nsymlinks:\n  - link: /dev/b\n    target: /dev/sdb\n"
                    "    required: false\n", "b.yaml")
        tree.write("/etc/udev/rules.d/61-a.rules", 'KERNEL=="sdb", SYMLINK+="a"\n')
        result, metrics = check(udev_drift, tree, textfile_dir)
        assert result.status == 0, result.out + result.err
        assert {s["policy"] for s in metrics.series("udev_drift_policy_compliant")} == {"only-rules", "only-links"}
        assert sorted((s["policy"], s["kind"]) for s in metrics.series("udev_drift_repairs_total")) == [
            ("only-links", "rule"), ("only-links", "symlink"), ("only-rules", "rule"), ("only-rules", "symlink")]

    def test_duration_and_run_time_are_those_of_this_run(self, example: HostTree, textfile_dir: Path,
                                                         udev_drift: Run) -> None:
        import time

        before = time.time()
        _, metrics = check(udev_drift, example, textfile_dir)
        assert before <= metrics.value("udev_drift_last_run_timestamp_seconds") <= time.time()
        assert 0 < metrics.value("udev_drift_run_duration_seconds") < 30


class TestRepairsAndPersistence:
    def test_repairs_are_counted_per_policy_and_kind_and_survive_across_runs(
            self, example: HostTree, textfile_dir: Path, udev_drift: Run) -> None:
        result, metrics = check(udev_drift, example, textfile_dir, "--repair")
        assert result.status == 0, result.err
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 1
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="symlink") == 1
        assert metrics.value("udev_drift_last_run_repaired_items") == 2
        assert metrics.value("udev_drift_repair_enabled") == 1
        # the drift was found (and repaired) in this run: last drift is now
        assert metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY) == \
            metrics.value("udev_drift_last_run_timestamp_seconds")
        first_drift = metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY)

        # A plain check later: counters kept, nothing repaired by this run, no new drift.
        _, metrics = check(udev_drift, example, textfile_dir)
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 1
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="symlink") == 1
        assert metrics.value("udev_drift_last_run_repaired_items") == 0
        assert metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY) == first_drift

        # The link is removed again and repaired again: only the symlink counter moves.
        os.unlink(example.path(LINK))
        _, metrics = check(udev_drift, example, textfile_dir, "--repair")
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 1
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="symlink") == 2
        assert metrics.value("udev_drift_last_run_repaired_items") == 1
        assert metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY) > first_drift

    def test_a_repair_without_textfile_is_counted_all_the_same(self, example: HostTree, textfile_dir: Path,
                                                               udev_drift: Run) -> None:
        assert udev_drift("check", "--root", example.root, "--repair").status == 0
        assert not (textfile_dir / "udev_drift.prom").exists()
        _, metrics = check(udev_drift, example, textfile_dir)
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="symlink") == 1

    def test_a_dry_run_repairs_nothing_and_counts_nothing(self, example: HostTree, textfile_dir: Path,
                                                          udev_drift: Run) -> None:
        result, metrics = check(udev_drift, example, textfile_dir, "--repair", "--dry-run")
        assert result.status == 1
        assert metrics.value("udev_drift_repair_enabled") == 0
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 0
        assert metrics.value("udev_drift_policy_compliant", policy=POLICY) == 0

    def test_a_plain_check_without_metrics_writes_no_state(self, example: HostTree, udev_drift: Run) -> None:
        assert udev_drift("check", "--root", example.root).status == 1
        assert not example.path("/var/lib/udev-drift/metrics.json").exists()

    def test_the_state_file_is_json_a_person_can_read(self, example: HostTree, textfile_dir: Path,
                                                      udev_drift: Run) -> None:
        check(udev_drift, example, textfile_dir, "--repair")
        state = json.loads(example.read("/var/lib/udev-drift/metrics.json"))
        assert state["loaded"] == [POLICY]
        assert state["policies"][POLICY]["repairs"] == {"rule": 1, "symlink": 1}

    def test_a_damaged_state_file_is_set_aside_and_counting_starts_again(
            self, example: HostTree, textfile_dir: Path, udev_drift: Run) -> None:
        example.write("/var/lib/udev-drift/metrics.json", "{not json")
        result, metrics = check(udev_drift, example, textfile_dir)
        assert result.status == 1
        assert [p.name.split(".corrupt-")[0] for p in example.path("/var/lib/udev-drift").glob("*.corrupt-*")] \
            == ["metrics.json"]
        assert metrics.value("udev_drift_run_success") == 1
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 0

    def test_nonsense_values_in_the_state_file_count_as_zero(self) -> None:
        loaded = persist.from_json({"last_success": "yesterday", "loaded": ["a", 3],
                                    "policies": {"a": {"last_drift": -5, "repairs": {"rule": True, "x": 2}},
                                                 "b": "nonsense"}})
        assert loaded.last_success == 0 and loaded.loaded == ["a"]
        assert loaded.policies["a"].last_drift == 0
        assert loaded.policies["a"].repairs == {"rule": 0, "symlink": 0, "x": 2}
        assert "b" not in loaded.policies


class TestFailedRuns:
    def test_an_invalid_policy_writes_run_success_0_and_keeps_the_last_success(
            self, example: HostTree, textfile_dir: Path, udev_drift: Run) -> None:
        _, good = check(udev_drift, example, textfile_dir, "--repair")
        last_success = good.value("udev_drift_last_success_timestamp_seconds")
        example.policy("version: 1\nname: broken\nrules: [\n", "broken.yaml")

        result, metrics = check(udev_drift, example, textfile_dir)
        assert result.status == 2 and result.err.startswith("udev-drift: ")
        assert metrics.value("udev_drift_run_success") == 0
        assert metrics.value("udev_drift_last_success_timestamp_seconds") == last_success
        assert metrics.value("udev_drift_last_run_timestamp_seconds") > last_success
        # Nothing is known of the host: no item or compliance series (neither 0 nor 1 is true),
        # but the counters of the policies of the last good run are still there.
        for name in ON_FAILURE_ABSENT:
            assert name not in metrics.samples
        assert metrics.value("udev_drift_repairs_total", policy=POLICY, kind="rule") == 1
        assert metrics.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY) == \
            good.value("udev_drift_last_drift_timestamp_seconds", policy=POLICY)
        assert set(metrics.samples) == set(CONTRACT) - ON_FAILURE_ABSENT

    def test_a_runtime_failure_exit_3_writes_run_success_0(self, example: HostTree, textfile_dir: Path,
                                                           udev_drift: Run) -> None:
        _, good = check(udev_drift, example, textfile_dir)
        lock = example.path("/var/lib/udev-drift/lock")
        with open(lock, "w") as held:  # another run holds the lock
            fcntl.flock(held, fcntl.LOCK_EX)
            result, metrics = check(udev_drift, example, textfile_dir, "--repair", "--lock-timeout", "0.1")
        assert result.status == 3 and "another udev-drift run" in result.err
        assert metrics.value("udev_drift_run_success") == 0
        assert metrics.value("udev_drift_repair_enabled") == 1
        assert metrics.value("udev_drift_last_success_timestamp_seconds") == \
            good.value("udev_drift_last_success_timestamp_seconds")

    def test_a_host_that_never_succeeded_says_last_success_0(self, tree: HostTree, textfile_dir: Path,
                                                             udev_drift: Run) -> None:
        tree.policy("version: 1\nname: broken\nrules: [\n")
        result, metrics = check(udev_drift, tree, textfile_dir)
        assert result.status == 2
        assert metrics.value("udev_drift_last_success_timestamp_seconds") == 0
        assert metrics.value("udev_drift_run_success") == 0

    def test_a_wrong_root_is_a_failed_run_too(self, textfile_dir: Path, udev_drift: Run, tmp_path: Path) -> None:
        result = udev_drift("check", "--root", tmp_path / "nowhere", "--textfile-dir", textfile_dir)
        assert result.status == 2
        assert read_metrics(textfile_dir).value("udev_drift_run_success") == 0

    def test_a_missing_textfile_dir_is_one_warning_and_the_repair_still_runs(self, example: HostTree,
                                                                              udev_drift: Run, tmp_path: Path) -> None:
        # A renamed metrics directory must not silently stop every repair on the host.
        result = udev_drift("check", "--root", example.root, "--repair", "--textfile-dir", tmp_path / "nope")
        assert result.status == 0
        assert result.err == (f"udev-drift: WARNING: --textfile-dir {tmp_path / 'nope'}: no such directory; "
                              "the metrics file is not written this run\n")
        assert example.path(LINK).is_symlink()

    def test_state_that_cannot_be_written_fails_the_run_but_the_metrics_say_so(
            self, example: HostTree, textfile_dir: Path, udev_drift: Run, tmp_path: Path) -> None:
        blocker = tmp_path / "state-is-a-file"
        blocker.write_text("")
        result, metrics = check(udev_drift, example, textfile_dir, "--state-dir", blocker)
        assert result.status == 3, result.err
        assert "Traceback" not in result.err and "cannot create the state directory" in result.err
        assert metrics.value("udev_drift_run_success") == 0


class TestLabels:
    def test_two_findings_with_the_same_labels_make_one_series_drifted_if_either_is(self) -> None:
        def finding(drift: bool) -> Finding:
            return Finding(policy="p", kind="rule", path="/f", item="/f block", entry="rules[0]",
                           status="changed" if drift else "ok", drift=drift, message="")

        report = Report([PolicyReport("p", "/p.yaml", [finding(False), finding(True)])])
        text = render(families_of(outcome_of(report, 0.0, False), persist.Persisted())).decode()
        metrics = Metrics(text)
        assert metrics.value("udev_drift_item_drifted", policy="p", kind="rule", item="/f block") == 1

    def test_label_values_with_quotes_and_backslashes_are_escaped(self) -> None:
        item = 'C:\\odd "name"\nline'
        report = Report([PolicyReport("p", "/p.yaml", [
            Finding(policy="p", kind="symlink", path=item, item=item, entry="symlinks[0]", status="ok",
                    drift=False, message="")])])
        text = render(families_of(outcome_of(report, 0.0, False), persist.Persisted())).decode()
        assert Metrics(text).value("udev_drift_item_drifted", policy="p", kind="symlink", item=item) == 0

    @pytest.mark.parametrize("kind", ["rule", "symlink", "udev-property"])
    def test_a_further_kind_gets_its_own_repairs_counter(self, kind: str) -> None:
        report = Report([PolicyReport("p", "/p.yaml", [
            Finding(policy="p", kind=kind, path="/x", item="/x", entry="e", status="ok", drift=False,
                    message="", was="missing")])])
        outcome = outcome_of(report, 0.0, True)
        persisted = persist.update(persist.Persisted(), outcome)
        metrics = Metrics(render(families_of(outcome, persisted)).decode())
        assert metrics.value("udev_drift_repairs_total", policy="p", kind=kind) == 1
        assert {s["kind"] for s in metrics.series("udev_drift_repairs_total")} == {"rule", "symlink", kind}
