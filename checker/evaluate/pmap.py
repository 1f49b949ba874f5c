"""An immutable mapping that shares its structure with the mappings it was made from.

Where the evaluator cannot tell whether a rule matched, it copies the state, runs both
worlds and joins them. With plain dicts every property set copied every property set so
far, and every join compared them all: a chain of 5,000 lines with an unknown PROGRAM
took 31 s, 20,000 more than 300 s. Here a change copies one path of a hash trie (32-way
branches, leaves of at most 16 entries), and two mappings made from a common one differ
only in the subtrees that are not the same object: `differing()` walks those, so a join
costs what the two worlds changed, not what was set before they split.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar, Union

V = TypeVar("V")

_BITS = 5
_WIDTH = 1 << _BITS
_MASK = _WIDTH - 1
_LEAF = 16  # entries of a leaf before it splits
_DEEPEST = 64  # beyond the hash's bits a leaf grows instead (equal hashes)

# A node: a leaf dict, or a branch tuple of _WIDTH nodes or None.
_Node = Union[dict[str, Any], tuple[Any, ...]]
_MISSING: Any = object()


class PMap(Mapping[str, V], Generic[V]):
    __slots__ = ("_root", "_size")

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        self._root: _Node | None = None
        self._size = 0
        for key, value in (items or {}).items():
            self._root, added = _set(self._root, key, hash(key), 0, value)
            self._size += added

    @staticmethod
    def _of(root: _Node | None, size: int) -> PMap[V]:
        made: PMap[V] = PMap.__new__(PMap)
        made._root = root
        made._size = size
        return made

    # --- reading ------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        node = self._root
        h = hash(key)
        while type(node) is tuple:
            node = node[h & _MASK]
            h >>= _BITS
        if node is None:
            return default
        return node.get(key, default)  # type: ignore[union-attr]

    def __getitem__(self, key: str) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        for leaf in _leaves(self._root):
            yield from leaf

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PMap):
            return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())
        if self._root is other._root:
            return True
        if self._size != other._size:
            return False
        return all(self.get(k, _MISSING) == other.get(k, _MISSING) for k in self.differing(other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PMap({dict(self.items())!r})"

    def differing(self, other: PMap[V]) -> list[str]:
        """The keys whose entries are not the same object in both (or are in one only):
        subtrees the two share are not looked at."""
        out: list[str] = []
        _diff(self._root, other._root, out)
        return out

    # --- changing (a new mapping; this one stays as it is) -------------------------------

    def set(self, key: str, value: V) -> PMap[V]:
        root, added = _set(self._root, key, hash(key), 0, value)
        if root is self._root:
            return self
        return PMap._of(root, self._size + added)

    def delete(self, key: str) -> PMap[V]:
        if key not in self:
            return self
        return PMap._of(_delete(self._root, key, hash(key)), self._size - 1)


def _leaves(node: _Node | None) -> Iterator[dict[str, Any]]:
    if node is None:
        return
    if isinstance(node, dict):
        yield node
        return
    for child in node:
        if child is not None:
            yield from _leaves(child)


def _set(node: _Node | None, key: str, h: int, shift: int, value: Any) -> tuple[_Node, int]:
    if node is None:
        return {key: value}, 1
    if type(node) is dict:
        old = node.get(key, _MISSING)
        if old is value:
            return node, 0
        leaf = dict(node)
        leaf[key] = value
        added = int(old is _MISSING)
        if len(leaf) <= _LEAF or shift >= _DEEPEST:
            return leaf, added
        branch: _Node = (None,) * _WIDTH
        for k, v in leaf.items():
            branch, _ = _set(branch, k, hash(k) >> shift, shift, v)
        return branch, added
    assert type(node) is tuple
    index = h & _MASK
    child = node[index]
    new, added = _set(child, key, h >> _BITS, shift + _BITS, value)
    if new is child:
        return node, 0
    return node[:index] + (new,) + node[index + 1 :], added


def _delete(node: _Node | None, key: str, h: int) -> _Node | None:
    if node is None:
        return None
    if type(node) is dict:
        leaf = {k: v for k, v in node.items() if k != key}
        return leaf or None
    assert type(node) is tuple
    index = h & _MASK
    new = _delete(node[index], key, h >> _BITS)
    if new is None and all(c is None for i, c in enumerate(node) if i != index):
        return None
    return node[:index] + (new,) + node[index + 1 :]


def _diff(a: _Node | None, b: _Node | None, out: list[str]) -> None:
    if a is b:
        return
    if type(a) is tuple and type(b) is tuple:
        for ca, cb in zip(a, b):
            if ca is not cb:
                _diff(ca, cb, out)
        return
    mine = _flatten(a)
    theirs = _flatten(b)
    for key, value in mine.items():
        if theirs.get(key, _MISSING) is not value:
            out.append(key)
    out.extend(key for key in theirs if key not in mine)


def _flatten(node: _Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    if type(node) is dict:
        return node
    flat: dict[str, Any] = {}
    for leaf in _leaves(node):
        flat.update(leaf)
    return flat


EMPTY: PMap[Any] = PMap()
