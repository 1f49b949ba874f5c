"""A --root tree made of the rules files udevd read, the device nodes and the link as udevd
left them, and a policy holding the block: what `check` says of it, for comparison with
what the real udevd did (tests/evaluate/test_*_real.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest


def check_like_udevd(tmp_path: Path, capsys: pytest.CaptureFixture[str], files: Mapping[str, str],
                     block: str, link: str, target: str,
                     devices: Iterable[str] = ("loop6",)) -> tuple[int, list[dict[str, Any]]]:
    """(exit status, findings) of `check --root` on the tree; `link` relative to /dev points
    to `target` (relative to the link), and the policy wants it on loop6."""
    from checker.cli import main

    rules_d = tmp_path / "etc/udev/rules.d"
    rules_d.mkdir(parents=True)
    for file_name, text in files.items():
        (rules_d / file_name).write_bytes(text.encode())
    (tmp_path / f"dev/{link}").parent.mkdir(parents=True, exist_ok=True)
    for device in devices:
        (tmp_path / f"dev/{device}").write_text("")
    (tmp_path / f"dev/{link}").symlink_to(target)
    content = "".join(f"      {line}\n" for line in block.splitlines())
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nname: case\nrules:\n  - file: /etc/udev/rules.d/50-udev.rules\n"
                      f"    ensure: lines\n    content: |\n{content}symlinks:\n  - link: /dev/{link}\n"
                      "    target: /dev/loop6\n")
    status = main(["check", "--root", str(tmp_path), "--skip-policy-permission-check", "--format", "json",
                   str(policy)])
    return status, json.loads(capsys.readouterr().out)["policies"][0]["findings"]
