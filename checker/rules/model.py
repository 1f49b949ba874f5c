"""Plain values for udev rules as udev reads them: what the parser gives everyone else."""

from __future__ import annotations

from checker.records import dataclass, field


@dataclass(frozen=True, slots=True)  # 150,000 of them for a 50,000-rule host: no dict each
class Token:
    """One `KEY{attr}OP"value"` pair of a rule."""

    key: str  # upper-case key name as written: "KERNEL", "ATTR", "ENV", "RUN", ...
    attr: str | None  # the part in braces, or None
    op: str  # one of == != = += -= :=
    value: str  # the value as udev sees it: quotes removed, \" and e"..." escapes resolved
    column: int  # 1-based column of the key within the logical line

    @property
    def is_match(self) -> bool:
        """Matches run before assignments whatever their place on the line."""
        return self.op in ("==", "!=")


@dataclass(frozen=True, slots=True)  # no dict each (a rules file can hold 30,000)
class Rule:
    """One logical rule line (continuations joined), with where it stands in its file."""

    line: int  # 1-based number of the first physical line
    end_line: int  # 1-based number of the last physical line (continuations)
    text: str  # the logical line after joining continuations, as written
    tokens: tuple[Token, ...]  # every token parsed (up to the error, for a dropped rule)
    problem: str | None = None  # why udev drops this rule; None when udev accepts it
    canonical: str = ""  # canonical form; equal for rules that udev treats the same
    # what udev logs but accepts: a key it ignores, an operator it replaces, a line with no effect
    warnings: tuple[str, ...] = ()

    @property
    def dropped(self) -> bool:
        return self.problem is not None


@dataclass(frozen=True)
class RulesText:
    """A parsed rules file (or a fragment of one, such as a policy's content)."""

    rules: tuple[Rule, ...]
    lines: tuple[str, ...] = field(default=())  # the physical lines, without line endings
