"""Every rule in udev's order, as systemd 252's udev-rules.c applies them to one event.

`udev_rules_apply_to_event()` runs each file's lines in order. A line runs only when it
could do something for this device (`udev_rule_apply_line_to_event()`'s mask); its match
tokens run in udev's token order and the first that fails ends the line; then its
assignments run, then its GOTO jumps to the LABEL's line. The parent keys (KERNELS,
SUBSYSTEMS, DRIVERS, ATTRS, TAGS) of one line must all match on one device of the chain,
which starts at the device itself.

Three-valued: where a token's answer cannot be known (a PROGRAM, an import, an attribute
not in the facts), both worlds are run and joined at the next line, or at the LABEL
where a GOTO lands; whatever differs between them is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Union

from checker.evaluate.facts import DeviceFacts, NodeFacts
from checker.evaluate.glob import Matcher, token_matches
from checker.evaluate.link_names import as_written
from checker.evaluate.result import Evaluation
from checker.evaluate.ruleset import (
    A_MIN,
    BUILTIN_SETS,
    CAN_SET_NAME,
    HAS_DEVLINK,
    HAS_GOTO,
    HAS_NAME,
    UPDATE_MATCHES,
    UPDATE_SOMETHING,
    Line,
    RuleSet,
    RulesFile,
    split_links,
)
from checker.evaluate.state import MemberSet, State, join_all, new_state
from checker.evaluate.substitute import (
    UDEV_LINE_SIZE,
    UDEV_NAME_SIZE,
    UDEV_PATH_SIZE,
    Context,
    Piece,
    byte_length,
    expand,
    expand_within,
    map_known,
    replace_chars,
    to_text,
)
from checker.evaluate.trace import LinkEvent, Step, Where
from checker.evaluate.truncate219 import NAME_SIZE_219, PATH_SIZE_219, cut_joined, format_219
from checker.evaluate.values import Text, Tri, Unknown, Value, join_values
from checker.records import dataclass
from checker.rules.canonical import RANK, Meaning

_M_PARENTS = frozenset(RANK[n] for n in ("M_PARENTS_KERNEL", "M_PARENTS_SUBSYSTEM",
                                         "M_PARENTS_DRIVER", "M_PARENTS_ATTR", "M_PARENTS_TAG"))
_PURE = frozenset(r for r in range(A_MIN) if r not in UPDATE_MATCHES and r not in _M_PARENTS)


# --- one evaluation ----------------------------------------------------------------------


@dataclass
class _Branch:
    state: State
    completed: bool  # every match token passed
    why: str = ""  # the token that failed or was unknown


class _Run:
    """One evaluation's bookkeeping (a plain class: a host of N disks makes 2N of them)."""

    __slots__ = ("facts", "trace", "steps", "link_events", "env_writers", "final_at", "answers", "old")

    def __init__(self, facts: DeviceFacts, trace: bool, old: bool = False) -> None:
        self.facts = facts
        self.trace = trace
        # Steps, or what makes them (Step is built when asked for: most rules only fail or
        # are jumped over, and a trace of 2,000 Steps was a quarter of an evaluation)
        self.steps: list[Step | tuple[Any, ...]] = []
        self.link_events: list[LinkEvent] = []
        self.env_writers: list[tuple[Where, str]] = []
        self.final_at: Where | None = None  # the SYMLINK:= that made the links final
        self.answers: dict[Meaning, Tri] = {}  # answers from the facts alone
        self.old = old  # udev 219's evaluation (RuleSet.semantics)


def evaluate(rules: RuleSet, facts: DeviceFacts, trace: bool = True) -> Evaluation:
    """Apply every rule to the device as udev 252 would for `facts.action`."""
    run = _Run(facts, trace, old=rules.semantics.is_219)
    mask = HAS_GOTO | UPDATE_SOMETHING
    if facts.action != "remove":
        if facts.devnum is not None:
            mask |= HAS_DEVLINK
        if facts.ifindex is not None:
            mask |= HAS_NAME
    state: State | None = new_state()
    assert state is not None
    if facts.db_tags is None:
        state.all_tags.add_pattern("*")
    else:
        for tag in facts.db_tags:
            state.all_tags.add(tag)
    if facts.action == "remove":
        # event_execute_rules_on_remove() reads the database into the device first: its
        # links (SYMLINK==), properties (ENV==) and tags are the last event's
        if facts.db_links is None:
            state.links.add_pattern("*")
        else:
            for link in facts.db_links:
                state.links.add(link)
        if facts.db_tags is None:
            state.tags.add_pattern("*")
        else:  # the database's current tags (Q:) are among its tags (G:, what libudev gives)
            for tag in facts.db_tags:
                state.tags.maybe_add(tag)
        if facts.db_properties is not None:
            for name, value in facts.db_properties.items():
                state.set_prop(name, value)
    for rules_file in rules.files:
        assert state is not None  # a GOTO lands within its file
        state = _run_file(run, rules_file, state, mask)
    assert state is not None
    if run.old:
        _expand_run_219(state, facts)
    return Evaluation(rules, facts, state, tuple(run.steps), tuple(run.link_events), tuple(run.env_writers),
                      rules.semantics.name)


def _run_file(run: _Run, rules_file: RulesFile, state: State, mask: int) -> State:
    arrivals: dict[int, list[State]] = {}
    jumpers: dict[int, Where] = {}  # landing index -> a GOTO whose worlds land there
    current: State | None = state
    skipped_by: Where | None = None
    facts = run.facts
    trace = run.trace
    steps = run.steps
    lines = rules_file.lines
    index, count = 0, len(lines)
    while index < count:
        line = lines[index]
        if arrivals:
            landing = arrivals.pop(index, None)
            if landing is not None:
                current = join_all(([current] if current is not None else []) + landing, facts)
                skipped_by = None
        if current is None:
            # every world jumped: go straight to the first LABEL one of them lands on
            target = min(arrivals)
            if trace:
                steps.append(("jumped", lines[index:target], skipped_by))
            index = target
            continue
        index += 1
        if not line.kind & mask or (line.kind & CAN_SET_NAME and not mask & (HAS_DEVLINK | HAS_NAME)):
            if trace and line.matches:
                steps.append(Step(line.where, "no-effect", "nothing it does applies to this event"))
            continue
        failed = _quick_reject(run, line, current)
        effects: list[str] = []
        if failed is _ALL_MATCHED:
            # every match surely passed on the facts alone: one world, nothing copied
            done: list[_Branch] = [_Branch(current, True)]
            stopped: list[_Branch] = []
            finished = [_assign(run, line, current, True, effects)]
        elif failed is not None:
            if trace:
                steps.append(("failed", line, failed))
            continue
        else:
            branches = _run_matches(run, line, current)
            done = [b for b in branches if b.completed]
            stopped = [b for b in branches if not b.completed]
            if done:
                certain = not stopped
                finished = [_assign(run, line, b.state, certain, effects) for b in done]
            else:
                finished = []
        if trace:
            step = _step(line, done, stopped, effects)
            if arrivals and step.status == "matched":  # some worlds jumped over this line
                jumper = jumpers[max(arrivals)]
                step = step._replace(status="unknown", why=f"the GOTO at {jumper} may jump over it",
                                     decided_by=f"GOTO at {jumper}")
            steps.append(step)
        onward = [b.state for b in stopped]
        if line.goto is not None and finished:
            arrivals.setdefault(line.goto, []).extend(finished)
            jumpers[line.goto] = line.where
            if not onward:
                skipped_by = line.where
        else:
            onward += finished
        current = join_all(onward, facts)
    if current is None:  # cannot happen: a GOTO lands on a later line of its file
        raise AssertionError("GOTO past the end of " + rules_file.path)
    return current


def _step(line: Line, done: list[_Branch], stopped: list[_Branch], effects: list[str]) -> Step:
    if not stopped:
        return Step(line.where, "matched", "", tuple(effects))
    if not done:
        why = stopped[0].why
        return Step(line.where, "not-matched", why, decided_by=why)
    why = next((b.why for b in stopped if b.why), "")
    return Step(line.where, "unknown", why, tuple(effects), decided_by=why)


# --- match tokens ------------------------------------------------------------------------


_M_ATTR = RANK["M_ATTR"]
_FACTS_ONLY = frozenset(RANK[n] for n in ("M_ACTION", "M_DEVPATH", "M_KERNEL", "M_SUBSYSTEM",
                                          "M_DRIVER", "M_CONST"))


def _quick_reject(run: _Run, line: Line, state: State) -> Meaning | None:
    """The first of the line's leading plain matches that surely fails, if one does: most
    lines end there, and need no copy of the state. _ALL_MATCHED when every match is a
    plain one that surely passes (the line then runs in the one world it was reached in,
    as _run_matches() would run it). Answers that depend only on the facts are kept for
    the whole evaluation."""
    cache = run.answers
    for m in line.matches:
        rank = m.rank
        if rank not in _PURE:
            return None
        if rank in _FACTS_ONLY or (rank == _M_ATTR and not state.written_attrs and m.attr is not None
                                   and "%" not in m.attr and "$" not in m.attr):
            answer = cache.get(m)
            if answer is None:
                answer = cache[m] = _pure(m, state, run.facts, run.old)
        else:
            answer = _pure(m, state, run.facts, run.old)
        if answer is Tri.NO:
            return m
        if answer is Tri.UNKNOWN:
            return None
    return _ALL_MATCHED


_ALL_MATCHED = Meaning(-1, "", None, "", "")  # _quick_reject(): no match left to run


def _describe(m: Meaning) -> str:
    return m.text


def _run_matches(run: _Run, line: Line, state: State) -> list[_Branch]:
    """The worlds after the line's match tokens: completed ones go on to the assignments."""
    facts = run.facts
    branches: list[_Branch] = []
    live = [state]
    copied = False
    parents_done = False
    for m in line.matches:
        rank = m.rank
        if rank in _M_PARENTS:
            if parents_done:
                continue
            parents_done = True
            parent_tokens = [t for t in line.matches if t.rank in _M_PARENTS]
            next_live: list[State] = []
            for s in live:
                outcomes = _walk_parents(parent_tokens, s, facts, run.old)
                for outcome, dev_parent in outcomes:
                    # one outcome: the world goes on as it is (each state is in one place)
                    ns = s if len(outcomes) == 1 else s.copy()
                    ns.dev_parent = dev_parent
                    if outcome:
                        next_live.append(ns)
                    else:
                        branches.append(_Branch(ns, False, _parents_why(parent_tokens)))
            live = next_live
            copied = True
            if not live:
                return branches
            continue
        if rank in _PURE:
            answers = [(s, _pure(m, s, facts, run.old)) for s in live]
        else:
            if not copied:
                live = [s.copy() for s in live]
                copied = True
            answers = [(s, _effectful(run, line, m, s, facts)) for s in live]
        live = []
        for s, answer in answers:
            if answer is Tri.YES:
                live.append(s)
            elif answer is Tri.NO:
                branches.append(_Branch(s, False, _describe(m)))
            else:
                branches.append(_Branch(s, False, "unknown: " + _describe(m)))
                live.append(s.copy())
        if not live:
            return branches
    branches.extend(_Branch(s, True) for s in live)
    return branches


def _parents_why(tokens: list[Meaning]) -> str:
    return "no device of the chain matches " + ", ".join(t.text for t in tokens)


_MATCHERS: dict[Meaning, Matcher] = {}  # Meanings are shared and never change


def _string_match(m: Meaning, value: Value, subsystem: bool = False) -> Tri:
    matcher = _MATCHERS.get(m)
    if matcher is None:
        if len(_MATCHERS) > 65536:
            _MATCHERS.clear()
        matcher = _MATCHERS[m] = Matcher.of(m.value, True, subsystem)
    if isinstance(value, Unknown):
        return Tri.UNKNOWN
    answer = matcher.matches(value or "")
    if m.op == "==":
        return answer
    return ~answer


def _pure(m: Meaning, state: State, facts: DeviceFacts, old: bool = False) -> Tri:
    key = m.key
    if old and key in ("TAG", "WAIT_FOR", "SYMLINK"):
        return _pure_219(m, state)
    node = facts.node
    if key == "KERNEL":
        return _string_match(m, node.kernel)
    if key == "SUBSYSTEM":
        return _string_match(m, node.subsystem, subsystem=True)
    if key == "ACTION":
        return _string_match(m, facts.action)
    if key == "ENV":
        return _string_match(m, state.prop(m.attr or "", facts))
    if key == "DEVPATH":
        return _string_match(m, node.devpath if node.devpath is not None else Unknown("*", "devpath"))
    if key == "DRIVER":
        return _string_match(m, node.driver)
    if key == "NAME":
        return _string_match(m, state.name)
    if key == "ATTR":
        return _attr_match(m, node, 0, state, facts, old)
    if key == "SYMLINK":
        matcher = Matcher.of(m.value)
        return token_matches(m.op, state.links.any_matches(matcher.matches))
    if key == "TAG":
        return token_matches(m.op, _has_tag(state, Matcher.of(m.value), facts))
    if key == "CONST":
        known = facts.consts.get(m.attr or "")
        return _string_match(m, known if known is not None else Unknown("*", f"CONST{{{m.attr}}}"))
    if key == "SYSCTL":
        return Tri.UNKNOWN
    if key == "TEST":
        return _test(m, state, facts, old)
    if key == "RESULT":
        return _string_match(m, state.program_result)
    raise AssertionError(key)


def _has_tag(state: State, matcher: Matcher, facts: DeviceFacts) -> Tri:
    """TAG== (and TAGS== on the device itself) in udev 252: FOREACH_DEVICE_CURRENT_TAG()
    reads the current tags, unless the device's database_version is 0, and then every tag
    (sd_device_get_current_tag_first()). A worker forked for an event runs the manager's own
    sd_device, version 0, to which udev_event_execute_rules() copied the database's tags
    (copy_all_tags(): G: lines); a worker that already ran gets the event through a monitor
    message that says UDEV_DATABASE_VERSION=1. So a tag only in the database, or one TAG-=
    removed, matches in one and not the other, and which worker runs an event is not known
    (seen with udevd 252: tests/evaluate/test_db_tags_real.py). On remove the database,
    read into the device, sets version 1: the current tags."""
    current = state.tags.any_matches(matcher.matches)
    if facts.action == "remove" or current is Tri.YES:
        return current
    every = state.all_tags.any_matches(matcher.matches)
    return current if every is current else Tri.UNKNOWN


def _pure_219(m: Meaning, state: State) -> Tri:
    """udev 219: SYMLINK!= needs a link that does not match; TAG== compares each tag of
    this event with the value as it is (no pattern) and TAG!= never fails
    (udev_rules_apply_to_event() goes to nomatch only for a missing tag and an operator
    other than !=); WAIT_FOR waits up to 10 s for a file that udev-drift does not know."""
    if m.key == "WAIT_FOR":
        return Tri.UNKNOWN
    if m.key == "SYMLINK":
        # match_key() per link, the operator included: SYMLINK!="x" asks for a link that
        # is not x (so it fails on a device with no link yet), not for x to be missing
        matcher = Matcher.of(m.value)
        if m.op == "==":
            return state.links.any_matches(matcher.matches)
        return state.links.any_matches(lambda name: ~matcher.matches(name))
    if m.op == "!=":
        return Tri.YES
    return state.tags.has(m.value)


def _attr_value(node: NodeFacts, name: str, state: State, is_device: bool) -> Value:
    if is_device and name in state.written_attrs:
        return Unknown("*", f"ATTR{{{name}}} was written by a rule")
    return node.attribute(name)


def _attr_match(m: Meaning, node: NodeFacts, index: int, state: State, facts: DeviceFacts,
                old: bool = False) -> Tri:
    name = m.attr or ""
    if name.startswith("["):
        return Tri.UNKNOWN  # another device's attribute
    if "%" in name or "$" in name:
        text = to_text(expand(name, _context(state, facts, old)))
        if isinstance(text, Unknown):
            return Tri.UNKNOWN
        name = text
    value = _attr_value(node, name, state, index == 0)
    if value is None:
        return Tri.NO  # no such attribute: the key fails, whatever its operator
    if isinstance(value, Unknown):
        return Tri.UNKNOWN
    if m.value and not m.value[-1].isspace():
        value = value.rstrip(" \t\n\r\v\f")
    return token_matches(m.op, Matcher.of(m.value).matches(value))


ParentOutcome = tuple[bool, Union[int, None, Unknown]]


def _walk_parents(tokens: list[Meaning], state: State, facts: DeviceFacts,
                  old: bool = False) -> list[ParentOutcome]:
    """udev_rule_apply_parent_token_to_event(): the first device of the chain (the device
    itself first) on which every parent token matches. Returns the possible outcomes."""
    outcomes: list[ParentOutcome] = []
    for index, node in enumerate(facts.chain()):
        answer = Tri.YES
        for m in tokens:
            answer = answer & _parent_token(m, node, index, state, facts, tokens[0] if old else None)
            if answer is Tri.NO:
                break
        if answer is Tri.YES:
            outcomes.append((True, index))
            return outcomes
        if answer is Tri.UNKNOWN:
            outcomes.append((True, index))
    if facts.parents_complete:
        outcomes.append((False, None))
    else:
        outcomes.append((True, Unknown("*", "a parent not in the facts")))
        outcomes.append((False, None))
    return outcomes


def _parent_token(m: Meaning, node: NodeFacts, index: int, state: State, facts: DeviceFacts,
                  first_219: Meaning | None = None) -> Tri:
    key = m.key
    if first_219 is not None and key == "TAGS":
        # udev 219 asks udev_device_has_tag() for the value of the line's FIRST parent
        # token (`cur`, not `key`), as it is, and has TAGS!= fail on a device that has it
        if node.tags is None and index > 0:
            return Tri.UNKNOWN
        tags = state.tags.has(first_219.value) if index == 0 else Tri.of(first_219.value in (node.tags or ()))
        return tags if m.op == "==" else ~tags
    if key == "KERNELS":
        return _string_match(m, node.kernel)
    if key == "SUBSYSTEMS":
        return _string_match(m, node.subsystem, subsystem=True)
    if key == "DRIVERS":
        return _string_match(m, node.driver)
    if key == "ATTRS":
        return _attr_match(m, node, index, state, facts, first_219 is not None)
    if key == "TAGS":
        matcher = Matcher.of(m.value)
        if index == 0:
            return token_matches(m.op, _has_tag(state, matcher, facts))
        if node.tags is None:
            return Tri.UNKNOWN
        found = any(matcher.matches(t) is Tri.YES for t in node.tags)
        return token_matches(m.op, Tri.of(found))
    raise AssertionError(key)


def _test(m: Meaning, state: State, facts: DeviceFacts, old: bool = False) -> Tri:
    path = to_text(expand(m.value, _context(state, facts, old)))
    if isinstance(path, Unknown) or "/*/" in path or m.attr is not None:
        return Tri.UNKNOWN
    if not path.startswith("/"):
        if path.startswith("["):
            return Tri.UNKNOWN
        node = facts.node
        if "/" not in path and node.entries is not None:
            return token_matches(m.op, Tri.of(path in node.entries))
        if path in node.attributes:
            return token_matches(m.op, Tri.YES)
        if node.devpath is None:
            return Tri.UNKNOWN
        path = "/sys" + node.devpath + "/" + path
    known = facts.paths.get(path)
    if known is None:
        return Tri.UNKNOWN
    return token_matches(m.op, Tri.of(known))


def _context(state: State, facts: DeviceFacts, old: bool) -> Context:
    return Context(
        old=old,
        facts=facts,
        prop=lambda name: state.prop(name, facts),
        program_result=state.program_result,
        dev_parent=state.dev_parent,
        links=lambda: state.prop("DEVLINKS", facts),
        name=state.name,
        attr=lambda node, name: _attr_value(node, name, state, node is facts.node),
    )


def _effectful(run: _Run, line: Line, m: Meaning, state: State, facts: DeviceFacts) -> Tri:
    """PROGRAM and IMPORT: they change the state, and their answer is mostly unknown."""
    key, attr = m.key, m.attr
    if key == "PROGRAM":
        # TK_M_PROGRAM: the command is built in buf[UDEV_LINE_SIZE]; when it does not fit,
        # the key fails whatever its operator, and %c is then empty. udev 219 cuts the
        # command at 1023 bytes and runs what is left (truncate219.py): unknown either way.
        fits = Tri.YES
        if not run.old:
            _, fits = expand_within(m.value, _context(state, facts, run.old), UDEV_LINE_SIZE)
        if fits is Tri.NO:
            state.program_result = None
            return Tri.NO
        state.program_result = Unknown("*", f"the output of PROGRAM at {line.where}")
        return Tri.UNKNOWN
    assert key == "IMPORT"
    why = f"IMPORT{{{attr}}} at {line.where}"
    if attr == "builtin":
        name = m.value.split()[0] if m.value.split() else ""
        builtin = next((b for b in BUILTIN_SETS if b.startswith(name)), name) if name else name
        known = facts.builtins.get(builtin)
        if known is not None:
            succeeded, props = known
            for k, v in props.items():
                state.set_prop(k, v)
            run.env_writers.extend((line.where, k) for k in props)
            return token_matches(m.op, Tri.of(succeeded))
        for pattern in BUILTIN_SETS.get(builtin, ("*",)):
            state.taint_props(pattern, f"what builtin {builtin} sets ({why})")
            run.env_writers.append((line.where, pattern))
        return Tri.UNKNOWN
    if attr in ("program", "file"):
        if attr == "file":
            path = to_text(expand(m.value, _context(state, facts, run.old)))
            if isinstance(path, str) and facts.paths.get(path) is False:
                return token_matches(m.op, Tri.NO)
        state.taint_props("*", f"what {why} sets")
        run.env_writers.append((line.where, "*"))
        return Tri.UNKNOWN
    if attr == "db":
        name = m.value
        run.env_writers.append((line.where, name))
        if facts.db_properties is None:
            state.set_prop(name, join_values(state.prop(name, facts), Unknown("*", why)))
            return Tri.UNKNOWN
        if name not in facts.db_properties:
            return token_matches(m.op, Tri.NO)
        state.set_prop(name, facts.db_properties[name])
        return token_matches(m.op, Tri.YES)
    if attr == "cmdline":
        name = m.value
        run.env_writers.append((line.where, name))
        if facts.cmdline is None:
            state.set_prop(name, join_values(state.prop(name, facts), Unknown("*", why)))
            return Tri.UNKNOWN
        if name not in facts.cmdline:
            return token_matches(m.op, Tri.NO)
        state.set_prop(name, facts.cmdline[name] or "1")
        return token_matches(m.op, Tri.YES)
    if attr == "parent":
        filter_text = to_text(expand(m.value, _context(state, facts, run.old)))
        if not facts.parents:
            if facts.parents_complete:
                return token_matches(m.op, Tri.NO)
            state.taint_props("*", why)
            return Tri.UNKNOWN
        name_pattern = filter_text if isinstance(filter_text, str) else "*"
        state.taint_props(name_pattern, f"the parent's properties ({why})")
        run.env_writers.append((line.where, name_pattern))
        return token_matches(m.op, Tri.YES)
    raise AssertionError(attr)


# --- assignments -------------------------------------------------------------------------


def _assign(run: _Run, line: Line, state: State, certain: bool, effects: list[str]) -> State:
    """Apply the line's assignments to one world that passed every match."""
    facts = run.facts
    esc = "unset"  # event->esc is reset for every line
    for m in line.assigns:
        key = m.key
        if key == "OPTIONS":
            value = m.value
            if value == "string_escape=none":
                esc = "none"
            elif value == "string_escape=replace":
                esc = "replace"
            elif value.startswith("link_priority="):
                state.priority = _parse_priority(value)
                effects.append(m.text)
            elif value in ("db_persist", "watch", "nowatch"):
                state.options = state.options | {value}
            continue
        if key == "SYMLINK":
            final = state.final("devlink")
            if final is Tri.NO:  # _final_guarded()'s first case, without the partial
                state = _symlink(run, line, m, state, esc=esc, certain=certain, effects=effects)
                continue
            if facts.devnum is not None:
                run.link_events.append(LinkEvent(line.where, "ignored", certain and final is Tri.YES,
                                                 (m.value,), final_at=run.final_at))
                if run.trace:
                    effects.append(f"{m.text} ignored: SYMLINK:= at {run.final_at} made the links final")
            state = _final_guarded(state, "devlink", facts,
                                   partial(_symlink, run, line, m, esc=esc, certain=certain, effects=effects))
        elif key == "ENV":
            _env(run, line, m, state, esc, effects)
        elif key == "TAG":
            state = _tag(m, state, facts, effects, run.old)
        elif key == "RUN":
            if state.final("run") is Tri.NO:
                state = _run_cmd(m, state, facts=facts, effects=effects, old=run.old)
            else:
                state = _final_guarded(state, "run", facts, partial(_run_cmd, m, facts=facts, effects=effects,
                                                                    old=run.old))
        elif key in ("OWNER", "GROUP", "MODE"):
            owner = partial(_owner, m, facts=facts, effects=effects, old=run.old)
            state = _final_guarded(state, key.lower(), facts, owner)
        elif key == "NAME":
            if facts.ifindex is not None:
                state = _final_guarded(state, "name", facts, partial(_name, m, facts=facts, effects=effects,
                                                                               old=run.old))
        elif key == "ATTR":
            state.written_attrs = state.written_attrs | {m.attr or ""}
            effects.append(m.text)
        # SYSCTL=, SECLABEL: nothing the evaluator reports on
    return state


def _parse_priority(value: str) -> int:
    from checker.rules.canonical import parse_int

    number = parse_int(value.split("=", 1)[1])
    assert number is not None  # the parser dropped rules with a bad number
    return number


def _final_guarded(state: State, what: str, facts: DeviceFacts,
                   apply: Callable[[State], State | None]) -> State:
    final = state.final(what)
    if final is Tri.YES:
        return state
    if final is Tri.NO:
        result = apply(state)
        return result if result is not None else state
    maybe = state.copy()
    result = apply(maybe)
    return (result if result is not None else maybe).join(state, facts)


# Every assignment below builds its value in a buffer of fixed size (udev-rules.c of
# systemd 252, udev_rule_apply_token_to_event(): value_new[UDEV_NAME_SIZE] for ENV,
# owner/group/mode_str[UDEV_NAME_SIZE], buf[UDEV_PATH_SIZE] for SYMLINK, TAG and NAME,
# buf[UDEV_LINE_SIZE] for RUN and PROGRAM) with udev_event_apply_format(), and refuses the
# assignment when the value was truncated ("... is truncated while substituting into
# ..., refusing to ..."). What it did before the copy (SYMLINK= clearing the links, :=
# making a list final) stays done. A value that doubles itself on each line thus stops
# growing at 511 bytes.


def _fitting(fits: Tri, state: State, facts: DeviceFacts, apply: Callable[[State], object]) -> State:
    """`apply` where the value fits, not where udev refuses it, and in one of two worlds
    where that is not known (an unknown piece of any length)."""
    if fits is Tri.NO:
        return state
    if fits is Tri.YES:
        apply(state)
        return state
    maybe = state.copy()
    apply(maybe)
    return maybe.join(state, facts)


def _refused(effects: list[str], shown: str, size: int, fits: Tri, old: bool = False) -> None:
    if old:  # udev 219 refuses nothing: it cuts (truncate219.py)
        if fits is Tri.UNKNOWN:
            effects.append(f"{shown} (udev 219 cuts it at {size - 1} bytes; where its own text "
                           f"fills the buffer, what follows is not known)")
        else:
            effects.append(shown)
        return
    if fits is Tri.NO:
        effects.append(f"{shown} refused: longer than udev's buffer of {size} bytes")
    elif fits is Tri.UNKNOWN:
        effects.append(f"{shown} (refused if longer than udev's buffer of {size} bytes)")
    else:
        effects.append(shown)


def _pieces_text(pieces: list[Piece]) -> str:
    text = to_text(pieces)
    return text if isinstance(text, str) else text.pattern


def _symlink(run: _Run, line: Line, m: Meaning, state: State, *, esc: str, certain: bool,
             effects: list[str]) -> State:
    facts = run.facts
    if facts.devnum is None:
        return state
    final = m.op == ":="
    if final:
        state.set_final("devlink")
        run.final_at = line.where
    if m.op in ("=", ":="):
        state.links.clear()
        run.link_events.append(LinkEvent(line.where, "reset", certain))
    # udev 219 puts a substituted value in as it is: a space in it splits the link there;
    # and it cuts a value too long for temp[UTIL_PATH_SIZE] where 252 refuses it
    if run.old:
        pieces, fits = format_219(m.value, _context(state, facts, run.old), PATH_SIZE_219)
    else:
        pieces, fits = expand_within(m.value, _context(state, facts, run.old), UDEV_PATH_SIZE,
                                     replace_whitespace=esc != "none")
    pieces = as_written(pieces, esc)
    # an unknown value may hold spaces where nothing replaced them: string_escape=none, or
    # udev 219 without string_escape=replace
    names, patterns, endless = split_links(pieces, esc == "none" or (run.old and esc == "unset"), run.old)
    if fits is not Tri.NO and endless:
        # TK_A_DEVLINK copies "/dev/" and the word into filename[UDEV_PATH_SIZE] and, when it
        # does not fit, `continue`s without taking the next word: udevd 252 loops until the
        # event is killed (seen with udevadm test). What the device then has is not known:
        # every link is a maybe, and so is whatever a later line does to them.
        patterns.append("*")
        fits = Tri.UNKNOWN
        state.links.all_maybe()
        if state.final("devlink") is Tri.NO:
            state.finals = {**state.finals, "devlink": Tri.UNKNOWN}
            run.final_at = line.where
        effects.append(f"SYMLINK{m.op}: udev never ends the event for a link name of "
                       f"{UDEV_PATH_SIZE - len('/dev/')} bytes or more")
    surely = fits is Tri.YES
    for name in names:
        if surely:
            state.links.add(name)
        elif fits is Tri.UNKNOWN:
            state.links.maybe_add(name)
    if fits is not Tri.NO:
        for pattern in patterns:
            state.links.add_pattern(pattern)
        run.link_events.append(LinkEvent(line.where, "add", certain and surely, tuple(names),
                                         tuple(patterns)))
    if final:
        run.link_events.append(LinkEvent(line.where, "final", certain))
    if run.trace:  # what the step says it did: only a trace shows it
        _refused(effects, f'SYMLINK{m.op}"{_pieces_text(pieces)}"', UDEV_PATH_SIZE, fits, run.old)
    return state


def _env(run: _Run, line: Line, m: Meaning, state: State, esc: str, effects: list[str]) -> None:
    facts = run.facts
    name = m.attr or ""
    run.env_writers.append((line.where, name))
    if m.value == "":
        if m.op == "+=":
            return
        state.set_prop(name, None)
        effects.append(f'ENV{{{name}}}=""')
        return
    # TK_A_ENV builds the value in value_new[UDEV_NAME_SIZE]: for "+=" the old value and a
    # space first (strpcpyl_full(): "The buffer for the property ... is full, refusing to
    # append"), then the expansion in what is left ("... is truncated ..., refusing to add
    # property"); either way the property keeps its value. 511 bytes fit, 512 do not.
    existing = state.prop(name, facts) if m.op == "+=" else None
    if run.old:
        _env_219(m, name, existing, state, facts, effects)
        return
    used = 1 + byte_length(existing) if isinstance(existing, str) else 0
    pieces, fits = expand_within(m.value, _context(state, facts, run.old), UDEV_NAME_SIZE, used=used)
    if isinstance(existing, Unknown) and fits is Tri.YES:
        fits = Tri.UNKNOWN  # the old value (if set at all) is of a length not known
    if esc == "replace" and not run.old:  # udev 219's TK_A_ENV does not look at the escaping
        pieces = map_known(pieces, lambda t: replace_chars(t, None))
    if existing is not None:
        pieces = [existing, " ", *pieces]
    if run.trace:
        _refused(effects, f'ENV{{{name}}}{m.op}"{_pieces_text(pieces)}"', UDEV_NAME_SIZE, fits)
    if fits is Tri.NO:
        return
    value: Value = to_text(pieces)
    if fits is Tri.UNKNOWN:
        value = join_values(state.prop(name, facts), value)
    state.set_prop(name, value)


def _env_219(m: Meaning, name: str, existing: Value, state: State, facts: DeviceFacts,
             effects: list[str]) -> None:
    """udev 219's TK_A_ENV: the value expanded into value_new[UTIL_NAME_SIZE]; for "+=" into
    temp[UTIL_NAME_SIZE], then "old", " " and it joined into value_new: cut at 511 bytes
    either way, never refused (and string_escape is not looked at)."""
    pieces, fits = format_219(m.value, _context(state, facts, True), NAME_SIZE_219)
    if existing is not None:
        pieces = cut_joined([existing, " ", *pieces], NAME_SIZE_219)
    _refused(effects, f'ENV{{{name}}}{m.op}"{_pieces_text(pieces)}"', NAME_SIZE_219, fits, True)
    value: Value = to_text(pieces)
    if fits is Tri.UNKNOWN:
        value = join_values(state.prop(name, facts), value)
    state.set_prop(name, value)


_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _tag(m: Meaning, state: State, facts: DeviceFacts, effects: list[str], old: bool = False) -> State:
    # TK_A_TAG: buf[UDEV_PATH_SIZE]; a truncated name is refused before TAG= clears anything
    # (udev 219: cut, tag[UTIL_PATH_SIZE])
    if old:
        pieces, fits = format_219(m.value, _context(state, facts, old), PATH_SIZE_219)
    else:
        pieces, fits = expand_within(m.value, _context(state, facts, old), UDEV_PATH_SIZE)
    text = to_text(pieces)
    shown = text if isinstance(text, str) else text.pattern
    _refused(effects, f'TAG{m.op}"{shown}"', UDEV_PATH_SIZE, fits, old)
    return _fitting(fits, state, facts, partial(_tag_text, m, text, old))


def _tag_text(m: Meaning, text: Text, old: bool, state: State) -> None:
    if m.op == "=":  # device_cleanup_tags(): every tag, also those from the database
        state.tags.clear()
        state.all_tags.clear()
    if isinstance(text, Unknown):
        if m.op == "-=":
            for name in list(state.tags.members):
                if text.could_be(name):
                    state.tags.maybe_removed(name)
        else:
            state.tags.add_pattern(text.pattern)
            state.all_tags.add_pattern(text.pattern)
        return
    if old:
        if ":" in text or " " in text:
            return  # udev 219's is_valid_tag()
    elif not text or any(c not in _TAG_CHARS for c in text):
        return  # "Invalid tag name": ignored (after TAG= cleared the tags)
    if m.op == "-=":  # device_remove_tag(): the current tags only
        state.tags.remove(text)
    else:
        state.tags.add(text)
        state.all_tags.add(text)


def _run_cmd(m: Meaning, state: State, *, facts: DeviceFacts, effects: list[str], old: bool = False) -> State:
    if m.op == ":=":
        state.set_final("run")
    if m.op in ("=", ":="):
        state.run.clear()
    if old:  # udev 219 keeps the command as written and expands it after the last rule
        state.run.add(m.value)
        effects.append(f'{m.key}{m.op}"{m.value}"')
        return state
    # TK_A_RUN_PROGRAM: buf[UDEV_LINE_SIZE], after := and = did their part
    pieces, fits = expand_within(m.value, _context(state, facts, old), UDEV_LINE_SIZE)
    text = to_text(pieces)
    shown = text if isinstance(text, str) else text.pattern
    _refused(effects, f'{m.key}{m.op}"{shown}"', UDEV_LINE_SIZE, fits)
    if fits is Tri.NO:
        return state
    if isinstance(text, Unknown):
        state.run.add_pattern(text.pattern)
    elif fits is Tri.YES:
        state.run.add(text)
    else:
        state.run.maybe_add(text)
    return state


def _expand_run_219(state: State, facts: DeviceFacts) -> None:
    """udev 219 expands each RUN command when it runs it, after every rule
    (udev_event_execute_run(); `udevadm test` prints them so): $env{X} is the last value."""
    templates = state.run
    expanded = MemberSet()
    for template, certainty in templates.members.items():
        # into program[UTIL_PATH_SIZE]: a longer command is cut (truncate219.py)
        pieces, fits = format_219(template, _context(state, facts, True), PATH_SIZE_219)
        text = to_text(pieces)
        if isinstance(text, Unknown):
            expanded.add_pattern(text.pattern)
        elif certainty is Tri.YES and fits is Tri.YES:
            expanded.add(text)
        else:
            expanded.maybe_add(text)
    for pattern in templates.patterns:
        expanded.add_pattern(pattern)
    state.run = expanded


def _owner(m: Meaning, state: State, *, facts: DeviceFacts, effects: list[str], old: bool = False) -> State:
    what = m.key.lower()
    if m.op == ":=":
        state.set_final(what)
    if m.rank in (RANK["A_OWNER_ID"], RANK["A_GROUP_ID"], RANK["A_MODE_ID"]):
        value: Value = m.value
    else:
        # TK_A_OWNER, _GROUP, _MODE: owner, group, mode_str[UDEV_NAME_SIZE] (219: cut)
        if old:
            pieces, fits = format_219(m.value, _context(state, facts, old), NAME_SIZE_219)
        else:
            pieces, fits = expand_within(m.value, _context(state, facts, old), UDEV_NAME_SIZE)
        _refused(effects, m.text, UDEV_NAME_SIZE, fits, old)
        if fits is Tri.NO:
            return state
        value = to_text(pieces)
        if fits is Tri.UNKNOWN:
            value = join_values(getattr(state, what), value)
        setattr(state, what, value)
        return state
    setattr(state, what, value)
    effects.append(m.text)
    return state


def _name(m: Meaning, state: State, *, facts: DeviceFacts, effects: list[str], old: bool = False) -> State:
    if m.op == ":=":
        state.set_final("name")
    # TK_A_NAME: buf[UDEV_PATH_SIZE], after := made it final (219: name_str[], cut)
    if old:
        pieces, fits = format_219(m.value, _context(state, facts, old), PATH_SIZE_219)
    else:
        pieces, fits = expand_within(m.value, _context(state, facts, old), UDEV_PATH_SIZE)
    _refused(effects, m.text, UDEV_PATH_SIZE, fits, old)
    if fits is Tri.NO:
        return state
    name = to_text(pieces)
    state.name = name if fits is Tri.YES else join_values(state.name, name)
    return state
