"""A policy's rules as another udev reads them: `validate --udev 219` (or `both`) checks
that the hosts a policy will run on read each rule as udev 252 does, since the policy
loader judges rules with 252's reader.

A rule is refused for udev 219 when 219 drops it (an unknown key such as CONST, a
refused operator) or reads it as another rule (a trailing `# comment` or an e"..." value
cut off, a `\\"` that ends the value, several OPTIONS in one key): on such a host the
policy would ask for something udev does not do.
"""

from __future__ import annotations

from checker.errors import PolicyError
from checker.policy.desired import DesiredPolicy
from checker.rules.parsed import parse_rules
from checker.rules.semantics import UdevSemantics


def problems_for(policy: DesiredPolicy, semantics: UdevSemantics) -> tuple[list[PolicyError], list[str]]:
    """(errors, warnings) of the policy's rules entries read with `semantics`."""
    errors: list[PolicyError] = []
    warnings: list[str] = []
    for entry in policy.rules:
        read = parse_rules(entry.content, semantics).rules
        said = f"{entry.entry}: udev {semantics.version}"
        for rule in read:
            if rule.problem is not None:
                errors.append(PolicyError(policy.path, entry.policy_line, None,
                                          f"{said} drops content line {rule.line}: {rule.problem}"))
            else:
                warnings.extend(f"{policy.path}: {said}: content line {rule.line}: {warning}"
                                for warning in rule.warnings)
        wanted = [rule.canonical for rule in entry.rules]
        kept = [rule.canonical for rule in read if rule.problem is None]
        if not any(rule.problem for rule in read) and kept != wanted:
            shown = "; ".join(kept) or "nothing"
            errors.append(PolicyError(policy.path, entry.policy_line, None,
                                      f"{said} reads these rules otherwise: as {shown}"))
    return errors, warnings
