"""The tests' own layout, held (tests/README.md): no test module imported as a library,
every helper in tests/fixtures/, every folder named after what it tests, every payload
read through one loader."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# Folders that are not a folder of shared/: suites across the shop, and the tests' own.
SUITES = {"functions", "infra", "schema", "faults", "browser", "deploy", "benchmarks", "fixtures", "events"}
# The benchmarks are a suite of their own (`./restoreclick bench`, skipped by the test run),
# with their own helpers beside them.
OWN_HELPERS = TESTS / "benchmarks"


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imported(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports, at any level, relative imports resolved."""
    package = _module(path).rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def test_no_test_module_is_imported_as_a_library() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _python_files()
        for line, name in _imported(path)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert not offenders, "move what they share into tests/fixtures/ or a conftest.py:\n" + "\n".join(offenders)


def test_every_helper_module_lives_in_tests_fixtures() -> None:
    fixtures = TESTS / "fixtures"
    stray = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if not path.name.startswith("test_")
        and path.name not in {"conftest.py", "__init__.py"}
        and not path.is_relative_to(fixtures)
        and not path.is_relative_to(OWN_HELPERS)
    ]
    assert not stray, f"helpers outside tests/fixtures/: {stray}"


def test_every_test_folder_mirrors_a_folder_of_shared_or_is_a_suite() -> None:
    shared = {p.parent.name for p in (ROOT / "shared").glob("*/__init__.py")}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert not folders - shared - SUITES, (
        f"name a test folder after the shared/ folder it tests: {folders - shared - SUITES}"
    )


def test_payloads_are_read_only_through_load_event() -> None:
    joins = re.compile(r"""/\s*["']events["']|["']tests/events/""")
    loader = TESTS / "fixtures" / "events.py"
    readers = [
        str(path.relative_to(ROOT))
        for path in _python_files()
        if path not in (loader, Path(__file__)) and joins.search(path.read_text())
    ]
    assert not readers, f"read tests/events/ with tests.fixtures.events.load_event: {readers}"
