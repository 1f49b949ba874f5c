"""The verdict cache: an unchanged host is answered from the state directory, and any
change to what the answers depend on (a rules file's bytes, even with its size and mtime
kept; a new file in any rules directory; a mask; a device gone or replaced; a policy; the
tool's version) is evaluated again. Never a stale answer: random sequences of such
changes give, at every step, the answers of a run without a cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import checker
from checker import records
from checker.check.verdicts import VERDICT_CACHE_NAME, VerdictCache
from checker.cli import main
from checker.engine import check, load_desired
from checker.host import Host
from checker.paths import UDEV_RULES_DIRS
from tests.conftest import HostTree

BLOCK_FILE = "/etc/udev/rules.d/50-udev.rules"
VENDOR = "/usr/lib/udev/rules.d/60-vendor.rules"
BLOCK = 'ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n'
POLICY = """\
version: 1
name: local-sata
rules:
  - file: /etc/udev/rules.d/50-udev.rules
    ensure: block
    content: |
      ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"
symlinks:
  - link: /dev/xapi/block/sdb
    target: /dev/sdb
"""
# Two vendor texts of the same length: the second takes the link away again.
HARMLESS = 'KERNEL=="sdb", SYMLINK+="other/%k"\n'
RESETS = 'KERNEL=="sdb", SYMLINK="other/%k"\n '
assert len(HARMLESS) == len(RESETS)


def marked(text: str) -> str:
    return f"# BEGIN udev-drift local-sata\n{text}# END udev-drift local-sata\n"


def seed(tree: HostTree, policy: str = POLICY) -> Path:
    for directory in UDEV_RULES_DIRS:
        tree.path(directory).mkdir(parents=True, exist_ok=True)
    tree.write("/dev/sdb", "", dedent=False)
    tree.link("/dev/xapi/block/sdb", "../../sdb")
    tree.write(BLOCK_FILE, marked(BLOCK), dedent=False)
    tree.write(VENDOR, HARMLESS, dedent=False)
    return tree.policy(policy)


def judged(tree: HostTree, policy: Path, state: Path | None) -> tuple[dict[str, Any], VerdictCache | None]:
    """The report's JSON, with the verdict cache in `state` (None: no cache at all)."""
    host = Host(str(tree.root))
    policies = load_desired([str(policy)], host=host)
    verdicts = VerdictCache(str(state), writable=True) if state is not None else None
    report = check(policies, host, verdicts=verdicts)
    return report.to_json(), verdicts


def answered_afresh(tree: HostTree, policy: Path, state: Path) -> bool:
    """Run with the cache and without: the same report; True when it was evaluated again."""
    cached, verdicts = judged(tree, policy, state)
    plain, _ = judged(tree, policy, None)
    assert cached == plain
    assert verdicts is not None
    return verdicts.misses == 1  # (no device asked about: neither, and nothing evaluated)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    return path


def test_an_unchanged_host_is_answered_from_the_cache(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    assert answered_afresh(tree, policy, state)
    assert (state / VERDICT_CACHE_NAME).exists()
    cached, verdicts = judged(tree, policy, state)
    assert verdicts is not None and verdicts.hits == 1
    assert cached == judged(tree, policy, None)[0]
    assert oct(stat.S_IMODE((state / VERDICT_CACHE_NAME).stat().st_mode)) == "0o600"


def test_a_rules_file_changed_with_its_size_and_mtime_kept_is_evaluated_again(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    vendor = tree.path(VENDOR)
    before = vendor.stat()
    vendor.write_text(RESETS)
    os.utime(vendor, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert vendor.stat().st_size == before.st_size
    assert answered_afresh(tree, policy, state)
    report, _ = judged(tree, policy, None)
    assert not report["compliant"]  # and the fresh answer is the drift


@pytest.mark.parametrize("directory", UDEV_RULES_DIRS)
def test_a_new_file_in_any_rules_directory_is_evaluated_again(tree: HostTree, state: Path, directory: str) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    tree.write(f"{directory}/70-new.rules", 'KERNEL=="sdb", SYMLINK="gone/%k"\n', dedent=False)
    assert answered_afresh(tree, policy, state)
    os.unlink(tree.path(f"{directory}/70-new.rules"))
    assert not answered_afresh(tree, policy, state)  # back as it was: the first answers again


def test_a_masked_file_is_evaluated_again(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    tree.write(VENDOR, 'KERNEL=="sdb", SYMLINK="other/%k"\n', dedent=False)
    answered_afresh(tree, policy, state)
    assert not judged(tree, policy, None)[0]["compliant"]
    tree.link("/etc/udev/rules.d/60-vendor.rules", "/dev/null")
    assert answered_afresh(tree, policy, state)
    assert judged(tree, policy, None)[0]["compliant"]


def test_a_device_gone_or_replaced_is_evaluated_again(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    node = tree.path("/dev/sdb")
    node.unlink()
    os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(8, 16))  # replaced: a node with a number
    assert answered_afresh(tree, policy, state)
    node.unlink()
    os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(8, 32))  # another disk at that name
    assert answered_afresh(tree, policy, state)
    node.unlink()  # gone: nothing left to ask the rule set, and the report says so
    answered_afresh(tree, policy, state)
    assert judged(tree, policy, None)[0]["policies"][0]["findings"][1]["status"] in ("absent", "dangling")


# sdc's rule claims sdb's link with a higher priority, but only where sdc's node says it
# is major 8 (a stand-in file has no number: the claim is then not known, and not judged)
CLAIM = 'KERNEL=="sdc", ENV{MAJOR}=="8", SYMLINK+="xapi/block/sdb", OPTIONS+="link_priority=100"\n'


def test_another_disk_whose_claim_was_weighed_is_compared_before_a_replay(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    tree.write(VENDOR, CLAIM, dedent=False)
    other = tree.path("/dev/sdc")
    other.write_text("")
    assert answered_afresh(tree, policy, state)
    assert judged(tree, policy, None)[0]["compliant"]  # a claim that may be made: not judged
    other.unlink()
    os.mknod(other, 0o600 | stat.S_IFBLK, os.makedev(8, 32))  # now surely sdc's: the link goes to it
    assert answered_afresh(tree, policy, state)  # not the stale "compliant"
    link = judged(tree, policy, None)[0]["policies"][0]["findings"][1]
    assert link["status"] == "claimed" and link["cause"]["why"] == "claimed", link


def test_another_disk_that_appears_is_evaluated_again(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    tree.write(VENDOR, CLAIM, dedent=False)
    assert answered_afresh(tree, policy, state)
    assert judged(tree, policy, None)[0]["compliant"]
    os.mknod(tree.path("/dev/sdc"), 0o600 | stat.S_IFBLK, os.makedev(8, 32))
    assert answered_afresh(tree, policy, state)
    assert not judged(tree, policy, None)[0]["compliant"]


def test_a_changed_policy_is_evaluated_again(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    policy.write_text(POLICY.replace("    target: /dev/sdb\n", "    target: /dev/sdb\n    required: true\n"))
    assert answered_afresh(tree, policy, state)


def test_a_policy_is_keyed_by_its_bytes_and_the_validator(tree: HostTree, state: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy read from a file is in the key as its path, the SHA-256 of its bytes and
    the validator's fingerprint (which make its desired state); one made otherwise, as
    the desired state itself."""
    from checker.policy import cache as policy_cache

    policy = seed(tree)
    [desired] = load_desired([str(policy)], host=Host(str(tree.root)))
    assert desired.source_sha256 == hashlib.sha256(policy.read_bytes()).hexdigest()
    answered_afresh(tree, policy, state)
    assert not answered_afresh(tree, policy, state)
    monkeypatch.setattr(policy_cache, "validator_fingerprint", lambda: "another validator")
    assert answered_afresh(tree, policy, state)
    # the same policy without its source: keyed by what it asks, so a miss once, then a hit
    host = Host(str(tree.root))
    bare = [records.replace(desired, source_sha256=None)]
    for _ in range(2):
        verdicts = VerdictCache(str(state), writable=True)
        check(bare, host, verdicts=verdicts)
    assert (verdicts.hits, verdicts.misses) == (1, 0)


def test_another_version_of_the_tool_evaluates_again(tree: HostTree, state: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    monkeypatch.setattr(checker, "__version__", "9.9.9")
    assert answered_afresh(tree, policy, state)


def test_answers_under_another_udevs_semantics_are_not_replayed(tree: HostTree, state: Path) -> None:
    from checker.observe.files import RulesFiles
    from checker.rules.semantics import for_version

    policy = seed(tree)
    host = Host(str(tree.root))
    policies = load_desired([str(policy)], host=host)

    def misses(version: int) -> int:
        verdicts = VerdictCache(str(state), writable=True)
        check(policies, host, files=RulesFiles(host, for_version(version)[0]), verdicts=verdicts)
        return verdicts.misses

    assert misses(252) == 1 and misses(252) == 0
    assert misses(219) == 1  # the same files, read and applied as udev 219 does: asked again
    assert misses(219) == 0


def test_a_corrupt_cache_is_set_aside_with_one_warning(tree: HostTree, state: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    policy = seed(tree)
    (state / VERDICT_CACHE_NAME).write_text('{"format": 1, "entries": [')
    os.chmod(state / VERDICT_CACHE_NAME, 0o600)
    assert answered_afresh(tree, policy, state)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "set aside" in warnings[0].getMessage()
    assert list(state.glob(VERDICT_CACHE_NAME + ".corrupt-*"))


def test_answers_of_the_wrong_shape_are_not_replayed(tree: HostTree, state: Path) -> None:
    policy = seed(tree)
    tree.write(VENDOR, 'KERNEL=="sdb", SYMLINK="other/%k"\n', dedent=False)
    answered_afresh(tree, policy, state)
    document = json.loads((state / VERDICT_CACHE_NAME).read_text())
    for entry in document["entries"].values():
        for answers, _ in entry["answers"]:
            answers["drift"] = "no"
    (state / VERDICT_CACHE_NAME).write_text(json.dumps(document))
    assert answered_afresh(tree, policy, state)


@pytest.mark.parametrize("indices", [[10_000], [-1], ["0"], [True], "0", [0.0]])
def test_answers_for_findings_that_are_not_there_are_not_replayed(tree: HostTree, state: Path,
                                                                   indices: object) -> None:
    """Each change is kept once with the indices of the findings it was made on: an index
    that names no finding of this run (or is not an index) makes the entry a miss."""
    policy = seed(tree)
    tree.write(VENDOR, 'KERNEL=="sdb", SYMLINK="other/%k"\n', dedent=False)
    answered_afresh(tree, policy, state)
    document = json.loads((state / VERDICT_CACHE_NAME).read_text())
    for entry in document["entries"].values():
        entry["answers"][0][1] = indices
    (state / VERDICT_CACHE_NAME).write_text(json.dumps(document))
    assert answered_afresh(tree, policy, state)


def test_a_cache_someone_else_could_write_is_not_trusted(tree: HostTree, state: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    os.chmod(state / VERDICT_CACHE_NAME, 0o666)
    assert answered_afresh(tree, policy, state)
    assert any("not trusted as a verdict cache" in r.getMessage() for r in caplog.records)
    os.chmod(state / VERDICT_CACHE_NAME, 0o600)
    os.chown(state / VERDICT_CACHE_NAME, 1234, 1234)
    assert answered_afresh(tree, policy, state)


def test_a_link_at_the_cache_name_is_never_followed(tree: HostTree, state: Path, tmp_path: Path) -> None:
    policy = seed(tree)
    answered_afresh(tree, policy, state)
    elsewhere = tmp_path / "elsewhere.json"
    (state / VERDICT_CACHE_NAME).rename(elsewhere)
    (state / VERDICT_CACHE_NAME).symlink_to(elsewhere)
    assert answered_afresh(tree, policy, state)
    assert not (state / VERDICT_CACHE_NAME).is_symlink()


# --- random sequences of changes, each answer compared with a run without a cache ----------

VENDOR_TEXTS = [HARMLESS, RESETS, 'KERNEL=="sd*", GOTO="x_end"\nLABEL="x_end"\n',
                'KERNEL=="sdb", SYMLINK:="fixed/%k"\n', 'KERNEL=="sdc", SYMLINK="other/%k"\n ', "", CLAIM]
CHANGES = st.one_of(
    st.tuples(st.just("vendor"), st.sampled_from(range(len(VENDOR_TEXTS))), st.booleans()),
    st.tuples(st.just("new"), st.sampled_from(UDEV_RULES_DIRS), st.sampled_from(range(len(VENDOR_TEXTS)))),
    st.tuples(st.just("remove-new"), st.sampled_from(UDEV_RULES_DIRS), st.just(0)),
    st.tuples(st.just("mask"), st.booleans(), st.just(0)),
    st.tuples(st.just("device"), st.sampled_from(["gone", "file", "8:16", "8:32"]), st.just(0)),
    st.tuples(st.just("other"), st.sampled_from(["gone", "file", "8:32", "9:32"]), st.just(0)),
    st.tuples(st.just("policy"), st.booleans(), st.just(0)),
    st.tuples(st.just("block"), st.booleans(), st.just(0)),
)


def _apply(tree: HostTree, policy: Path, change: tuple[Any, Any, Any]) -> None:
    what, a, b = change
    if what == "vendor":
        vendor = tree.path(VENDOR)
        before = vendor.stat()
        vendor.write_text(VENDOR_TEXTS[a])
        if b:  # the old mtime put back
            os.utime(vendor, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif what == "new":
        tree.write(f"{a}/70-new.rules", VENDOR_TEXTS[b], dedent=False)
    elif what == "remove-new":
        tree.path(f"{a}/70-new.rules").unlink(missing_ok=True)
    elif what == "mask":
        mask = tree.path("/etc/udev/rules.d/60-vendor.rules")
        mask.unlink(missing_ok=True)
        if a:
            os.symlink("/dev/null", mask)
    elif what in ("device", "other"):  # the policy's disk, or another that may claim its link
        node = tree.path("/dev/sdb" if what == "device" else "/dev/sdc")
        node.unlink(missing_ok=True)
        if a == "file":
            node.write_text("")
        elif a != "gone":
            major, minor = a.split(":")
            os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(int(major), int(minor)))
    elif what == "policy":
        policy.write_text(POLICY if a else POLICY.replace("    target: /dev/sdb\n",
                                                          "    target: /dev/sdb\n    required: true\n"))
    elif what == "block":
        tree.write(BLOCK_FILE, marked(BLOCK) if a else BLOCK, dedent=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(CHANGES, min_size=1, max_size=8))
def test_every_cached_answer_is_the_answer_of_a_run_without_a_cache(changes: list[tuple[Any, Any, Any]]) -> None:
    base = Path(tempfile.mkdtemp())
    try:
        tree = HostTree(base / "host")
        tree.root.mkdir()
        state = base / "state"
        state.mkdir(mode=0o700)
        policy = seed(tree)
        answered_afresh(tree, policy, state)
        for change in changes:
            _apply(tree, policy, change)
            answered_afresh(tree, policy, state)  # asserts the same report as without a cache
            assert not answered_afresh(tree, policy, state)  # unchanged: from the cache
    finally:
        shutil.rmtree(base)


def test_the_udev_semantics_in_the_key_are_the_evaluators() -> None:
    from checker.check.verdicts import UDEV_SEMANTICS
    from checker.evaluate.result import UDEV_VERSION

    assert UDEV_SEMANTICS == UDEV_VERSION


HEAVY = ("checker.evaluate.engine", "checker.evaluate.slice", "checker.evaluate.result",
         "checker.check.effects", "pydantic", "yaml", "pyudev", "prometheus_client")


def _modules_of_a_check(root: Path) -> list[str]:
    code = ("import sys\nfrom checker.cli import main\n"
            f"main(['check', '--root', {str(root)!r}, '--format', 'json'])\n"
            f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=60)
    return [line for line in done.stderr.splitlines() if line.startswith("loaded:")]


def test_a_check_answered_from_the_cache_imports_no_evaluator_and_no_heavy_library(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "host"
    shutil.copytree(repo / "examples/xenserver-host", root, symlinks=True)
    policy = root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
    policy.unlink()
    shutil.copy(repo / "policies/xenserver-local-sata.yaml", policy)
    assert main(["check", "--root", str(root), "--repair"]) == 0  # the installed host
    cache = root / "var/lib/udev-drift" / VERDICT_CACHE_NAME
    assert cache.exists()
    assert _modules_of_a_check(root) == ["loaded: []"]
    cache.unlink()  # a miss evaluates, and imports the evaluator (but not YAML or pydantic)
    assert _modules_of_a_check(root) == [
        "loaded: ['checker.check.effects', 'checker.evaluate.engine', 'checker.evaluate.result', "
        "'checker.evaluate.slice']"]


def test_the_deciding_code_is_fingerprinted_from_code_where_no_source_is_shipped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The single-file binary holds bytecode only: the fingerprint comes from the code objects.
    from checker import trusted_cache
    from checker.check import verdicts

    parts = dict(trusted_cache._compiled(("rules", "evaluate", "check"), ("paths.py", "observe/files.py")))
    assert {"checker.evaluate.engine", "checker.check.effects", "checker.observe.files", "checker.paths"} <= set(parts)
    assert b"?" not in parts.values()
    monkeypatch.setattr(trusted_cache, "CHECKER", "/nonexistent")
    verdicts.decider_fingerprint.cache_clear()
    try:
        assert len(verdicts.decider_fingerprint()) == 64
    finally:
        verdicts.decider_fingerprint.cache_clear()


def test_deciding_code_rewritten_with_its_size_and_mtime_kept_is_a_new_fingerprint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The code's fingerprint is each source's stat identity, not its bytes: a rewrite that
    # keeps the size and puts the mtime back still changes the inode's change time.
    import time

    from checker import trusted_cache

    package = Path(checker.__file__).parent
    copy = tmp_path / "checker"
    for folder in ("rules", "evaluate", "check"):
        shutil.copytree(package / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(trusted_cache, "CHECKER", str(copy))
    folders, files = ("rules", "evaluate", "check"), (os.path.join("evaluate", "engine.py"),)
    before = trusted_cache.code_fingerprint(folders, files)
    assert trusted_cache.code_fingerprint(folders, files) == before  # stable while unchanged
    engine = copy / "evaluate" / "engine.py"
    st_before = engine.stat()
    text = engine.read_bytes()
    time.sleep(0.05)  # past the file system's clock tick: the change time moves on
    engine.write_bytes(text.replace(b"udev", b"UDEV", 1))
    os.utime(engine, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    assert engine.stat().st_size == st_before.st_size and engine.stat().st_mtime_ns == st_before.st_mtime_ns
    assert trusted_cache.code_fingerprint(folders, files) != before
    (copy / "check" / "new_module.py").write_text("")  # a module more: a new fingerprint too
    assert trusted_cache.code_fingerprint(folders, files) != before


def test_the_digest_is_sha256_whichever_implementation_hashes_it() -> None:
    import hashlib

    from checker.trusted_cache import SMALL_DIGEST_BYTES, Sha256

    for size in (0, 1, SMALL_DIGEST_BYTES - 1, SMALL_DIGEST_BYTES, SMALL_DIGEST_BYTES + 1, 3 * SMALL_DIGEST_BYTES):
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        whole = Sha256(data)
        pieces = Sha256()
        for start in range(0, len(data), 100_003):
            pieces.update(data[start:start + 100_003])
        assert whole.hexdigest() == pieces.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_code_fingerprint_is_the_same_after_the_code_ran() -> None:
    # In the binary the loader may hand back the code object that ran: marshal's default
    # version marks shared objects, so the bytes changed once the module's functions held
    # its nested code (a repair's fingerprint then differed from the next run's, and the
    # next run missed the cache). Seen failing with marshal.dumps(code).
    from checker import trusted_cache

    code = compile("def f(x):\n    return x + 'a constant'\n\nclass A:\n    def g(self):\n"
                   "        return (1, 2, 'zz', frozenset({'p', 'q'}))\n", "module.py", "exec")
    before = trusted_cache.code_bytes(code)
    namespace: dict[str, object] = {}
    exec(code, namespace)  # noqa: S102 - the code compiled just above
    assert trusted_cache.code_bytes(code) == before
