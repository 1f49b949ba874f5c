"""udev rules as udev 252 reads them: the parser and the canonical form."""

from __future__ import annotations

from functools import lru_cache

from checker.rules.canonical import canonical_rule_line
from checker.rules.model import Rule, RulesText, Token
from checker.rules.parser import parse_rules as _parse_rules

# One run asks about the same text several times (the check reads a file; the edits that
# build its diff and the repair's validation read it again). Results are immutable, so
# the last few are shared instead of parsed again.
parse_rules = lru_cache(maxsize=16)(_parse_rules)

__all__ = ["Rule", "RulesText", "Token", "canonical_rule_line", "parse_rules"]
