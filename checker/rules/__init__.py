"""udev rules as udev 252 reads them: the parser and the canonical form."""

from __future__ import annotations

from checker.rules.canonical import canonical_rule_line
from checker.rules.model import Rule, RulesText, Token
from checker.rules.parser import parse_rules

__all__ = ["Rule", "RulesText", "Token", "canonical_rule_line", "parse_rules"]
