"""The policies that ship inside the package (`policies/` in the source tree)."""

from __future__ import annotations

from importlib import resources

import yaml


def shipped_policies() -> dict[str, tuple[str, str]]:
    """{name: (YAML text, description)} of every shipped policy, by file name."""
    found: dict[str, tuple[str, str]] = {}
    for entry in sorted(resources.files("checker.policies").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        text = entry.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        name = str(data.get("name", entry.name.rsplit(".", 1)[0]))
        found[name] = (text, str(data.get("description", "")))
    return found
