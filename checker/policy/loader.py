"""Reading policy files: YAML with line numbers, validated by the pydantic models.

Every error becomes a PolicyError naming the file, line, column and key path
(`rules[0].ensure`) with what was expected. Nothing else happens before all policies
have loaded: a bad policy refuses the whole run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Union

import yaml
from pydantic import ValidationError

from checker.errors import PolicyError, PolicyErrors, collecting, raise_all
from checker.policy.files import MAX_POLICY_BYTES, PolicyBytes, policy_files, read_policies, read_policy
from checker.policy.model import Policy
from checker.records import dataclass

MAX_VALUES = 100_000  # a policy for thousands of disks stays far below
MAX_DEPTH = 50

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
MAX_INT_DIGITS = 18  # a policy's numbers are small; more digits are text, never a bignum
_PLAIN_INT = re.compile(rf"[-+]?(?:0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})")
# YAML 1.1's floats without the base-60 form (1:30.5), which costs quadratic arithmetic.
_PLAIN_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """YAML as a policy needs it: integers are plain decimals of a few digits, nothing else.

    YAML 1.1 also reads 0x1, 0o1, 1_000 and base 60 (59:59:59) as integers: base 60 of a
    few hundred KB costs a minute of bignum arithmetic before validation could refuse it,
    and 5,000 digits raise an error Python's int() limit. Here such a scalar stays text
    (validation then names its line), and an explicit !!int or !!float tag on one is an
    error with its line.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def construct_plain_int(self, node: yaml.ScalarNode) -> int:
        value = str(self.construct_scalar(node))
        if not _PLAIN_INT.fullmatch(value):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a decimal integer of at most {MAX_INT_DIGITS} digits, "
                f"got {value[:40]!r}{'...' if len(value) > 40 else ''}", node.start_mark)
        return int(value)

    def construct_plain_float(self, node: yaml.ScalarNode) -> float:
        value = str(self.construct_scalar(node))
        if not _PLAIN_FLOAT.match(value) and not _PLAIN_INT.fullmatch(value):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a decimal number, got {value[:40]!r}"
                f"{'...' if len(value) > 40 else ''}", node.start_mark)
        return float(yaml.constructor.SafeConstructor.construct_yaml_float(self, node))


_Loader.add_implicit_resolver(_INT, re.compile(f"^{_PLAIN_INT.pattern}$"), list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, _PLAIN_FLOAT, list("-+0123456789."))
_Loader.add_constructor(_INT, _Loader.construct_plain_int)
_Loader.add_constructor(_FLOAT, _Loader.construct_plain_float)

KeyPath = tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class PolicySource:
    """Where a policy came from, and where each of its keys and values stand in the file."""

    path: str
    values: dict[KeyPath, Mark]
    keys: dict[KeyPath, Mark]
    block_scalars: dict[KeyPath, bool]  # True where the value is a `|` or `>` block

    def mark(self, key_path: KeyPath, *, key: bool = False) -> Mark | None:
        """The closest known position for a key path (walking up to its parents)."""
        table = self.keys if key else self.values
        path = tuple(key_path)
        while path:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get(())

    def content_line(self, key_path: KeyPath, offset: int) -> int | None:
        """The file line of line `offset` (0-based) inside a multi-line string value."""
        mark = self.values.get(tuple(key_path))
        if mark is None:
            return None
        # A block scalar's text starts on the line after its `|` indicator.
        start = mark.line + 1 if self.block_scalars.get(tuple(key_path)) else mark.line
        return start + offset


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: PolicySource


def format_key_path(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _refuse_alias_bombs(root: yaml.Node, path: str) -> None:
    """Aliases let a few lines stand for billions of values ("billion laughs"): count the
    values the document stands for, each shared node once, and refuse too many."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise RecursionError
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node that contains itself counts once
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1
        sizes[id(node)] = total
        return total

    if size(root, 0) > MAX_VALUES:
        raise PolicyError(path, None, None, f"the YAML stands for more than {MAX_VALUES:,} values "
                                            "(through aliases): not a policy")


def _index_nodes(
    node: yaml.Node,
    path: KeyPath,
    source_path: str,
    values: dict[KeyPath, Mark],
    keys: dict[KeyPath, Mark],
    blocks: dict[KeyPath, bool],
) -> None:
    values[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.ScalarNode):
        blocks[path] = node.style in ("|", ">")
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _index_nodes(child, path + (index,), source_path, values, keys, blocks)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            mark = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, yaml.ScalarNode):
                raise PolicyError(
                    source_path, mark.line, mark.column,
                    f"at '{format_key_path(path)}': expected a plain key, got a collection",
                )
            name = str(key_node.value)
            if name in seen:
                raise PolicyError(
                    source_path, mark.line, mark.column,
                    f"at '{format_key_path(path + (name,))}': key given twice",
                )
            seen.add(name)
            keys[path + (name,)] = mark
            _index_nodes(value_node, path + (name,), source_path, values, keys, blocks)


def parse_yaml(text: str, path: str) -> tuple[Any, PolicySource]:
    """YAML text to plain data and a source map; YAML errors become PolicyError."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise PolicyError(path, 1, 1, "the file is empty: expected a policy "
                                              "(version: 1, name, rules/symlinks)")
            values: dict[KeyPath, Mark] = {}
            keys: dict[KeyPath, Mark] = {}
            blocks: dict[KeyPath, bool] = {}
            _refuse_alias_bombs(node, path)
            _index_nodes(node, (), path, values, keys, blocks)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise PolicyError(path, None, None,
                          f"nested deeper than a policy ever is (more than {MAX_DEPTH} levels)") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        if error.context and error.problem:
            problem = f"{error.context}, {error.problem}"
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise PolicyError(path, line, column, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise PolicyError(path, None, None, f"invalid YAML: {error}") from None
    return data, PolicySource(path, values, keys, blocks)


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "nothing (null)"}
    return names.get(type(value), type(value).__name__)


def _describe_input(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (str, int, float)):
        return f"{_describe(value)} {repr(value)[:60]}"
    return _describe(value)


def _message(error: Mapping[str, Any], model_fields: list[str]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing"
    if kind == "extra_forbidden":
        allowed = ", ".join(model_fields)
        return f"unknown key '{loc[-1]}' (expected one of: {allowed})"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message[len("Value error, "):]
    if kind.endswith("_type") or kind == "literal_error":
        return f"{message[0].lower()}{message[1:]}, got {_describe_input(error.get('input'))}"
    return message[0].lower() + message[1:]


def _allowed_keys(loc: KeyPath) -> list[str]:
    """The keys allowed in the mapping that holds loc[-1], for 'unknown key' messages."""
    from checker.policy import model

    owner: Any = model.Policy
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = owner.model_fields.get(part)
        if field is None:
            return []
        annotation = str(field.annotation)
        for candidate in (model.RulesEntry, model.SymlinkEntry, model.DeviceIdentity,
                          model.ApplySettings):
            if candidate.__name__ in annotation:
                owner = candidate
                break
    return list(owner.model_fields)


def _strip_union_loc(loc: tuple[Any, ...]) -> KeyPath:
    # pydantic adds the union member it tried ("str", "int") to the location: not a key.
    return tuple(part for part in loc if not (isinstance(part, str) and part in ("str", "int")))


def validate_data(data: Any, source: PolicySource) -> Policy:
    if not isinstance(data, dict):
        raise PolicyError(source.path, 1, 1,
                          f"expected a mapping with version, name, rules, symlinks; got {_describe(data)}")
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            loc = _strip_union_loc(tuple(item["loc"]))
            is_key_problem = item["type"] == "extra_forbidden"
            mark = source.mark(loc, key=is_key_problem)
            text = f"at '{format_key_path(loc)}': {_message(item, _allowed_keys(loc))}"
            problems.append(PolicyError(source.path, mark.line if mark else None,
                                        mark.column if mark else None, text))
        raise (problems[0] if len(problems) == 1 else PolicyErrors(problems)) from None


def decode_policy(read: PolicyBytes) -> str:
    """The text of a policy file as read: refused when too large, binary or not UTF-8."""
    path, raw = read.path, read.data
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(path, None, None,
                          f"larger than {MAX_POLICY_BYTES // 1024} KiB: not a policy file")
    if b"\0" in raw:
        raise PolicyError(path, None, None, "binary file (holds NUL bytes): expected YAML text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise PolicyError(path, line, None, "not valid UTF-8 text") from None


def load_policy_bytes(read: PolicyBytes) -> LoadedPolicy:
    data, source = parse_yaml(decode_policy(read), read.path)
    return LoadedPolicy(validate_data(data, source), source)


def load_policy_file(path: str) -> LoadedPolicy:
    return load_policy_bytes(read_policy(path, strict=False))


def load_read_policies(files: list[PolicyBytes]) -> list[LoadedPolicy]:
    """Validate every policy read; names must be unique across them."""
    loaded: list[LoadedPolicy] = []
    errors: list[PolicyError] = []
    for read in files:
        with collecting(errors):
            loaded.append(load_policy_bytes(read))
    seen: dict[str, str] = {}
    for item in loaded:
        name = item.policy.name
        if name in seen:
            mark = item.source.mark(("name",))
            errors.append(PolicyError(
                item.source.path, mark.line if mark else None, mark.column if mark else None,
                f"at 'name': policy name {name!r} is already used by {seen[name]}"))
        seen.setdefault(name, item.source.path)
    raise_all(errors)
    return loaded


def load_policies(paths: list[str]) -> list[LoadedPolicy]:
    """Load and validate every policy the paths name (files, or directories of them)."""
    return load_read_policies(read_policies(policy_files(paths), strict=False))
