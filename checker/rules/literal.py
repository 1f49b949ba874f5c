"""The one device a rule names by a literal KERNEL=="sdb": which devices a policy's rules
are asked about (checker.check.named_devices), kept in the policy cache's summary."""

from __future__ import annotations

from checker.rules.model import Rule

_GLOB_CHARS = frozenset("*?[")  # checker.evaluate.glob.GLOB_CHARS


def literal_kernel(rule: Rule) -> str | None:
    """The one device a rule names by KERNEL=="sdb" (no pattern, no alternatives)."""
    # What checker.evaluate.glob.Matcher.of reads as one plain alternative, spelt out here:
    # importing the evaluator's matcher would put it on the path of a cache hit.
    for token in rule.tokens:
        if token.key == "KERNEL" and token.op == "==":
            value = token.value
            if value and "|" not in value and not _GLOB_CHARS.intersection(value):
                return value
    return None
