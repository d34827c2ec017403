"""The shape of the code, held: imports run one way, with no cycles, through each folder's door.

The graph is built from the source, not from what happens to be imported at runtime: every
import statement counts, at module level or inside a function (an import moved into a
function to dodge a cycle is still that cycle). Only imports under `if TYPE_CHECKING:` are
left out, as they never run. Importing `shared.orders.fulfilment` also runs
`shared/orders/__init__.py`, so that counts as an import of the package too, except from
inside the package itself, which Python is already initialising.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("shared", "functions", "infra")
# Imports run from the customer's actions down to core/: infra/ (the command, the dev server)
# sits above the functions, the functions above shared/.
MAY_NOT_IMPORT = {"shared": {"functions", "infra"}, "functions": {"infra"}, "infra": set()}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for top in TOP for p in sorted((ROOT / top).rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(tree: ast.AST) -> Iterator[tuple[str, str | None, int]]:
    """(module, name or None, line) of every import that can run, at any depth."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: relative import; the code imports by full name"
            yield from ((node.module or "", alias.name, node.lineno) for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))


def _target(module: str, name: str | None) -> str | None:
    """Our module an import statement loads (`from a.b import c` loads a.b.c if it is one)."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module if module in MODULES else None


def edges_of(importer: str) -> dict[str, int]:
    """Our modules `importer` runs, directly, with the line that runs each."""
    found: dict[str, int] = {}
    for module, name, line in imported(ast.parse(MODULES[importer].read_text(encoding="utf-8"))):
        target = _target(module, name)
        if target is None:
            continue
        parts = target.split(".")
        for depth in range(1, len(parts) + 1):
            runs = ".".join(parts[:depth])
            # A package's own modules do not re-run it; an explicit import of it still counts.
            inside = importer.startswith(runs + ".") and runs != target
            if runs in MODULES and runs != importer and not inside:
                found.setdefault(runs, line)
    return found


GRAPH = {module: edges_of(module) for module in MODULES}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(component: list[str]) -> str:
    members = set(component)
    lines = [
        f"  {importer} -> {target} ({MODULES[importer].relative_to(ROOT)}:{line})"
        for importer in component
        for target, line in sorted(GRAPH[importer].items())
        if target in members
    ]
    return "\n".join(lines)


def test_the_import_graph_has_no_cycles() -> None:
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n\n".join(_describe(c) for c in found)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    # The finder itself, on a graph with a cycle the module level alone would not show.
    tree = ast.parse("import a\n\ndef later():\n    from b import c\n")
    assert sorted(m for m, _, _ in imported(tree)) == ["a", "b"]
    assert cycles({"x": {"y": 1}, "y": {"z": 1}, "z": {"x": 4}, "w": {"x": 1}}) == [["x", "y", "z"]]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n")
    assert sorted(m for m, _, _ in imported(guarded)) == ["b", "typing"]


@pytest.mark.parametrize("top", TOP)
def test_imports_run_one_way(top: str) -> None:
    upward = [
        f"{importer} -> {target} ({MODULES[importer].relative_to(ROOT)}:{line})"
        for importer, targets in GRAPH.items()
        if importer.split(".")[0] == top
        for target, line in targets.items()
        if target.split(".")[0] in MAY_NOT_IMPORT[top]
    ]
    assert not upward, f"{top}/ may not import {sorted(MAY_NOT_IMPORT[top])}:\n" + "\n".join(upward)


def test_every_module_is_importable_by_the_name_the_graph_gives_it() -> None:
    # The graph is only as good as its names: each must be what Python itself imports.
    for name in ("shared.core.db", "shared.orders.fulfilment", "functions.upload.handler", "infra.commands.main"):
        assert name in MODULES
        assert importlib.import_module(name).__file__ == str(MODULES[name])


# Each folder of shared/ is entered through its door: its `__init__.py` names, in `__all__`,
# the modules and names the rest of the code may use. What it does not name is the folder's own.
FOLDERS = sorted(
    m for m, p in MODULES.items() if m.count(".") == 1 and m.startswith("shared.") and p.name == "__init__.py"
)


def door(folder: str) -> set[str]:
    """The names a folder's `__init__.py` lists in `__all__` (read from the source, not run)."""
    for node in ast.parse(MODULES[folder].read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list | tuple), f"{folder}.__all__ is not a list"
            return set(value)
    raise AssertionError(f"{MODULES[folder].relative_to(ROOT)} has no __all__ naming what other folders may use")


def _folder_of(module: str) -> str | None:
    parts = module.split(".")
    folder = ".".join(parts[:2])
    return folder if folder in FOLDERS else None


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_folders_door_names_only_what_exists(folder: str) -> None:
    names = door(folder)
    tree = ast.parse(MODULES[folder].read_text(encoding="utf-8"))
    defined = (
        {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        | {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
        | {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
    )
    missing = [n for n in names if n not in defined and f"{folder}.{n}" not in MODULES]
    assert not missing, f"{folder}.__all__ names what is neither a module nor defined there: {missing}"


def test_other_code_enters_a_folder_only_through_its_door() -> None:
    reached_in: set[str] = set()
    for importer, path in MODULES.items():
        for module, name, line in imported(ast.parse(path.read_text(encoding="utf-8"))):
            folder = _folder_of(module) if module.startswith("shared.") else None
            if folder is None or importer == folder or importer.startswith(folder + "."):
                continue
            rest = module[len(folder) + 1 :].split(".")[0] if module != folder else name
            if rest not in door(folder):
                reached_in.add(f"{path.relative_to(ROOT)}:{line} uses {folder}.{rest}, which {folder} does not name")
    assert not reached_in, "\n".join(sorted(reached_in))
