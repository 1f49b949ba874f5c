"""From validated policies to desired state: `for_each` expansion and rule checks.

This is where a policy's rules are read as udev would read them: a rule that udev would
drop, or that our block markers would confuse, is refused here, before anything on the
host is read.
"""

from __future__ import annotations

from typing import Callable

from checker.edits.markers import is_marker_line
from checker.errors import PolicyError, raise_all
from checker.policy.desired import DesiredPolicy, DesiredRules, DesiredSymlink, DeviceRef
from checker.policy.loader import KeyPath, LoadedPolicy, format_key_path
from checker.policy.model import PLACEHOLDER, RulesEntry, SymlinkEntry
from checker.policy.places import dev_path_problem, item_problem, rules_file_problem, shown
from checker.rules.parsed import parse_rules


def substitute(text: str, item: str | None) -> str:
    return text if item is None else PLACEHOLDER.sub(lambda _: item, text)


def _error(loaded: LoadedPolicy, key_path: KeyPath, message: str, line: int | None = None) -> PolicyError:
    mark = loaded.source.mark(key_path)
    column = mark.column if mark and line is None else None
    return PolicyError(loaded.source.path, line if line is not None else (mark.line if mark else None),
                       column, f"at '{format_key_path(key_path)}': {message}")


def _entry_texts(entry: RulesEntry | SymlinkEntry) -> list[str]:
    if isinstance(entry, RulesEntry):
        return [entry.file, entry.content]
    texts = [entry.link, entry.target or ""]
    if entry.device is not None:
        texts += [v for v in entry.device.model_dump().values() if v]
    return texts


def _items(loaded: LoadedPolicy, key_path: KeyPath, entry: RulesEntry | SymlinkEntry,
           errors: list[PolicyError]) -> list[str | None]:
    uses_item = any(PLACEHOLDER.search(text) for text in _entry_texts(entry))
    if entry.for_each is None:
        if uses_item:
            errors.append(_error(loaded, key_path, "uses {{ item }} but has no for_each list"))
        return [None]
    if not uses_item:
        errors.append(_error(loaded, key_path + ("for_each",),
                             "for_each is given but {{ item }} appears nowhere in this entry"))
    return [str(item) for item in entry.for_each]


def _expanded_path(loaded: LoadedPolicy, key_path: KeyPath, template: str, item: str | None,
                   problem_of: Callable[[str], str | None], errors: list[PolicyError]) -> str:
    """A path with the item put in, held to the rules the written path is held to: an
    item must not lead it out of where the policy may write."""
    value = substitute(template, item)
    if item is None or not PLACEHOLDER.search(template):
        return value
    problem = problem_of(value) or item_problem(item)
    if problem:
        errors.append(_error(loaded, key_path, f"{problem} (for item {shown(item)})"))
    return value


# What one policy may expand into. A policy for thousands of disks stays far below; a
# small file whose for_each multiplies a long content must fail before it is expanded.
MAX_EXPANDED_RULES = 100_000
MAX_EXPANDED_BYTES = 16 * 1024 * 1024


class _Budget:
    """The rules and bytes a policy's entries expand into, counted before expanding."""

    def __init__(self) -> None:
        self.rules = 0
        self.bytes = 0

    def spend(self, loaded: LoadedPolicy, key_path: KeyPath, content: str,
              items: list[str | None]) -> None:
        lines = sum(1 for line in content.splitlines() if line.strip() and not line.lstrip().startswith("#"))
        placeholders = [len(match.group(0)) for match in PLACEHOLDER.finditer(content)]
        size = sum(len(content) + sum(len(item or "") - length for length in placeholders)
                   for item in items)
        self.rules += lines * len(items)
        self.bytes += size
        where = key_path + (("for_each",) if items != [None] else ("content",))
        scale = f" ({len(items):,} items x {lines:,} rules)" if items != [None] else ""
        if self.rules > MAX_EXPANDED_RULES:
            raise _error(loaded, where, f"the policy expands to more than {MAX_EXPANDED_RULES:,} "
                                        f"rules{scale}: split it, or list fewer items")
        if self.bytes > MAX_EXPANDED_BYTES:
            raise _error(loaded, where, f"the policy expands to more than "
                                        f"{MAX_EXPANDED_BYTES // (1024 * 1024)} MiB of rules{scale}: "
                                        "split it, or list fewer items")


def _entry_name(key_path: KeyPath, item: str | None) -> str:
    return format_key_path(key_path) + (f"[{item}]" if item is not None else "")


def _expand_rules(loaded: LoadedPolicy, index: int, entry: RulesEntry,
                  errors: list[PolicyError], budget: _Budget) -> list[DesiredRules]:
    key_path: KeyPath = ("rules", index)
    content_path = key_path + ("content",)
    desired = []
    items = _items(loaded, key_path, entry, errors)
    budget.spend(loaded, key_path, entry.content, items)
    for item in items:
        content = substitute(entry.content, item)
        if content and not content.endswith("\n"):
            content += "\n"
        parsed = parse_rules(content)
        where = f" (for item {item})" if item is not None else ""
        for number, line in enumerate(parsed.lines):
            if is_marker_line(line):
                errors.append(_error(loaded, content_path,
                                     f"content holds a udev-drift marker line{where}: {line.strip()!r}",
                                     loaded.source.content_line(content_path, number)))
        for rule in parsed.rules:
            if rule.problem:
                errors.append(_error(loaded, content_path,
                                     f"udev would drop this rule{where}: {rule.problem}",
                                     loaded.source.content_line(content_path, rule.line - 1)))
        if not parsed.rules and entry.ensure != "file":
            errors.append(_error(loaded, content_path, "expected at least one udev rule"))
        mark = loaded.source.mark(key_path)
        file = _expanded_path(loaded, key_path + ("file",), entry.file, item, rules_file_problem, errors)
        desired.append(DesiredRules(
            policy=loaded.policy.name, entry=_entry_name(key_path, item),
            file=file, ensure=entry.ensure, content=content,
            parsed=parsed.rules, policy_path=loaded.source.path,
            policy_line=mark.line if mark else None,
        ))
    return desired


def _device_ref(loaded: LoadedPolicy, key_path: KeyPath, entry: SymlinkEntry, item: str | None,
                errors: list[PolicyError]) -> DeviceRef:
    if entry.target is not None:
        return DeviceRef("node", _expanded_path(loaded, key_path + ("target",), entry.target, item,
                                                dev_path_problem, errors))
    assert entry.device is not None  # the model guarantees one of the two
    for by in ("serial", "wwn", "path", "kernel"):
        value = getattr(entry.device, by)
        if value:
            return DeviceRef(by, substitute(value, item))
    raise AssertionError("device identity without a value")


def _expand_symlinks(loaded: LoadedPolicy, index: int, entry: SymlinkEntry,
                     errors: list[PolicyError]) -> list[DesiredSymlink]:
    key_path: KeyPath = ("symlinks", index)
    mark = loaded.source.mark(key_path)
    return [
        DesiredSymlink(
            policy=loaded.policy.name, entry=_entry_name(key_path, item),
            link=_expanded_path(loaded, key_path + ("link",), entry.link, item, dev_path_problem, errors),
            device=_device_ref(loaded, key_path, entry, item, errors),
            required=entry.required, policy_path=loaded.source.path,
            policy_line=mark.line if mark else None, exclusive=entry.exclusive,
        )
        for item in _items(loaded, key_path, entry, errors)
    ]


def expand_policy(loaded: LoadedPolicy) -> DesiredPolicy:
    """Expand one policy; raises PolicyError/PolicyErrors listing every problem found."""
    errors: list[PolicyError] = []
    rules: list[DesiredRules] = []
    symlinks: list[DesiredSymlink] = []
    policy = loaded.policy
    budget = _Budget()
    for index, rules_entry in enumerate(policy.rules):
        rules.extend(_expand_rules(loaded, index, rules_entry, errors, budget))
    for index, symlink_entry in enumerate(policy.symlinks):
        symlinks.extend(_expand_symlinks(loaded, index, symlink_entry, errors))
    links: dict[str, str] = {}
    for symlink in symlinks:
        if symlink.link in links:
            errors.append(PolicyError(symlink.policy_path, symlink.policy_line, None,
                                      f"at '{symlink.entry}': link {symlink.link} is already "
                                      f"given by {links[symlink.link]}"))
        links.setdefault(symlink.link, symlink.entry)
    raise_all(errors)
    return DesiredPolicy(
        name=policy.name, path=loaded.source.path, description=policy.description,
        rules=tuple(rules), symlinks=tuple(symlinks),
        reload=policy.apply.reload, trigger=policy.apply.trigger,
    )
