"""What udev would log, but accept, when it loads the policies' rules on this host: a rule
that takes no effect, an operator it reads as another, a GOTO without its LABEL (from the
parser, see DesiredRules.udev_warnings), and an OWNER= or GROUP= name this host does not
know, which udev ignores (udevadm test 252: "Unknown user 'x', ignoring")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from checker.observe.accounts import Accounts
from checker.policy.desired import DesiredPolicy

_ACCOUNT_KEYS = {"OWNER": "user", "GROUP": "group"}
_NUMERIC = re.compile(r"[0-9]+\Z")
_SUBSTITUTION = re.compile(r"[%$]")  # resolved per event, not at load: nothing to say here


def load_warnings(policies: Sequence[DesiredPolicy], accounts: Accounts) -> list[str]:
    warnings: list[str] = []
    for entry in (entry for policy in policies for entry in policy.rules):
        warnings.extend(entry.udev_warnings())
        if entry.ensure == "absent":
            continue  # a rule that must not be there is never loaded because of the policy
        where = f"{entry.policy_path}:{entry.policy_line}" if entry.policy_line else entry.policy_path
        for line, key, op, value in entry.summary.accounts:
            kind = _ACCOUNT_KEYS.get(key)
            if (kind is None or op not in ("=", ":=") or _NUMERIC.match(value)
                    or _SUBSTITUTION.search(value) or accounts.knows(kind, value)):
                continue
            warnings.append(f"{where}: {entry.entry}: content line {line}: no {kind} "
                            f"{value!r} on this host: udev ignores {key}=\"{value}\"")
    return warnings
