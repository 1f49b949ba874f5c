"""What adopt gives: the entries of the adopted policy and the notes on what it left out.

Plain data below plan.py (which builds it) and render.py (which writes it), so that the
two need not import each other.
"""

from __future__ import annotations

from checker.adopt.links import AdoptedLink
from checker.adopt.template import Piece
from checker.policy.desired import Ensure
from checker.records import dataclass, field
from checker.rules.semantics import DEFAULT, UdevSemantics


@dataclass(frozen=True)
class AdoptedRules:
    """One rules entry of the adopted policy (a template when the piece has items)."""

    file: str
    ensure: Ensure
    piece: Piece
    comment: tuple[str, ...] = ()


@dataclass
class Adoption:
    rules: list[AdoptedRules] = field(default_factory=list)
    links: list[AdoptedLink] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was seen but not adopted, and why
    semantics: UdevSemantics = DEFAULT  # whose udev read the rules
    udev_line: str = ""  # the policy's comment saying so (render.udev_line)

    @property
    def empty(self) -> bool:
        return not self.rules
