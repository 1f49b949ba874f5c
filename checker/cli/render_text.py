"""The report for people: what is kept, what drifted and why, and the diff.

Colour only on a terminal and never with NO_COLOR set; without colour the changed
characters inside a changed line are pointed at by a `?` guide line, as Python's ndiff does.

Everything shown that comes from a rules file, a policy or the host goes through
`visible`: control characters (an escape sequence that retitles or clears the terminal, a
carriage return, a newline inside a policy value) and bidirectional overrides are shown
as \\xNN / \\uNNNN escapes, never sent raw. The JSON report keeps the exact text.
"""

from __future__ import annotations

import os
from typing import IO, Callable

from checker import __version__
from checker.cli.visible import visible
from checker.edits.diffs import inline_changes
from checker.findings import Finding, Report

RESET, RED, GREEN, YELLOW, BOLD, DIM = "\033[0m", "\033[31m", "\033[32m", "\033[33m", "\033[1m", "\033[2m"
INVERSE_RED, INVERSE_GREEN = "\033[41;97m", "\033[42;30m"


def use_color(stream: IO[str], choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


class Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.enabled else text


def _mark(finding: Finding, paint: Painter) -> str:
    if finding.drift:
        return paint(RED, "✗")
    if finding.status != "ok":
        return paint(YELLOW, "·")
    return paint(GREEN, "✓")


def _diff_lines(diff: str, paint: Painter) -> list[str]:
    """The unified diff, with changed characters shown inside paired -/+ lines."""
    lines = [visible(line) for line in diff.rstrip("\n").split("\n")]
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith(("---", "+++")):
            out.append(paint(BOLD, line))
            index += 1
            continue
        if line.startswith("@@"):
            out.append(paint(DIM, line))
            index += 1
            continue
        if not line.startswith("-"):
            out.append(paint(GREEN, line) if line.startswith("+") else line)
            index += 1
            continue
        # A run of removed lines, then a run of added lines: pair them one by one.
        removed = []
        while index < len(lines) and lines[index].startswith("-"):
            removed.append(lines[index][1:])
            index += 1
        added = []
        while index < len(lines) and lines[index].startswith("+"):
            added.append(lines[index][1:])
            index += 1
        if len(removed) != len(added):
            out.extend(paint(RED, "-" + text) for text in removed)
            out.extend(paint(GREEN, "+" + text) for text in added)
            continue
        for old, new in zip(removed, added):
            out.extend(_paired(old, new, paint))
    return out


def _paired(old: str, new: str, paint: Painter) -> list[str]:
    changes = inline_changes(old, new)
    if paint.enabled:
        minus = "".join(paint(INVERSE_RED, t) if op < 0 else paint(RED, t) for op, t in changes if op <= 0)
        plus = "".join(paint(INVERSE_GREEN, t) if op > 0 else paint(GREEN, t) for op, t in changes if op >= 0)
        return [paint(RED, "-") + minus, paint(GREEN, "+") + plus]
    minus_guide = "".join(("^" if op < 0 else " ") * len(t) for op, t in changes if op <= 0)
    plus_guide = "".join(("^" if op > 0 else " ") * len(t) for op, t in changes if op >= 0)
    out = ["-" + old]
    if minus_guide.strip():
        out.append("?" + minus_guide.rstrip())
    out.append("+" + new)
    if plus_guide.strip():
        out.append("?" + plus_guide.rstrip())
    return out


def render(report: Report, sources: list[str], stream: IO[str], color: bool, quiet: bool = False) -> None:
    paint = Painter(color)
    lines: list[str] = []  # written at once: a large host's report has 20,000 lines
    write = lines.append

    count = len(report.policies)
    shown = [visible(_short(source, report.root)) for source in sources]
    header = f"udev-drift {__version__} · {count} polic{'y' if count == 1 else 'ies'} · {', '.join(shown)}"
    if report.root != "/":
        header += f" · root {visible(_short(report.root, '/'))}"
    if report.udev is not None:
        header += f" · udev {report.udev['version']} semantics ({visible(str(report.udev['source']))})"
    write(paint(BOLD, header) + "\n")
    shown_diffs: set[str] = set()
    for policy in report.policies:
        if quiet and policy.compliant:
            continue
        verdict = paint(GREEN, "OK") if policy.compliant else paint(RED + BOLD, "DRIFT")
        write(f"\n{paint(BOLD, visible(policy.name))}  {verdict}\n")
        width = max((len(visible(f.path)) for f in policy.findings), default=0)
        diffs = []
        for finding in policy.findings:
            if quiet and not finding.drift:
                continue
            kind = "rule" if finding.kind == "rule" else "link"
            message = visible(finding.message)
            if finding.was and not finding.drift:
                message += paint(GREEN, f" (repaired: was {finding.was})")
            write(f"  {_mark(finding, paint)} {kind:4}  {visible(finding.path):{width}}  {message}\n")
            for detail in finding.details:
                write(f"  {'':6}  {paint(DIM, visible(detail))}\n")
            # A repair or dry run shows each file's whole change once, under its actions.
            if finding.diff and finding.diff not in shown_diffs and report.mode == "check":
                shown_diffs.add(finding.diff)
                diffs.append(finding.diff)
        for diff in diffs:
            write("\n")
            for line in _diff_lines(diff, paint):
                write(f"  {line}\n")
    if report.actions:
        _render_actions(report, paint, write)
    write("\n" + _summary(report, paint) + "\n")
    # A rules file's bytes that are not UTF-8 are shown as U+FFFD, not a crash.
    stream.write("".join(lines).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def _short(path: str, root: str) -> str:
    """A path as a person would type it: a host path inside --root, else relative to the
    working directory when that is shorter."""
    if root != "/" and (path == root or path.startswith(root + os.sep)):
        return "/" + os.path.relpath(path, root).lstrip(".")
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return relative if len(relative) < len(path) and not relative.startswith("../..") else path


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _summary(report: Report, paint: Painter) -> str:
    drifted = len(report.drifted)
    items = sum(len(p.findings) for p in report.policies)
    repaired = sum(1 for p in report.policies for f in p.findings if f.was and not f.drift)
    if report.dry_run:
        if not drifted:
            return paint(GREEN, f"dry run: compliant · {_plural(items, 'item')} checked · nothing to do")
        return paint(YELLOW, f"dry run: {_plural(drifted, 'item')} drifted · nothing was changed")
    if repaired and not drifted:
        return paint(GREEN, f"compliant after repair · {_plural(repaired, 'item')} repaired")
    if report.mode == "repair" and drifted:
        return paint(RED, f"{_plural(drifted, 'item')} still drifted after repair "
                          f"· {_plural(repaired, 'item')} repaired")
    if not drifted:
        return paint(GREEN, f"compliant · {_plural(items, 'item')} checked")
    hint = ""
    if report.mode == "check":
        from checker.repair import REFUSALS

        by_hand = sum(1 for finding in report.drifted if finding.status in REFUSALS)
        if by_hand < drifted:
            hint = " · run `udev-drift check --repair` to put them back"
        if by_hand:
            hint += f" · {by_hand} need a change by hand (see why above)"
    return paint(RED, f"{_plural(drifted, 'item')} drifted") + hint


def _render_actions(report: Report, paint: Painter, write: Callable[[str], object]) -> None:
    """What the repair did (or, on a dry run, would do): each line says which."""
    write("\n")
    prefix = "dry run: would " if report.dry_run else ""
    for action in report.actions:
        path, detail = visible(action.path or ""), visible(action.detail)
        if action.action == "write":
            verb = "write" if report.dry_run else "wrote"
            write(f"{prefix}{verb} {path} ({detail})\n")
            if action.diff:
                for line in _diff_lines(action.diff, paint):
                    write(f"  {line}\n")
        elif action.action == "link":
            verb = "link" if report.dry_run else "linked"
            write(f"{prefix}{verb} {path} -> {detail}\n")
        elif action.action == "run":
            verb = "run" if report.dry_run else "ran"
            write(f"{prefix}{verb} {visible(' '.join(action.command or []))}\n")
        else:
            lead = "dry run: would leave" if report.dry_run else "left"
            write(paint(YELLOW, f"{lead} {path} as it is: {detail}") + "\n")
