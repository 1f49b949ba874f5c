"""The validated-policy cache: taken only for the exact bytes validated before, by the
same validator, from a file no one else could have written; written by runs that write
state, and by a plain check where the state directory exists (an installed host)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from checker.engine import load_desired
from checker.policy.cache import CACHE_NAME, PolicyCache, _from_json, _to_json
from checker.policy.files import read_policies
from tests.conftest import REPO, HostTree, Result

Run = Callable[..., Result]
STATE = "/var/lib/udev-drift"


@pytest.fixture
def host(tmp_path: Path) -> HostTree:
    root = tmp_path / "host"
    shutil.copytree(REPO / "examples/xenserver-host", root, symlinks=True)
    policy = root / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
    policy.unlink()
    shutil.copy(REPO / "policies/xenserver-local-sata.yaml", policy)
    return HostTree(root)


def cache_file(host: HostTree) -> Path:
    return host.path(f"{STATE}/{CACHE_NAME}")


def modules_after_check(root: Path) -> list[str]:
    code = ("import sys\nfrom checker.cli import main\n"
            f"main(['check', '--root', {str(root)!r}, '--format', 'json'])\n"
            "print('loaded:', sorted(m for m in ('yaml', 'pydantic') if m in sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    return [line for line in done.stderr.splitlines() if line.startswith("loaded:")]


def test_each_shipped_policy_survives_the_round_trip() -> None:
    for path in sorted((REPO / "policies").glob("*.yaml")):
        [policy] = load_desired([str(path)])
        assert _from_json(json.loads(json.dumps(_to_json(policy)))) == policy


def test_a_repair_remembers_the_policies_and_the_next_check_skips_yaml_and_pydantic(host: HostTree, udev_drift: Run) -> None:
    cold = udev_drift("check", "--root", host.root, "--format", "json").out
    assert not cache_file(host).exists(), "a plain check writes nothing"
    assert udev_drift("check", "--root", host.root, "--repair").status == 0
    assert cache_file(host).exists() and (cache_file(host).stat().st_mode & 0o777) == 0o600
    assert modules_after_check(host.root) == ["loaded: []"]
    # The same answer as a run that validated everything.
    warm = udev_drift("check", "--root", host.root, "--format", "json")
    os.unlink(cache_file(host))
    again = udev_drift("check", "--root", host.root, "--format", "json")
    assert warm.out == again.out and warm.out != cold


def test_a_policy_changed_by_one_byte_is_validated_again(host: HostTree, udev_drift: Run) -> None:
    udev_drift("check", "--root", host.root, "--repair")
    policy = host.path("/etc/udev-drift/policies.d/xenserver-local-sata.yaml")
    policy.write_text(policy.read_text().replace("ensure: block", "ensure: blok"))
    result = udev_drift("check", "--root", host.root)
    assert result.status == 2 and "at 'rules[0].ensure'" in result.err


def test_a_dry_run_writes_no_cache(host: HostTree, udev_drift: Run) -> None:
    udev_drift("check", "--root", host.root, "--repair", "--dry-run")
    assert not cache_file(host).exists()
    host.path(STATE).mkdir(parents=True, mode=0o700)  # not even where the state dir exists
    udev_drift("check", "--root", host.root, "--repair", "--dry-run")
    assert not cache_file(host).exists()


def test_a_plain_check_on_an_installed_host_remembers_the_policies(host: HostTree, udev_drift: Run) -> None:
    # install makes the state directory; from then on every check after the first is warm
    host.path(STATE).mkdir(parents=True, mode=0o700)
    first = udev_drift("check", "--root", host.root, "--format", "json")
    assert first.status == 1 and cache_file(host).exists()
    assert modules_after_check(host.root) == ["loaded: []"]
    assert udev_drift("check", "--root", host.root, "--format", "json").out == first.out
    assert sorted(os.listdir(host.path(STATE))) == [CACHE_NAME, "verdict-cache.json"], \
        "a check writes only the caches (the policies, and the rule set's answers)"


def forge(host: HostTree, udev_drift: Run) -> None:
    """A cache that says the policy wants other rules than it does."""
    udev_drift("check", "--root", host.root, "--repair")
    document = json.loads(cache_file(host).read_text())
    for entry in document["policies"].values():
        for rule in entry["desired"]["rules"]:
            rule["content"] = 'KERNEL=="sdz", RUN+="/tmp/evil"\n'
    cache_file(host).write_text(json.dumps(document))


def test_a_cache_someone_else_could_write_is_not_trusted(host: HostTree, udev_drift: Run) -> None:
    forge(host, udev_drift)
    os.chmod(cache_file(host), 0o666)
    result = udev_drift("check", "--root", host.root, "--format", "json")
    assert result.status == 0 and "evil" not in result.out


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_cache_owned_by_another_user_is_not_trusted(host: HostTree, udev_drift: Run) -> None:
    forge(host, udev_drift)
    os.chown(cache_file(host), 1000, 1000)
    os.chmod(cache_file(host), 0o600)
    assert "evil" not in udev_drift("check", "--root", host.root, "--format", "json").out


def test_a_cache_of_another_validator_or_format_is_a_miss(host: HostTree, udev_drift: Run) -> None:
    udev_drift("check", "--root", host.root, "--repair")
    files = read_policies([str(host.path("/etc/udev-drift/policies.d/xenserver-local-sata.yaml"))], strict=True)
    cache = PolicyCache(str(host.path(STATE)), writable=False, tree=True)
    assert cache.lookup(files) is not None
    for key, value in (("validator", "0" * 64), ("format", 99)):
        document = json.loads(cache_file(host).read_text())
        document[key] = value
        cache_file(host).write_text(json.dumps(document))
        assert cache.lookup(files) is None
    cache_file(host).write_text("{corrupt")
    assert cache.lookup(files) is None


def test_a_cache_for_other_files_is_a_miss(host: HostTree, udev_drift: Run, tmp_path: Path) -> None:
    udev_drift("check", "--root", host.root, "--repair")
    other = tmp_path / "other.yaml"
    other.write_text((REPO / "policies/xenserver-local-sata.yaml").read_text())
    assert PolicyCache(str(host.path(STATE)), writable=False, tree=True).lookup(read_policies([str(other)], strict=True)) is None


def test_the_validator_is_fingerprinted_from_code_where_no_source_is_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The single-file binary holds bytecode only: the fingerprint comes from the code objects.
    from checker import trusted_cache
    from checker.policy import cache

    parts = dict(trusted_cache._compiled(cache._VALIDATOR_FOLDERS, cache._VALIDATOR_FILES))
    assert {"checker.policy.model", "checker.policy.places", "checker.rules.parser",
            "checker.edits.markers"} <= set(parts)
    assert b"?" not in parts.values()
    monkeypatch.setattr(trusted_cache, "CHECKER", "/nonexistent")
    cache.validator_fingerprint.cache_clear()
    try:
        assert len(cache.validator_fingerprint()) == 64
    finally:
        cache.validator_fingerprint.cache_clear()


def test_a_cached_policy_carries_each_entrys_summary_as_its_rules_give_it() -> None:
    """A policy from the cache is not parsed on a compliant run: what such a run reads of
    its rules (count, warnings, OWNER/GROUP names, the disks named by KERNEL==, a trailing
    continuation) is kept beside it, and is what parsing them gives."""
    from checker.policy.desired import RulesSummary

    for path in sorted((REPO / "policies").glob("*.yaml")) + sorted(REPO.glob("examples/*/etc/udev-drift/policies.d/*.yaml")):
        [policy] = load_desired([str(path)])
        cached = _from_json(json.loads(json.dumps(_to_json(policy))))
        for entry in cached.rules:
            assert entry.parsed is None  # nothing parsed by reading it back
            assert entry.summary == RulesSummary.of(entry.rules, entry.content)


def test_a_summary_holds_what_a_compliant_run_reads() -> None:
    from checker.policy.desired import RulesSummary
    from checker.rules.parsed import parse_rules

    content = ('KERNEL=="sdb", GROUP="disk", OWNER="0", SYMLINK+="a"\n'
               'KERNEL=="sd*", OWNER:="$env{X}"\n'
               'KERNEL=="sdx"\n'
               'KERNEL=="sdc|sdd", RUN+="x" \\\n')
    summary = RulesSummary.of(parse_rules(content).rules, content)
    assert summary.count == 4
    assert summary.kernels == ("sdb", None, "sdx", None)
    assert summary.accounts == ((1, "GROUP", "=", "disk"), (1, "OWNER", "=", "0"), (2, "OWNER", ":=", "$env{X}"))
    assert [line for line, text in summary.warnings if "takes no effect" in text] == [3]
    assert summary.open_end


@pytest.mark.parametrize("damage", [
    lambda s: s.update(count=s["count"] + 1),
    lambda s: s.update(kernels=[1] * len(s["kernels"])),
    lambda s: s.update(accounts=[[1, "MODE", "=", "0600"]]),
    lambda s: s.update(warnings=[["1", "x"]]),
    lambda s: s.pop("open_end"),
    lambda s: s.update(accounts=[[1, "GROUP", "=", "di\0sk"]]),
    lambda s: s.update(kernels=["s\0db"] * len(s["kernels"])),
])
def test_a_cached_summary_of_the_wrong_shape_is_refused(host: HostTree, udev_drift: Run,
                                                        damage: Callable[[dict[str, object]], None]) -> None:
    udev_drift("check", "--root", host.root, "--repair")
    document = json.loads(cache_file(host).read_text())
    for entry in document["policies"].values():
        damage(entry["desired"]["rules"][0]["summary"])
    cache_file(host).write_text(json.dumps(document))
    result = udev_drift("check", "--root", host.root)
    assert result.status == 0 and "a cached policy is refused" in result.err
    assert "Traceback" not in result.err


def test_load_warnings_from_the_cache_are_those_of_a_validated_policy(host: HostTree, udev_drift: Run) -> None:
    """GROUP="disk" on a host without that group is warned of by every run, validated or not."""
    policy = host.path("/etc/udev-drift/policies.d/xenserver-local-sata.yaml")
    policy.write_text(policy.read_text().replace('SYMLINK+="xapi/block/%k"', 'SYMLINK+="xapi/block/%k", GROUP="nosuchgroup"', 1))
    udev_drift("check", "--root", host.root, "--repair")
    assert cache_file(host).exists()
    cached = udev_drift("check", "--root", host.root).err
    os.unlink(cache_file(host))
    fresh = udev_drift("check", "--root", host.root).err
    assert "no group 'nosuchgroup'" in fresh
    assert cached == fresh


def parsed_by_check(root: Path) -> list[str]:
    """The rules texts a plain check parses (either entry point of the parser), in a fresh
    process."""
    code = ("import sys\nimport checker.rules.parser as parser\ncalls = []\n"
            "def counted(name):\n    real = getattr(parser, name)\n"
            "    def call(text, *a, **k):\n        calls.append(text)\n        return real(text, *a, **k)\n"
            "    setattr(parser, name, call)\n"
            "counted('parse_rules')\ncounted('rules_selected')\n"
            "from checker.cli import main\n"
            f"try:\n    main(['check', '--root', {str(root)!r}, '--format', 'json'])\n"
            "except SystemExit:\n    pass\n"
            "print('parsed:', len(calls), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    return [line for line in done.stderr.splitlines() if line.startswith("parsed:")]


def test_a_compliant_host_checked_from_the_caches_parses_no_rules(host: HostTree, udev_drift: Run) -> None:
    """The policy's rules come from the cache unparsed (their summary is all a compliant run
    reads), the managed block is the policy's text, and the verdicts are cached: a run on
    an unchanged host parses nothing (on a 10,000-disk host, 30,000 rules twice)."""
    assert udev_drift("check", "--root", host.root, "--repair").status == 0
    assert udev_drift("check", "--root", host.root).status == 0
    assert parsed_by_check(host.root) == ["parsed: 0"]
    # the control: without the policy cache, the policies are validated (and parsed) again
    os.unlink(cache_file(host))
    assert parsed_by_check(host.root) != ["parsed: 0"]
