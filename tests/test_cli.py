"""The command line as scripts and cron see it: exit status, JSON shape, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO, HostTree, Result

Run = Callable[..., Result]
EXAMPLE = REPO / "examples" / "xenserver-host"
RULES = "/etc/udev/rules.d/50-udev.rules"
POLICY = f"""\
version: 1
name: xen
rules:
  - file: {RULES}
    ensure: block
    content: |
      ACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"
"""


def run_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    """The tool as its own process, to see exactly what reaches a terminal."""
    return subprocess.run([sys.executable, "-m", "checker", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=60)


class TestExitStatus:
    def test_0_when_compliant(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(POLICY)
        tree.write(RULES, '# BEGIN udev-drift xen\nACTION!="remove", KERNEL=="sdb", SYMLINK+="xapi/block/%k"\n# END udev-drift xen\n')
        result = udev_drift("check", "--root", tree.root)
        assert result.status == 0 and "compliant · 1 item checked" in result.out

    def test_1_on_drift(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(POLICY)
        tree.write(RULES, "")
        assert udev_drift("check", "--root", tree.root).status == 1

    def test_2_on_an_invalid_policy_and_the_host_is_not_read(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(POLICY.replace("ensure: block", "ensure: blok"))
        tree.write(RULES, "x" * 10)
        os.chmod(tree.path(RULES), 0)  # would fail to read (as non-root) if it were read
        result = udev_drift("check", "--root", tree.root)
        assert result.status == 2 and result.out == ""
        assert result.err.count("\n") == 1 and "policy.yaml:5:13: at 'rules[0].ensure'" in result.err

    def test_2_on_a_usage_error(self, udev_drift: Run) -> None:
        assert udev_drift("check", "--format", "xml").status == 2
        assert udev_drift("frobnicate").status == 2
        assert udev_drift("check", "--root", "/nonexistent/dir").status == 2

    def test_2_when_the_default_policy_directory_is_missing(self, tree: HostTree, udev_drift: Run) -> None:
        result = udev_drift("check", "--root", tree.root)
        assert result.status == 2
        assert "etc/udev-drift/policies.d: no such policy file or directory" in result.err

    def test_3_when_a_rules_file_cannot_be_read(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(POLICY)
        path = tree.path(RULES)
        path.parent.mkdir(parents=True)
        with open(path, "wb") as handle:  # sparse: larger than the limit, costs no disk
            handle.truncate(65 * 1024 * 1024)
        result = udev_drift("check", "--root", tree.root)
        assert result.status == 3
        assert result.err == f"udev-drift: {RULES}: larger than 64 MiB; refusing to read it as a rules file\n"


class TestJson:
    def test_the_report_has_the_contract_keys(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(POLICY)
        tree.write(RULES, 'KERNEL=="x", GROUP="y"\n')
        result = udev_drift("check", "--root", tree.root, "--format", "json")
        document = result.json()
        assert {"compliant", "repaired", "policies"} <= set(document)
        assert document["compliant"] is False and document["repaired"] is False
        [policy] = document["policies"]
        assert {"name", "compliant", "findings"} <= set(policy)
        [finding] = policy["findings"]
        assert {"kind", "path", "status", "message", "diff"} <= set(finding)
        assert finding["kind"] == "rule" and finding["status"] == "missing"

    def test_json_goes_to_stdout_alone(self, tree: HostTree, udev_drift: Run) -> None:
        tree.policy(POLICY)
        tree.write(RULES, "")
        result = udev_drift("check", "--root", tree.root, "--format", "json")
        json.loads(result.out)
        assert result.err == ""


class TestNoTraceback:
    @pytest.mark.parametrize("policy_text", [
        "", "version: [", "\x00\x01", "version: 1\nname: x\nrules: 7\n",
        "version: 1\nname: x\nrules:\n  - file: /etc/udev/rules.d/a.rules\n    ensure: lines\n    content: 'KERNEL==\"a\" # c'\n",
    ])
    def test_bad_policies_give_one_line_and_exit_2(self, tmp_path: Path, policy_text: str) -> None:
        policy = tmp_path / "bad.yaml"
        policy.write_text(policy_text)
        process = run_process("check", "--root", str(tmp_path), str(policy))
        assert process.returncode == 2
        assert "Traceback" not in process.stderr
        assert len(process.stderr.strip().splitlines()) == 1, process.stderr
        assert process.stderr.startswith(f"udev-drift: {policy}")


class TestExample:
    def test_the_bundled_example_host_shows_the_drift_as_a_diff_and_exits_1(self) -> None:
        process = run_process("check", "--root", str(EXAMPLE), env={"NO_COLOR": "1"})
        assert process.returncode == 1, process.stderr
        out = "\n".join(" ".join(line.split()) for line in process.stdout.splitlines())
        assert "xenserver-local-sata DRIFT" in out
        assert "managed block missing" in out
        assert "✗ link /dev/xapi/block/sdb missing (device /dev/sdb is present as /dev/sdb)" in out
        assert "device /dev/sdc is not present (not required: not drift)" in out
        assert "+# BEGIN udev-drift xenserver-local-sata" in out
        assert "2 items drifted" in out

    def test_the_readme_shows_the_examples_output_as_it_is(self) -> None:
        readme = (REPO / "README.md").read_text()
        command = "$ udev-drift check --root examples/xenserver-host\n"
        shown = readme[readme.index(command) + len(command):]
        shown = shown[: shown.index("```")]
        process = run_process("check", "--root", "examples/xenserver-host", env={"NO_COLOR": "1"})
        assert process.stdout == shown

    def test_the_example_policy_is_the_shipped_one(self) -> None:
        link = EXAMPLE / "etc/udev-drift/policies.d/xenserver-local-sata.yaml"
        assert link.resolve() == (REPO / "policies/xenserver-local-sata.yaml").resolve()


class TestValidateAndSchema:
    def test_validate_reports_each_good_policy(self, tmp_path: Path, udev_drift: Run) -> None:
        (tmp_path / "p.yaml").write_text(POLICY)
        result = udev_drift("validate", tmp_path)
        assert result.status == 0
        assert result.out == f"{tmp_path}/p.yaml: ok: policy xen, 1 rules entry, 0 symlinks (after for_each)\n"

    def test_validate_lists_every_problem_of_every_file(self, tmp_path: Path, udev_drift: Run) -> None:
        (tmp_path / "a.yaml").write_text(POLICY.replace("ensure: block", "ensure: x"))
        (tmp_path / "b.yaml").write_text(POLICY.replace("name: xen", "name: Xen"))
        result = udev_drift("validate", tmp_path)
        assert result.status == 2
        assert len(result.err.strip().splitlines()) == 2

    def test_validate_refuses_a_rule_udev_would_drop_naming_its_line_in_the_policy(self, tmp_path: Path, udev_drift: Run) -> None:
        (tmp_path / "p.yaml").write_text(POLICY.replace('SYMLINK+="xapi/block/%k"', "SYMLINK+='xapi'"))
        result = udev_drift("validate", tmp_path)
        assert result.status == 2
        assert f"{tmp_path}/p.yaml:7: at 'rules[0].content': udev would drop this rule" in result.err

    def test_validate_refuses_item_without_for_each_and_for_each_without_item(self, tmp_path: Path, udev_drift: Run) -> None:
        (tmp_path / "p.yaml").write_text(POLICY.replace('"sdb"', '"{{ item }}"'))
        assert "uses {{ item }} but has no for_each" in udev_drift("validate", tmp_path).err
        (tmp_path / "p.yaml").write_text(POLICY.replace("ensure: block", "ensure: block\n    for_each: [a]"))
        assert "for_each is given but {{ item }} appears nowhere" in udev_drift("validate", tmp_path).err

    def test_contradicting_policies_are_refused(self, tmp_path: Path, udev_drift: Run) -> None:
        (tmp_path / "a.yaml").write_text(POLICY)
        (tmp_path / "b.yaml").write_text(POLICY.replace("name: xen", "name: other").replace("ensure: block", "ensure: absent"))
        result = udev_drift("validate", tmp_path)
        assert result.status == 2 and "ensures absent a rule that xen rules[0] ensures present" in result.err

    def test_the_schema_is_json_schema_that_accepts_the_shipped_policy(self, udev_drift: Run) -> None:
        jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
        import yaml

        result = udev_drift("schema")
        schema = json.loads(result.out)
        assert schema["$schema"].startswith("https://json-schema.org/")
        policy = yaml.safe_load((REPO / "policies/xenserver-local-sata.yaml").read_text())
        jsonschema.validate(policy, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**policy, "unknown": 1}, schema)

    def test_help_explains_the_exit_status(self, udev_drift: Run) -> None:
        result = udev_drift("check", "--help")
        assert result.status == 0 and "exit status:" in result.out


class TestImports:
    def test_a_plain_check_imports_no_module_it_does_not_need(self) -> None:
        # A check runs after every boot and update on every host: the HTTP server, the
        # installer, libudev (under --root) and the metrics stay unimported.
        code = ("import sys\nfrom checker.cli import main\n"
                f"status = main(['check', '--root', {str(EXAMPLE)!r}, '--format', 'json'])\n"
                "heavy = ['checker.serve', 'checker.install', 'checker.check.suggest', 'checker.cli.serve',"
                " 'checker.cli.install', 'checker.cli.suggest', 'checker.cli.diagnose', 'pyudev',"
                " 'prometheus_client', 'checker.exporters.registry', 'http.server', 'checker.adopt',"
                " 'checker.cli.adopt']\n"
                "print('loaded:', [m for m in heavy if m in sys.modules], file=sys.stderr)\n")
        process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert "loaded: []" in process.stderr, process.stderr

    def test_every_command_is_listed_and_has_its_own_help(self, udev_drift: Run) -> None:
        listing = udev_drift("--help").out
        for command in ("check", "validate", "policies", "schema", "serve", "suggest", "adopt", "install",
                        "uninstall"):
            assert f"    {command}" in listing
            assert udev_drift(command, "--help").status == 0


class TestCyclicCollector:
    """One-shot runs turn the cyclic GC off (a third of a large check); serve needs it."""

    def test_a_run_turns_it_off_and_gives_the_callers_setting_back(
            self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        import gc

        import checker.cli.dispatch as cli

        seen: list[bool] = []
        monkeypatch.setattr(cli, "_run_command", lambda argv: seen.append(gc.isenabled()) or 0)
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            try:
                assert cli.main(["schema"]) == 0
                assert gc.isenabled() is before
            finally:
                gc.enable()
        assert seen == [False, False]

    def test_serve_turns_it_back_on(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        import gc

        import checker.cli.dispatch as cli
        from checker.errors import UsageError
        from checker.serve import http

        state: list[bool] = []

        def make_server(*args: object) -> None:
            state.append(gc.isenabled())
            raise UsageError("stop here: the server is not what this test is about")

        monkeypatch.setattr(http, "make_server", make_server)
        gc.disable()  # as main() leaves it
        try:
            assert cli._run_command(["serve", "--root", str(tmp_path), "--listen", "127.0.0.1:0"]) == 2
        finally:
            gc.enable()
        assert state == [True]
