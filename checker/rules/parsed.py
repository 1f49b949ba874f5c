"""`parse_rules` as the rest of udev-drift calls it: the last few results shared.

One run asks about the same text several times (the check reads a file; the edits that
build its diff and the repair's validation read it again). Results are immutable, so the
last few are shared instead of parsed again.
"""

from __future__ import annotations

from functools import lru_cache

from checker.rules.parser import parse_rules as _parse_rules

parse_rules = lru_cache(maxsize=16)(_parse_rules)
