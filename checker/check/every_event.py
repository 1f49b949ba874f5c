"""The fix for a link made only at "add": the link rule on every event but "remove", the
program kept on "add".

udev recomputes a device's links at every event and removes the ones no rule gave this
time, so `ACTION=="add", ..., SYMLINK+=` loses its link at the next "change" (`udevadm
trigger`, a partition table re-read, closing a watched disk after a write). The program
of such a rule (xapi's local-device-change) is meant for the disk's arrival only, so it
keeps its `ACTION=="add"` in a rule of its own.
"""

from __future__ import annotations

from checker.rules.model import Rule, Token

# what sends "change" events to a block device whatever the rules say
CHANGE_SENDERS = ("`udevadm trigger` (its default action; package scripts run it)",
                  "a re-read of the partition table")


def _spans(rule: Rule) -> list[tuple[Token, str]]:
    """Each token with its text as written in the rule."""
    text = rule.text
    spans = []
    for index, token in enumerate(rule.tokens):
        end = rule.tokens[index + 1].column - 1 if index + 1 < len(rule.tokens) else len(text)
        spans.append((token, text[token.column - 1:end].rstrip(" \t,")))
    return spans


def add_only(rule: Rule) -> bool:
    """Is the rule's only ACTION match `ACTION=="add"`?"""
    actions = [t for t in rule.tokens if t.key == "ACTION"]
    return len(actions) == 1 and actions[0].op == "==" and actions[0].value == "add"


def every_event_rules(rule: Rule) -> list[str] | None:
    """The rule rewritten so that its links survive a "change": `ACTION!="remove"` for the
    links, and the rest of its assignments (RUN) in a rule of their own, still on "add".
    None when the rule is not an `ACTION=="add"` rule with SYMLINK."""
    if not add_only(rule) or not any(t.key == "SYMLINK" for t in rule.tokens):
        return None
    spans = _spans(rule)
    links = [('ACTION!="remove"' if t.key == "ACTION" else said) for t, said in spans
             if t.is_match or t.key in ("SYMLINK", "OPTIONS")]
    rest = [said for t, said in spans if t.is_match or t.key not in ("SYMLINK", "OPTIONS")]
    others = [t for t, _ in spans if not t.is_match and t.key not in ("SYMLINK", "OPTIONS")]
    return [", ".join(links)] + ([", ".join(rest)] if others else [])


def fix_sentence(rule: Rule) -> str | None:
    """What to write instead, for the report."""
    rules = every_event_rules(rule)
    if rules is None:
        return None
    kept = " and keep the rest on add in a rule of its own" if len(rules) > 1 else ""
    return (f'make the link on every event but remove (ACTION!="remove"){kept}: '
            + " / ".join(rules))
