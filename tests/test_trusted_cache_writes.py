"""Where root writes a cache: only into a directory it would read one from (root's,
writable by no one else), and never changing the mode of a file through a link that
someone put at the cache's name after it was written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import checker.trusted_cache as trusted_cache

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="ownership by another user needs root")


@needs_root
def test_no_cache_is_written_into_a_directory_another_user_owns(tmp_path: Path) -> None:
    # a plain check warned that such a state directory "is not used", then wrote both
    # caches into it, as root
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chown(state, 1000, 1000)
    trusted_cache.write_trusted_json(str(state / "verdict-cache.json"), {"format": 1}, "a verdict cache")
    assert os.listdir(state) == []


@needs_root
def test_no_cache_is_written_into_a_directory_others_may_write(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    trusted_cache.write_trusted_json(str(state / "policy-cache.json"), {"format": 2}, "a policy cache")
    assert os.listdir(state) == []


def test_a_link_put_at_the_name_after_the_write_is_not_followed(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # the race a user who can write in the directory wins: the cache renamed into place,
    # then replaced by a link to /etc/passwd before root's chmod(path, 0600) followed it
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0::/root:/bin/sh\n")
    victim.chmod(0o644)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    written = trusted_cache.write_atomic

    def then_a_link(path: str, data: bytes, *args: Any, **kwargs: Any) -> None:
        written(path, data, *args, **kwargs)
        os.unlink(path)
        os.symlink(victim, path)

    monkeypatch.setattr(trusted_cache, "write_atomic", then_a_link)
    trusted_cache.write_trusted_json(str(state / "verdict-cache.json"), {"format": 1}, "a verdict cache")
    assert oct(victim.stat().st_mode & 0o777) == "0o644"


def test_a_cache_is_written_root_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    trusted_cache.write_trusted_json(str(state / "verdict-cache.json"), {"format": 1}, "a verdict cache")
    assert oct((state / "verdict-cache.json").stat().st_mode & 0o777) == "0o600"
