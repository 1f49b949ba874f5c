"""The house keeps its shape: rooms import only rooms below them, nothing imports the
command line, no import circles, and every package of the tree is in the wheel.

Imports are read from the source (every `import` and `from ... import`, also those inside
functions); those under `if TYPE_CHECKING:` are left out, as they never run, except inside
one folder: there a circle is refused even through them (the types would then have no
place of their own).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "checker"

# Lowest first. A module may import its own room and any room before it.
ROOMS = [
    {"checker", "checker.errors", "checker.paths", "checker.host", "checker.safe_files", "checker.state",
     "checker.udevadm", "checker.settings", "checker.findings", "checker.trusted_cache", "checker.policies",
     "checker.records"},
    {"checker.rules"},
    {"checker.evaluate"},
    {"checker.edits"},
    {"checker.policy"},
    {"checker.observe"},
    {"checker.check"},
    {"checker.repair", "checker.engine"},
    {"checker.exporters"},
    {"checker.serve", "checker.install", "checker.adopt", "checker.preview"},
    {"checker.cli", "checker.__main__"},
]


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    # checker/exporters is a link to the top-level exporters/: rglob does not follow it.
    found = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    found.update({f"checker.exporters{'' if p.stem == '__init__' else '.' + p.stem}": p
                  for p in (REPO / "exporters").glob("*.py")})
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path, name: str) -> set[str]:
    """The checker modules this module imports when it runs (a `from X import y` counts as
    X.y when that is a module, else X)."""
    return imports_of(path, name, set(modules()))


def imports_of(path: Path, name: str, known: set[str], typing_too: bool = False,
               package: str = "checker") -> set[str]:
    """The modules of `package` this module imports; with `typing_too` also those under
    `if TYPE_CHECKING:`."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not typing_too:
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module
                if child.level:  # relative: resolve against this package
                    package = name.rsplit(".", child.level)[0]
                    base = f"{package}.{base}"
                for alias in child.names:
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {module for module in found if module.startswith(package)}


def room_of(module: str) -> int:
    candidates = [module] + [module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)]
    for level, room in enumerate(ROOMS):
        if any(candidate in room for candidate in candidates[:-1] or candidates):
            return level
    raise AssertionError(f"{module} is in no room of tests/test_architecture.py's ROOMS: add it")


GRAPH = {name: runtime_imports(path, name) for name, path in modules().items()}


# Beyond this the top of checker/ is a heap again: group what belongs together in a room.
TOP_LEVEL_MODULE_LIMIT = 12


def top_level_problem(package: Path) -> str:
    top = sorted(path.stem for path in package.glob("*.py"))
    if len(top) <= TOP_LEVEL_MODULE_LIMIT:
        return ""
    return (f"{package.name}/ holds {len(top)} modules at its top ({', '.join(top)}): at most "
            f"{TOP_LEVEL_MODULE_LIMIT}; move the ones that belong together into a room")


def test_the_top_of_the_package_holds_at_most_twelve_modules() -> None:
    assert not top_level_problem(PACKAGE)


def test_the_top_module_limit_refuses_one_module_too_many(tmp_path: Path) -> None:
    # Mutation check: the tree as it is plus the modules up to the limit passes; one more fails.
    tree = tmp_path / "checker"
    tree.mkdir()
    for path in PACKAGE.glob("*.py"):
        (tree / path.name).write_text("")
    for index in range(TOP_LEVEL_MODULE_LIMIT - len(list(tree.glob("*.py")))):
        (tree / f"added{index}.py").write_text("")
    assert not top_level_problem(tree)
    (tree / "one_too_many.py").write_text("")
    assert "13 modules" in top_level_problem(tree)


def readme_layout_rows() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    table = text[text.index("\nLayout:\n"):]
    rows = {}
    for line in table.splitlines()[5:]:
        if not line.startswith("| `"):
            break
        path, what = line.split(" | ", 1)
        rows[path.strip("| ")] = what
    return rows


def test_the_readme_layout_table_matches_the_tree() -> None:
    rows = readme_layout_rows()
    folders = {f"`checker/{init.parent.name}/`" for init in PACKAGE.glob("*/__init__.py")}
    folders -= {"`checker/exporters/`", "`checker/policies/`"}  # links to exporters/, policies/
    assert folders <= set(rows), f"folders missing from the README's layout: {sorted(folders - set(rows))}"
    listed = set(re.findall(r"`(\w+)`", rows["`checker/` (top)"]))
    top = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert listed == top, f"README lists {sorted(listed - top)} not at the top; leaves out {sorted(top - listed)}"


def test_every_module_is_in_a_room() -> None:
    for name in GRAPH:
        room_of(name)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_a_module_imports_no_room_above_its_own(name: str) -> None:
    above = sorted(other for other in GRAPH[name] if other in GRAPH and room_of(other) > room_of(name))
    assert not above, f"{name} (room {room_of(name)}) imports {above} from rooms above it"


def test_nothing_outside_the_command_line_imports_it() -> None:
    offenders = {name: sorted(i for i in imports if i == "checker.cli" or i.startswith("checker.cli."))
                 for name, imports in GRAPH.items() if not name.startswith("checker.cli")
                 and name != "checker.__main__"}
    assert not {name: found for name, found in offenders.items() if found}


def test_command_modules_never_import_dispatch() -> None:
    for name, imports in GRAPH.items():
        if name.startswith("checker.cli.") and name not in ("checker.cli", "checker.cli.dispatch"):
            assert "checker.cli.dispatch" not in imports and "checker.cli" not in imports, name


def test_no_import_circle() -> None:
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        for other in sorted(GRAPH.get(node, ())):
            # A package's __init__ is imported with its modules; only edges to modules count.
            if other in GRAPH and other != node.rsplit(".", 1)[0]:
                walk(other, path + [node])
        done.add(node)

    for name in sorted(GRAPH):
        walk(name, [])


def folder_circle(graph: dict[str, set[str]]) -> str:
    """The first import circle among the modules of one folder ("a -> b -> a"), or ""."""
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> str:
        if node in path:
            return " -> ".join(path[path.index(node):] + [node])
        if node in done:
            return ""
        folder = node.rsplit(".", 1)[0]
        for other in sorted(graph.get(node, ())):
            if other in graph and other.rsplit(".", 1)[0] == folder:
                found = walk(other, path + [node])
                if found:
                    return found
        done.add(node)
        return ""

    return next((found for name in sorted(graph) if (found := walk(name, []))), "")


def typed_import_graph(package: Path, root: Path) -> dict[str, set[str]]:
    """Every module of the tree under `package` with what it imports, typing imports too."""
    paths = {module_name(path, root): path for path in package.rglob("*.py")}
    return {name: imports_of(path, name, set(paths), typing_too=True, package=package.name)
            for name, path in paths.items()}


def test_no_import_circle_inside_a_folder_even_through_typing_imports() -> None:
    circle = folder_circle(typed_import_graph(PACKAGE, REPO))
    assert not circle, f"import circle inside one folder: {circle}; put the types it shares below both"


def test_a_circle_inside_a_folder_is_found_also_through_typing_imports(tmp_path: Path) -> None:
    # Mutation check: a small tree passes; a circle planted in one folder, closed only
    # under TYPE_CHECKING, fails; the same modules in two folders pass.
    room = tmp_path / "pkg" / "room"
    room.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (room / "__init__.py").write_text("")
    (room / "engine.py").write_text("from pkg.room.result import Evaluation\n")
    (room / "result.py").write_text("from pkg.room import types\n")
    (room / "types.py").write_text("from typing import TYPE_CHECKING\n")
    assert folder_circle(typed_import_graph(tmp_path / "pkg", tmp_path)) == ""
    (room / "types.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from pkg.room.engine import RuleSet\n")
    assert folder_circle(typed_import_graph(tmp_path / "pkg", tmp_path)) == (
        "pkg.room.engine -> pkg.room.result -> pkg.room.types -> pkg.room.engine")
    other = tmp_path / "pkg" / "other"
    other.mkdir()
    (room / "engine.py").rename(other / "engine.py")
    (room / "types.py").write_text("from pkg.other.engine import RuleSet\n")
    (other / "engine.py").write_text("from pkg.room.result import Evaluation\n")
    assert folder_circle(typed_import_graph(tmp_path / "pkg", tmp_path)) == ""


def test_each_folder_table_of_contents_imports_nothing() -> None:
    # A plain check must not pay for a room it does not use; cli/ alone re-exports main,
    # the console script's entry point.
    for init in list(PACKAGE.glob("*/__init__.py")) + [REPO / "exporters" / "__init__.py"]:
        name = module_name(init) if init.parent.parent == PACKAGE else "checker.exporters"
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{init} has no docstring (its table of contents)"
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        if name == "checker.cli":
            assert [ast.unparse(n) for n in imports] == ["from checker.cli.dispatch import main"]
        else:
            assert not imports, f"{init} imports {[ast.unparse(n) for n in imports]}"


def test_every_package_of_the_tree_is_in_the_wheel() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the tests run on 3.11 here
        pytest.skip("tomllib needs Python 3.11")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    in_tree = {module_name(init) for init in PACKAGE.glob("**/__init__.py")}
    in_tree |= {"checker.exporters", "checker.policies"}
    assert in_tree == listed
