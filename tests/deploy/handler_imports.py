"""What a function's handler can import: the modules of this repository it reaches and the
third-party modules they import, read from the source (no code runs).

A module's own import graph is too coarse: `shared.deps` imports Stripe's provider inside
`get_payments`, so a handler that only calls `get_storage` would seem to need Stripe. So the
walk follows names: `from shared.deps import get_storage` follows the module's top-level
imports and the body of `get_storage` (with the same-module functions it names), not the
other functions' bodies. `import x` or `from shared import db` follows every body of it.
Imports under `if TYPE_CHECKING:` are annotations, never run, and are not followed.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

INTERNAL = ("shared", "functions", "infra")
EVERYTHING = "*"


@dataclass
class _Module:
    name: str
    is_package: bool
    # (module, names or None for `import module`) of the code that runs at import
    top_imports: list[tuple[str, tuple[str, ...] | None]] = field(default_factory=list)
    top_names: set[str] = field(default_factory=set)  # same-module names module-level code uses
    bodies: dict[str, list[tuple[str, tuple[str, ...] | None]]] = field(default_factory=dict)
    body_names: dict[str, set[str]] = field(default_factory=dict)
    reexports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, its name)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports_in(nodes: list[ast.stmt], module: str, is_package: bool) -> list[tuple[str, tuple[str, ...] | None]]:
    found: list[tuple[str, tuple[str, ...] | None]] = []
    for statement in nodes:
        for node in _run_code(statement):
            if isinstance(node, ast.Import):
                found += [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((_resolve(module, is_package, node), tuple(alias.name for alias in node.names)))
    return found


def _run_code(node: ast.AST) -> list[ast.AST]:
    """`node` and what is inside it, but not the body of an `if TYPE_CHECKING:`."""
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        return [node, *(inner for child in node.orelse for inner in _run_code(child))]
    return [node, *(inner for child in ast.iter_child_nodes(node) for inner in _run_code(child))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _names_in(nodes: list[ast.AST]) -> set[str]:
    return {node.id for statement in nodes for node in ast.walk(statement) if isinstance(node, ast.Name)}


class SourceTree:
    """The repository's Python modules under `root`, parsed on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, module: str) -> Path | None:
        base = self.root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    @cache  # noqa: B019 - one tree per test session
    def parsed(self, module: str) -> _Module | None:
        path = self.path_of(module)
        if path is None:
            return None
        tree = ast.parse(path.read_text(), str(path))
        parsed = _Module(module, path.name == "__init__.py")
        top: list[ast.stmt] = []
        for statement in tree.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                parsed.bodies[statement.name] = _imports_in(statement.body, module, parsed.is_package)
                parsed.body_names[statement.name] = _names_in(list(statement.body))
                # Decorators, defaults and bases run at import.
                parsed.top_names |= _names_in([*statement.decorator_list, *getattr(statement, "bases", [])])
            else:
                top.append(statement)
                if isinstance(statement, ast.ImportFrom):
                    source = _resolve(module, parsed.is_package, statement)
                    for alias in statement.names:
                        parsed.reexports[alias.asname or alias.name] = (source, alias.name)
        parsed.top_imports = _imports_in(top, module, parsed.is_package)
        parsed.top_names |= _names_in(list(top))
        return parsed


@dataclass
class Reach:
    modules: set[str]  # this repository's modules
    third_party: set[str]  # the other modules it imports, by full name (stdlib left out)
    # `from PIL import Image`: names imported from those, which may be submodules
    third_party_maybe: set[str] = field(default_factory=set)

    @property
    def third_party_top_level(self) -> set[str]:
        return {name.split(".")[0] for name in self.third_party}


def reachable_from(tree: SourceTree, module: str, *, leave_out: tuple[str, ...] = ()) -> Reach:
    """Everything importing `module` (all its code, as a handler's routes all run) can import.
    `leave_out`: module prefixes production never imports (the local stand-ins)."""
    seen: set[tuple[str, str | None]] = set()
    reach = Reach(set(), set())
    todo: list[tuple[str, str | None]] = [(module, EVERYTHING)]

    def follow(imports: list[tuple[str, tuple[str, ...] | None]]) -> None:
        for target, names in imports:
            top = target.split(".")[0]
            if top not in INTERNAL:
                if top and top not in sys.stdlib_module_names and top != "__future__":
                    reach.third_party.add(target)
                    reach.third_party_maybe.update(f"{target}.{name}" for name in names or ())
                continue
            parts = target.split(".")
            for depth in range(1, len(parts)):
                todo.append((".".join(parts[:depth]), None))  # parents run first
            if names is None:
                todo.append((target, EVERYTHING))
            else:
                todo.extend((target, name) for name in names)

    while todo:
        current, name = todo.pop()
        if (current, name) in seen or any(current.startswith(prefix) for prefix in leave_out):
            continue
        seen.add((current, name))
        parsed = tree.parsed(current)
        if parsed is None:
            continue
        if name is not None:
            todo.append((current, None))
        if name is None:
            reach.modules.add(current)
            follow(parsed.top_imports)
            todo += [(current, used) for used in parsed.top_names if used in parsed.bodies]
        elif name == EVERYTHING:
            todo += [(current, every) for every in parsed.bodies]
        elif name in parsed.bodies:
            follow(parsed.bodies[name])
            todo += [(current, used) for used in parsed.body_names[name] if used in parsed.bodies]
        elif name in parsed.reexports:
            source, original = parsed.reexports[name]
            follow([(source, (original,))])
        elif tree.path_of(f"{current}.{name}"):
            todo.append((f"{current}.{name}", EVERYTHING))  # `from shared import db`
    return reach
