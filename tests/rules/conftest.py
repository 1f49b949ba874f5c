"""Fixtures of the rules parser tests (helpers and case tables are in rules_cases.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def corpus_dir() -> Path:
    """Where scripts/fetch-rules-corpus put Debian's rules files ($UDEV_DRIFT_CORPUS)."""
    return Path(os.environ.get("UDEV_DRIFT_CORPUS", REPO / ".cache" / "rules-corpus"))
