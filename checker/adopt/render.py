"""The adopted entries as a commented YAML policy, checked by the real validator.

The text is written by hand (PyYAML's dumper drops comments and folds long rules), and
written so that no character of a file name, rule, serial or note can leave the place it
is written into, whatever it holds:

- a value is plain only where it holds nothing but characters that are plain in that very
  context (a flow list `[a, b]` or mapping `{serial: x}` ends a plain scalar at `,`, `]`
  and `}`, a block mapping does not) and reads back as the same string; anything else is
  a double-quoted string in which every character outside printable ASCII, and `"` and
  `\\`, is an escape: it is one line, whatever line breaks the value holds;
- a rule's text is a literal block where that block reads back as exactly the text, else
  such a double-quoted string;
- comment text has every YAML line break (LF, CR, NEL, LS, PS), every control and
  non-printable character and the bidirectional controls shown as escapes, so a comment
  ends only where adopt ends it.

The whole document is then loaded back and must be exactly the entries meant, and is
validated and expanded as `validate` would before it is shown. `fit` keeps the policy
within what the loader accepts, leaving out (and naming) the rules files that would not fit
or that the validator refuses, so that one file never stops the others being adopted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml

from checker.adopt.links import AdoptedLink
from checker.errors import PolicyError, PolicyErrors, UdevDriftError
from checker.policy.expand import MAX_EXPANDED_BYTES, MAX_EXPANDED_RULES, expand_policy
from checker.policy.files import MAX_POLICY_BYTES
from checker.policy.loader import MAX_VALUES, LoadedPolicy, parse_yaml, validate_data
from checker.policy.model import MAX_NAME_LENGTH, PLACEHOLDER
from checker.policy.semantics import problems_for
from checker.records import dataclass, field
from checker.rules.semantics import DEFAULT, UdevSemantics

if TYPE_CHECKING:
    from checker.adopt.entries import AdoptedRules, Adoption

HEADER = """\
# Adopted by `udev-drift adopt`: the udev rules and links this host has now that no
# package put there. Read it, then keep it in /etc/udev-drift/policies.d/ (or rerun with
# --write): `udev-drift check --repair` then only marks the adopted blocks, and from then
# on puts these rules back whenever an update or an editor takes them away.
"""
DESCRIPTION = "Rules and links adopted from this host by udev-drift adopt"
MISSING_NOW = "  # missing now: the first repair (or udev's next event for the disk) makes it\n"

# Characters a plain scalar may hold here (the load-back decides the rest): in a block
# mapping, printable ASCII; in a flow collection, none of its indicators or spaces.
_PLAIN_BLOCK = re.compile(r"[A-Za-z0-9/._-](?:[\x20-\x7e]*[\x21-\x7e])?")
_PLAIN_FLOW = re.compile(r"[A-Za-z0-9_./@%+=-]+")
# Plain without asking the loader (which a host of 20,000 files would ask 40,000 times):
# an absolute path of these characters, which no resolver reads as anything but text, and
# a block whose every line is empty or starts with a printable character other than a space.
# The whole document is loaded back in the end all the same.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/._@+=,-]*")
# ... and a word led by a letter (a kernel name, a serial) that is none of YAML 1.1's
# booleans or nulls: a file of 87,000 rules folds into as many items.
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_./@%+=-]*")
_RESOLVED_WORDS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n", "nan", "inf"}
_SIMPLE_BLOCK = re.compile(r"[\x21-\x7e][\t\x20-\x7e]*\n(?:(?:[\x21-\x7e][\t\x20-\x7e]*)?\n)*")
# In a double-quoted string: everything but printable ASCII, and its own two indicators.
_NOT_QUOTABLE = re.compile(r'[^\x20-\x7e]|["\\]')
# In a comment: YAML's line breaks and non-printable characters (surrogates included), C0
# and C1 controls, DEL, bidirectional controls and the byte-order mark.
_NOT_IN_COMMENT = re.compile(
    "[^\t\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
    "|[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if char in '"\\':
        return "\\" + char
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def quoted(value: str) -> str:
    """`value` as a one-line double-quoted YAML string of printable ASCII."""
    return '"' + _NOT_QUOTABLE.sub(_escape, value) + '"'


def _reads_back(document: str, value: Any) -> bool:
    """Whether `document` reads as `value` both by the policy loader (libyaml where it is
    there, which differs from PyYAML on tabs) and by PyYAML's own safe loader (what another
    tool reading the policy would use)."""
    try:
        return bool(yaml.safe_load(document) == value and parse_yaml(document, "<adopted>")[0] == value)
    except Exception:  # noqa: BLE001 - PyYAML raises more than YAMLError (`!!int` alone: IndexError)
        return False


def scalar(value: str) -> str:
    """`value` for a block mapping (`key: value`): plain when that reads back as the same
    string (sdb stays plain, 0x5... and yes are quoted), else double-quoted."""
    if _PLAIN_PATH.fullmatch(value):
        return value
    if _PLAIN_BLOCK.fullmatch(value) and _reads_back(f"k: {value}\n", {"k": value}):
        return value
    return quoted(value)


def flow_scalar(value: str) -> str:
    """`value` inside a flow collection (`[a, b]`, `{serial: x}`)."""
    if _PLAIN_WORD.fullmatch(value) and value.lower() not in _RESOLVED_WORDS:
        return value
    if _PLAIN_FLOW.fullmatch(value) and _reads_back(f"k: [{value}]\n", {"k": [value]}):
        return value
    return quoted(value)


def comment_text(text: str) -> str:
    """`text` as the body of one comment line: nothing in it can end the comment."""
    return _NOT_IN_COMMENT.sub(_escape, text)


def _block_scalar(text: str) -> str:
    """`text` as the literal block of a `content:` key (at 4 spaces), or a double-quoted
    string where a block cannot hold it (carriage returns, control characters)."""
    chomp = "-" if not text.endswith("\n") else ("+" if text.endswith("\n\n") or text == "\n" else "")
    # The indentation is told, not detected, where the first line that is not all spaces
    # starts with a space or a tab (YAML would take it for indentation, libyaml refuses a tab).
    first = next((line for line in text.splitlines() if line.strip(" ")), "")
    header = "|" + ("2" if first[:1] in (" ", "\t") else "") + chomp
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    body = "".join("      " + line + "\n" if line else "\n" for line in lines)
    rendered = f"{header}\n{body}"
    if _SIMPLE_BLOCK.fullmatch(text) and not text.endswith("\n\n"):
        return rendered
    # Read back in the very context it is written into: a mapping in a list item.
    context = f"rules:\n  - k: x\n    content: {rendered}"
    if text and _reads_back(context, {"rules": [{"k": "x", "content": text}]}):
        return rendered
    return quoted(text) + "\n"


def _comment(lines: Sequence[str], indent: int) -> str:
    return "".join(" " * indent + "# " + comment_text(line) + "\n" for line in lines)


def _items(items: Sequence[str]) -> str:
    return "[" + ", ".join(flow_scalar(item) for item in items) + "]"


def rules_entry(entry: AdoptedRules) -> str:
    out = _comment(entry.comment, 2)
    out += f"  - file: {scalar(entry.file)}\n    ensure: {entry.ensure}\n"
    if entry.piece.items is not None:
        out += f"    for_each: {_items(entry.piece.items)}\n"
    return out + "    content: " + _block_scalar(entry.piece.text)


def link_entry(entry: AdoptedLink) -> str:
    out = MISSING_NOW if entry.missing_now else ""
    out += f"  - link: {scalar(entry.link)}\n"
    if entry.items is not None:
        out += f"    for_each: {_items(entry.items)}\n"
    if entry.device is not None:
        out += f"    device: {{{entry.device[0]}: {flow_scalar(entry.device[1])}}}\n"
    else:
        assert entry.target is not None
        out += f"    target: {scalar(entry.target)}\n"
    return out + "    required: false   # an unplugged disk is reported \"absent\", not drift\n"


def _rules_data(entry: AdoptedRules) -> dict[str, Any]:
    data: dict[str, Any] = {"file": entry.file, "ensure": entry.ensure}
    if entry.piece.items is not None:
        data["for_each"] = list(entry.piece.items)
    data["content"] = entry.piece.text
    return data


def _link_data(entry: AdoptedLink) -> dict[str, Any]:
    data: dict[str, Any] = {"link": entry.link}
    if entry.items is not None:
        data["for_each"] = list(entry.items)
    if entry.device is not None:
        data["device"] = {entry.device[0]: entry.device[1]}
    else:
        data["target"] = entry.target
    data["required"] = False
    return data


# The line that says whose udev read the rules: at most this long (the policy's size is
# budgeted before the source is known).
MAX_UDEV_LINE = 160


def udev_line(semantics: UdevSemantics, source: str) -> str:
    """The header's comment on the udev semantics the rules were read with."""
    said = comment_text(source).encode("ascii", "backslashreplace").decode("ascii")
    line = f"# The rules were read as udev {semantics.version} reads them ({said})"
    if semantics.is_219:
        line += "; check it with `udev-drift validate --udev 219`"
    return (line if len(line) < MAX_UDEV_LINE else line[:MAX_UDEV_LINE - 4] + "...") + "\n"


def _top(name: str, udev: str = "") -> str:
    return HEADER + udev + f"version: 1\nname: {name}\ndescription: {DESCRIPTION}\n"


def _document(name: str, rules: Sequence[str], links: Sequence[str], udev: str = "") -> str:
    text = _top(name, udev)
    if rules:
        text += "rules:\n" + "".join(rules)
    if links:
        text += "symlinks:\n" + "".join(links)
    return text


def intended(rules: Sequence[AdoptedRules], links: Sequence[AdoptedLink], name: str) -> dict[str, Any]:
    """What the rendered policy must load as, exactly."""
    data: dict[str, Any] = {"version": 1, "name": name, "description": DESCRIPTION}
    if rules:
        data["rules"] = [_rules_data(entry) for entry in rules]
    if links:
        data["symlinks"] = [_link_data(entry) for entry in links]
    return data


def render_unchecked(adoption: Adoption, name: str) -> str:
    """The policy's text, not yet loaded back nor validated."""
    return _document(name, [rules_entry(e) for e in adoption.rules], [link_entry(e) for e in adoption.links],
                     adoption.udev_line)


def render(adoption: Adoption, name: str) -> str:
    text = render_unchecked(adoption, name)
    data = _validate(text, name, adoption.semantics)
    if data != intended(adoption.rules, adoption.links, name):
        raise UdevDriftError(f"internal error: the adopted policy {name} does not read back as the "
                             "entries adopt meant; nothing was written")
    return text


def _validate(text: str, name: str, semantics: UdevSemantics = DEFAULT) -> Any:
    """What `validate` (with `--udev 219` for a udev 219 host) would say of the policy; a
    fault of adopt itself if it refuses it. Returns the loaded data."""
    try:
        data, source = parse_yaml(text, f"<adopted policy {name}>")
        policy = expand_policy(LoadedPolicy(validate_data(data, source), source))
        if semantics.is_219:
            errors, _ = problems_for(policy, semantics)
            if errors:
                raise errors[0]
    except UdevDriftError as error:
        raise UdevDriftError(f"internal error: the adopted policy does not validate: {error}") from None
    return data


# -- what fits in one policy ------------------------------------------------------------

def _values(data: Any) -> int:
    """The YAML values `data` stands for, as the loader counts them (each node once)."""
    if isinstance(data, dict):
        return 1 + sum(_values(key) + _values(value) for key, value in data.items())
    if isinstance(data, list):
        return 1 + sum(_values(value) for value in data)
    return 1


def _expanded(content: str, items: Sequence[str] | None) -> tuple[int, int]:
    """The rules and bytes an entry expands into, counted as checker.policy.expand does."""
    expanded: list[str | None] = list(items) if items is not None else [None]
    lines = sum(1 for line in content.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    placeholders = [len(match.group(0)) for match in PLACEHOLDER.finditer(content)]
    size = sum(len(content) + 1 + sum(len(item or "") - length for length in placeholders)
               for item in expanded)
    return lines * len(expanded), size


@dataclass
class _Cost:
    bytes: int = 0
    values: int = 0
    rules: int = 0
    rules_bytes: int = 0

    def plus(self, other: _Cost) -> _Cost:
        return _Cost(self.bytes + other.bytes, self.values + other.values, self.rules + other.rules,
                     self.rules_bytes + other.rules_bytes)

    def too_much(self) -> str | None:
        """Which limit of the policy loader this goes past, or None."""
        if self.bytes > MAX_POLICY_BYTES:
            return f"the policy would be larger than {MAX_POLICY_BYTES // 1024} KiB"
        if self.values > MAX_VALUES:
            return f"the policy would stand for more than {MAX_VALUES:,} YAML values"
        if self.rules > MAX_EXPANDED_RULES:
            return f"the policy would expand to more than {MAX_EXPANDED_RULES:,} rules"
        if self.rules_bytes > MAX_EXPANDED_BYTES:
            return f"the policy would expand to more than {MAX_EXPANDED_BYTES // (1024 * 1024)} MiB of rules"
        return None


def _rules_cost(entry: AdoptedRules) -> _Cost:
    rules, size = _expanded(entry.piece.text, entry.piece.items)
    if len(entry.piece.text) > MAX_POLICY_BYTES:  # too large whatever its form: not rendered to know
        return _Cost(len(entry.piece.text), 0, rules, size)
    return _Cost(len(rules_entry(entry).encode("utf-8", "surrogateescape")), _values(_rules_data(entry)) + 1,
                 rules, size)


def _link_cost(entry: AdoptedLink) -> _Cost:
    return _Cost(len(link_entry(entry).encode("utf-8", "surrogateescape")), _values(_link_data(entry)) + 1)


def _empty_cost() -> _Cost:
    """The policy without entries, under the longest name and udev line, with both list keys."""
    text = _top("x" * MAX_NAME_LENGTH, "#" * MAX_UDEV_LINE + "\n") + "rules:\nsymlinks:\n"
    data = {"version": 1, "name": "x" * MAX_NAME_LENGTH, "description": DESCRIPTION,
            "rules": [], "symlinks": []}
    return _Cost(len(text.encode("utf-8")), _values(data))


_WHERE = re.compile(r"at '[^']*': ")


def _refusal(rules: Sequence[AdoptedRules], links: Sequence[AdoptedLink],
             semantics: UdevSemantics = DEFAULT) -> str | None:
    """What the validator (`--udev 219` too, for a udev 219 host) says of a policy of just
    these entries, or None when it accepts it."""
    text = _document("adopted", [rules_entry(e) for e in rules], [link_entry(e) for e in links])
    try:
        data, source = parse_yaml(text, "<adopted policy>")
        policy = expand_policy(LoadedPolicy(validate_data(data, source), source))
        if semantics.is_219:
            errors, _ = problems_for(policy, semantics)
            if errors:
                raise errors[0]
    except PolicyErrors as errors:
        return _WHERE.sub("", errors.errors[0].message, count=1)
    except PolicyError as error:
        return _WHERE.sub("", error.message, count=1)
    except UdevDriftError as error:
        return str(error)
    if data != intended(rules, links, "adopted"):
        return "its entries do not read back as written"
    return None


_Group = tuple[str, Sequence["AdoptedRules"], Sequence[AdoptedLink]]


def _refused(groups: Sequence[_Group], semantics: UdevSemantics = DEFAULT) -> list[tuple[str, str]]:
    """(name, why) of each group the validator refuses: all of them checked at once, and
    halved only where something is refused, so a host of 20,000 good files costs one check."""
    if not groups:
        return []
    why = _refusal([e for _, rules, _ in groups for e in rules], [e for _, _, links in groups for e in links],
                   semantics)
    if why is None:
        return []
    if len(groups) == 1:
        return [(groups[0][0], why)]
    middle = len(groups) // 2
    return _refused(groups[:middle], semantics) + _refused(groups[middle:], semantics)


def _left_out(names: list[str], reason: str, what: str, notes: list[str]) -> None:
    if len(names) == 1:
        notes.append(f"{names[0]}: left out: {reason}; adopt it in another run (--name OTHER)")
    elif names:
        shown = ", ".join(names[:3]) + (f", ..., {names[-1]}" if len(names) > 3 else "")
        notes.append(f"{len(names)} {what} left out: {reason} ({shown}); adopt them in another run "
                     "(--name OTHER, naming them)")


@dataclass
class Fitter:
    """Keeps an adopted policy within what the policy loader accepts and what the validator
    takes: the entries of a rules file go in whole or not at all, in order, while they fit;
    what is left out is named with the reason (the other files are adopted all the same)."""

    notes: list[str]
    semantics: UdevSemantics = DEFAULT  # the host's udev: a udev 219 host's policy validates for 219 too
    cost: _Cost = field(default_factory=_empty_cost)

    def files(self, files: Sequence[tuple[str, Sequence[AdoptedRules]]]) -> set[str]:
        """The paths of the files whose entries are in the policy."""
        fitting: list[_Group] = []
        left: dict[str, list[str]] = {}
        for path, entries in files:
            if not entries:
                continue
            own = _Cost()
            for entry in entries:
                own = own.plus(_rules_cost(entry))
            cost = self.cost.plus(own)
            reason = cost.too_much()
            if reason is not None:
                if _empty_cost().plus(own).too_much() is not None:
                    self.notes.append(f"{path}: left out: {reason} with this file alone")
                else:
                    left.setdefault(reason, []).append(path)
                continue
            self.cost = cost
            fitting.append((path, entries, ()))
        for reason, paths in left.items():
            _left_out(paths, reason, "rules files", self.notes)
        refused = dict(_refused(fitting, self.semantics))
        for path, why in refused.items():
            self.notes.append(f"{path}: not adopted: a policy could not hold its rules ({why})")
        return {path for path, _, _ in fitting if path not in refused}

    def links(self, links: Sequence[AdoptedLink]) -> list[AdoptedLink]:
        """The symlink entries that fit after the files' entries."""
        fitting: list[AdoptedLink] = []
        left: dict[str, list[str]] = {}
        for entry in links:
            cost = self.cost.plus(_link_cost(entry))
            reason = cost.too_much()
            if reason is not None:
                left.setdefault(reason, []).append(entry.link)
                continue
            self.cost = cost
            fitting.append(entry)
        for reason, names in left.items():
            _left_out(names, reason, "links", self.notes)
        refused = dict(_refused([(str(number), (), (entry,)) for number, entry in enumerate(fitting)]))
        for number, why in refused.items():
            self.notes.append(f"{fitting[int(number)].link}: link not adopted: a policy could not "
                              f"hold it ({why})")
        return [entry for number, entry in enumerate(fitting) if str(number) not in refused]
