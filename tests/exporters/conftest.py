"""Fixtures of the tests that run real servers (tests/servers.py)."""

from tests.servers import example, servers, textfile_dir

__all__ = ["example", "servers", "textfile_dir"]
