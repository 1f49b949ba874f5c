"""A cache's integers are bounded: a number of more than 30 digits makes the file not a
cache (Python's int() of a huge digit string is slow), whether the bound is checked by a
hook per integer or, as for a file without such a run of digits, not needed at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from checker.trusted_cache import HOST, read_trusted_json


def cache(tmp_path: Path, text: str) -> str:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700, parents=True)
    path = directory / "cache.json"
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted cache is root's")
def test_a_long_integer_makes_the_file_not_a_cache(tmp_path: Path) -> None:
    origin = json.dumps(HOST)
    path = cache(tmp_path, f'{{"origin": {origin}, "n": {"9" * 31}}}')
    assert read_trusted_json(path, "a test cache") is None
    assert read_trusted_json(cache(tmp_path / "b", f'{{"origin": {origin}, "n": -{"1" * 31}}}'),
                             "a test cache") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="a trusted cache is root's")
def test_thirty_digits_and_long_digit_strings_are_read(tmp_path: Path) -> None:
    document = {"origin": HOST, "n": int("9" * 30), "serial": "1" * 64, "many": list(range(1000))}
    assert read_trusted_json(cache(tmp_path, json.dumps(document)), "a test cache") == document
