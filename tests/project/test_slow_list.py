"""``tests/slow_tests.txt`` names tests that exist: a test moved or renamed must not silently rejoin the fast
selection (the re-layout of issue 25 did that once, and ``pytest -m "not slow"`` went from 2.5 to 5 minutes)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def _listed() -> list[str]:
    lines = (TESTS / "slow_tests.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _test_names(path: Path) -> set[str]:
    """``name`` and ``Class::name`` of every test function of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
    return names


def test_every_listed_slow_test_exists() -> None:
    listed = _listed()
    assert len(listed) > 100, "tests/slow_tests.txt lists too few tests: was it overwritten?"
    missing = []
    for node in listed:
        file, _, name = node.partition("::")
        path = ROOT / file
        if not path.is_file() or name.split("[", 1)[0] not in _test_names(path):
            missing.append(node)
    assert not missing, f"tests/slow_tests.txt names tests that do not exist (moved or renamed?): {missing[:10]}"


def test_the_check_sees_a_moved_test(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    module.write_text("def test_a():\n    pass\n\nclass TestB:\n    def test_c(self):\n        pass\n")
    assert _test_names(module) == {"test_a", "TestB::test_c"}
