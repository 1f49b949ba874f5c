"""The Ansible baseline: what an admin runs today for the same check.

    ansible-playbook --check -i inventory.ini playbook.yml

with one `blockinfile` task (the policy's managed block, same `# BEGIN udev-drift <policy>` /
`# END udev-drift <policy>` markers, same content, `path:` under the host tree) and one
`stat` task on a `/dev/xapi/block/sdX` link of the tree, `connection: local`,
`gather_facts: false`, against localhost.

ansible-core is installed with pip into the benchmark's own virtual environment (by default
~/.cache/udev-drift-bench/ansible-venv, or under /tmp when the cache dir is not writable),
created once and reused by later runs; nothing is installed into the Python that runs the
tool. Stdlib only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ANSIBLE_SPEC = "ansible-core"  # the newest one pip finds for this Python; printed with the results
COMPLETE_MARKER = ".udev-drift-bench-complete"  # written last: a venv without it is redone
VENV_TIMEOUT_S = 300.0
PIP_TIMEOUT_S = 900.0

# `localhost : ok=2 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0`
RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                   r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)
TASKS = 2  # blockinfile + stat: both must be `ok` in the recap


class AnsibleUnavailable(Exception):
    """ansible-core could not be installed or does not run: the Ansible rows are skipped."""


@dataclass
class Ansible:
    venv: Path
    playbook_cmd: Path  # venv/bin/ansible-playbook
    python: Path  # venv/bin/python: runs ansible-playbook and, locally, the modules
    version: str  # "ansible-playbook [core 2.19.x]"


def default_venv() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "udev-drift-bench" / "ansible-venv"


def fallback_venv() -> Path:
    return Path(tempfile.gettempdir()) / "udev-drift-bench" / "ansible-venv"


def choose_venv() -> Path:
    """The cache dir when it can be written, else the temp dir."""
    venv = default_venv()
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return fallback_venv()
    return venv if os.access(venv.parent, os.W_OK) else fallback_venv()


def _run(argv: Sequence[str], timeout: float, what: str) -> str:
    try:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AnsibleUnavailable(f"{what}: {error}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()[-2:]
        tail = " | ".join(line if len(line) <= 240 else line[:240] + "..." for line in lines)
        raise AnsibleUnavailable(f"{what}: exit status {done.returncode}: {tail or '(no output)'}")
    return done.stdout


def _probe(venv: Path) -> Ansible:
    command = venv / "bin" / "ansible-playbook"
    out = _run([str(command), "--version"], 120.0, f"{command} --version")
    return Ansible(venv, command, venv / "bin" / "python", out.splitlines()[0].strip())


def ensure_ansible(venv: Path, python: Sequence[str], spec: str,
                   log: Callable[[str], None]) -> Ansible:
    """The venv's ansible-playbook: reused when complete (same spec), else (re)installed."""
    marker = venv / COMPLETE_MARKER
    try:
        if marker.read_text(encoding="utf-8").strip() == spec:
            return _probe(venv)
    except OSError:
        pass  # no marker: never completed
    except AnsibleUnavailable as error:  # e.g. the Python the venv was made from is gone
        log(f"ansible: the cached venv does not run ({error}); installing it again")
    try:
        if venv.exists():
            shutil.rmtree(venv)
        venv.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AnsibleUnavailable(f"cannot create {venv}: {error}") from None
    log(f"ansible: installing {spec} into {venv} (once; later runs reuse it)")
    try:
        _run(list(python) + ["-m", "venv", str(venv)], VENV_TIMEOUT_S, f"python -m venv {venv}")
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
              "--quiet", spec], PIP_TIMEOUT_S, f"pip install {spec}")
        ansible = _probe(venv)
        marker.write_text(spec + "\n", encoding="utf-8")
    except (AnsibleUnavailable, OSError) as error:
        shutil.rmtree(venv, ignore_errors=True)  # no half-made venv left behind
        if isinstance(error, OSError):
            raise AnsibleUnavailable(f"{venv}: {error}") from None
        raise
    return ansible


def environment(work: Path) -> dict[str, str]:
    """Ansible's settings for every run: its own empty config (no ansible.cfg from the
    working directory, ~ or /etc changes the numbers), temp and home dirs in the benchmark's
    temp dir (nothing written to ~/.ansible), no colour, no retry files."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "ansible.cfg"
    config.write_text("[defaults]\n", encoding="utf-8")
    return {
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(work / "home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp-local"),
        "ANSIBLE_REMOTE_TEMP": str(work / "tmp-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }


def write_inventory(path: Path, ansible: Ansible) -> Path:
    """localhost over the local connection; modules run on the venv's Python (the same
    interpreter as the tool, and no interpreter discovery)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"localhost ansible_connection=local "
                    f"ansible_python_interpreter={ansible.python}\n", encoding="utf-8")
    return path


def write_playbook(path: Path, rules_file: Path, policy: str, block: str, link: Path) -> Path:
    """blockinfile (the managed block) + stat (the link must exist and be a symlink).

    Strings are written as JSON (valid YAML double-quoted scalars), the block `!unsafe` so
    that Jinja never touches udev's `%k` and `$env{...}`. The stat skips checksum, MIME type
    and attributes: the cheapest stat Ansible has, which favours Ansible.
    """
    q = json.dumps
    text = f"""# Generated by benchmarks/ansible_baseline.py: the Ansible equivalent of one check.
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: managed block of {policy}
      ansible.builtin.blockinfile:
        path: {q(str(rules_file))}
        marker: {q("# {mark} udev-drift " + policy)}
        block: !unsafe {q(block.rstrip(chr(10)))}
    - name: link {link.name}
      ansible.builtin.stat:
        path: {q(str(link))}
        follow: false
        get_checksum: false
        get_mime: false
        get_attributes: false
      register: link
      failed_when: not (link.stat.exists and link.stat.islnk)
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def recap_problem(stdout: str, changed: int) -> str | None:
    """None when the play recap says ok=2 changed=<changed> unreachable=0 failed=0 for
    localhost (and for no other host); else what is wrong."""
    rows = [m.groupdict() for m in RECAP.finditer(stdout)]
    if len(rows) != 1 or rows[0]["host"] != "localhost":
        return f"expected one PLAY RECAP line for localhost, found {len(rows)}"
    got = {key: int(value) for key, value in rows[0].items() if key != "host"}
    want = {"ok": TASKS, "changed": changed, "unreachable": 0, "failed": 0}
    if got != want:
        return "PLAY RECAP " + " ".join(f"{k}={v}" for k, v in got.items()) + ", expected " + \
            " ".join(f"{k}={v}" for k, v in want.items())
    return None
