"""Which udev's rules language and evaluation apply: 219 (RHEL/CentOS 7: XenServer 8,
XCP-ng 8 dom0s) or 252 (Debian 12).

One small value threaded through the parser (`parse_rules(text, semantics)`), the rule
set (`RuleSet.from_parsed(files, semantics)`) and so the evaluator. Where udev-drift
knows the host's version, `for_version()` gives the semantics it follows; how the version
was found is the caller's business (checker.observe.versions.udev_semantics()).
"""

from __future__ import annotations

from checker.records import dataclass

SUPPORTED = (219, 252)


@dataclass(frozen=True)
class UdevSemantics:
    version: int  # 219 or 252: whose udev-rules.c is followed

    @property
    def name(self) -> str:
        return str(self.version)

    @property
    def is_219(self) -> bool:
        return self.version == 219

    def __str__(self) -> str:
        return f"udev {self.version}"


UDEV_219 = UdevSemantics(219)
UDEV_252 = UdevSemantics(252)
DEFAULT = UDEV_252

# udev's rules parser was rewritten in systemd 243 (the reader 252 has); 219 is the
# newest of the old one that udev-drift follows (RHEL 7 stayed on it).
_NEW_PARSER_FROM = 243


def for_version(number: int) -> tuple[UdevSemantics, str]:
    """The semantics for a host whose udev is `number`, and a note when it is not one
    udev-drift was proven against (empty when it is)."""
    if number in SUPPORTED:
        return UdevSemantics(number), ""
    chosen = UDEV_219 if number < _NEW_PARSER_FROM else UDEV_252
    return chosen, (f"udev {number} is not one udev-drift was tested against; "
                    f"it applies udev {chosen.version}'s, the nearest it knows")


def parse_choice(text: str) -> UdevSemantics | None:
    """--udev 219|252 (None for "auto")."""
    if text == "auto":
        return None
    if text.isdigit() and int(text) in SUPPORTED:
        return UdevSemantics(int(text))
    raise ValueError(f"expected 219, 252 or auto, got {text!r}")
