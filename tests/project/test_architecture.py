"""``docs/architecture.md`` matches the code (issue 25, item 4).

Every package the page's diagram and layer table name exists, every module of the package falls in a row of the
table, and no module imports a module of a higher layer, or of another row of its own layer: module-level imports
and the lazy ones inside functions alike (only ``if TYPE_CHECKING:`` blocks are skipped, they never run).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "ganprobe"


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def layer_table(text: str) -> dict[str, int]:
    """The rows ``| layer | `package` | ... |`` of the page's table: package -> layer."""
    rows = re.findall(r"^\| *(\d+) *\| *`(ganprobe[\w.]*)` *\|", text, re.MULTILINE)
    return {package: int(layer) for layer, package in rows}


def known_upward_imports(text: str) -> set[tuple[str, str]]:
    """The rows ``| `module` | `imported package` | why |`` under the page's "Known upward imports" heading."""
    section = text.split("### Known upward imports", 1)[-1].split("\n## ", 1)[0] if "### Known upward" in text else ""
    return set(re.findall(r"^\| *`(ganprobe[\w.]*)` *\| *`(ganprobe[\w.]*)` *\|", section, re.MULTILINE))


def diagram_packages(text: str) -> set[str]:
    """The dotted ganprobe names in the data-path diagram (the first ``text`` block after its heading)."""
    section = text.split("## The data path", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert block is not None, "docs/architecture.md: no ```text diagram under '## The data path'"
    return set(re.findall(r"\bganprobe(?:\.\w+)+", block.group(1)))


def package_modules() -> dict[str, Path]:
    """Every module and package of ganprobe by dotted name."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def row_of(module: str, rows: dict[str, int]) -> str | None:
    """The table row a module falls in: its own name or its longest listed parent (the root row only by name)."""
    matches = [row for row in rows if module == row or (row != "ganprobe" and module.startswith(row + "."))]
    return max(matches, key=len) if matches else None


def _runs(node: ast.AST) -> list[ast.AST]:
    """The children of ``node`` that run, leaving out the body of ``if TYPE_CHECKING:``."""
    if isinstance(node, ast.If) and re.fullmatch(r"(typing\.)?TYPE_CHECKING", ast.unparse(node.test)):
        return list(node.orelse)
    return list(ast.iter_child_nodes(node))


def imported_modules(source: str, importer: str, modules: dict[str, Path]) -> set[str]:
    """The ganprobe modules ``source`` (the module ``importer``) imports, lazy imports included.

    ``from A import b`` imports ``A.b`` when that is a module, else ``A``; ``from ganprobe import __version__`` (an
    attribute of the root package, which Python imports before any of its modules) counts as no import.
    """
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(source)]
    package = importer if modules.get(importer, Path()).name == "__init__.py" else importer.rpartition(".")[0]
    while stack:
        node = stack.pop()
        stack.extend(_runs(node))
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {name for name in found if name.startswith("ganprobe.") or name == "ganprobe"} - {"ganprobe"}


def upward_imports(
    sources: dict[str, str], rows: dict[str, int], modules: dict[str, Path], known: frozenset = frozenset()
) -> list[str]:
    """One line per import that goes up a layer or sideways into another row of the same layer, except the ``known``
    ``(module, package)`` pairs (a module or one of its parents importing from a package or one of its modules)."""
    wrong = []
    for module, source in sorted(sources.items()):
        row = row_of(module, rows)
        for target in sorted(imported_modules(source, module, modules)):
            target_row = row_of(target, rows)
            if row is None or target_row is None or target_row == row:
                continue
            if any(_within(module, a) and _within(target, b) for a, b in known):
                continue
            if rows[target_row] >= rows[row]:
                wrong.append(f"{module} (layer {rows[row]}, {row}) imports {target} (layer {rows[target_row]})")
    return wrong


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_page_is_in_the_site_navigation() -> None:
    assert "architecture.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_every_package_the_page_names_exists() -> None:
    text = page()
    rows = layer_table(text)
    assert len(rows) >= 10, "the layer table was not found (rows: | layer | `package` | holds |)"
    modules = package_modules()
    named = set(rows) | diagram_packages(text)
    assert {"ganprobe.data", "ganprobe.extractors", "ganprobe.features", "ganprobe.report"} <= named
    missing = sorted(name for name in named if name not in modules)
    assert not missing, f"docs/architecture.md names packages that do not exist: {missing}"
    unlisted = sorted(name for name in diagram_packages(text) if row_of(name, rows) is None)
    assert not unlisted, f"the diagram names packages the layer table does not place: {unlisted}"


def test_every_module_has_a_layer() -> None:
    rows = layer_table(page())
    homeless = sorted(module for module in package_modules() if row_of(module, rows) is None)
    assert not homeless, f"modules in no row of docs/architecture.md's layer table: {homeless}"


def test_modules_import_only_downward() -> None:
    text = page()
    rows = layer_table(text)
    modules = package_modules()
    sources = {name: path.read_text(encoding="utf-8") for name, path in modules.items()}
    known = frozenset(known_upward_imports(text))
    wrong = upward_imports(sources, rows, modules, known)
    assert not wrong, "imports against docs/architecture.md's layers:\n" + "\n".join(wrong)
    every = upward_imports(sources, rows, modules)
    gone = sorted(
        f"{a} -> {b}" for a, b in known if not any(f"{a}" in line and f"imports {b}" in line for line in every)
    )
    assert not gone, f"docs/architecture.md lists upward imports that no longer happen (remove the rows): {gone}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from ganprobe.report.gates import x\n", ["ganprobe.features.cache (layer 4"]),  # lazy
        ("import ganprobe.run.pipeline\n", ["ganprobe.features.cache (layer 4"]),
        ("from ganprobe.data import sources\n", ["ganprobe.features.cache (layer 4"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ganprobe.run import pipeline\n", []),
        ("from ganprobe.extractors.base import FeatureExtractor\n", []),
        ("from ganprobe import __version__\n", []),
        ("def f():\n    from ganprobe.run import pipeline\n", []),  # listed as known below
    ],
)
def test_the_check_sees_upward_imports(source: str, expected: list[str]) -> None:
    """The checker itself: a features module importing from report/run (or sideways) is caught; downward is not."""
    rows = {"ganprobe.data": 4, "ganprobe.extractors": 3, "ganprobe.features": 4, "ganprobe.report": 9}
    rows["ganprobe.run"] = 10
    names = ("ganprobe.data.sources", "ganprobe.run.pipeline")
    modules = {name: Path(name.replace(".", "/") + ".py") for name in names}
    known = frozenset({("ganprobe.features", "ganprobe.run")}) if "ganprobe.run import" in source else frozenset()
    wrong = upward_imports({"ganprobe.features.cache": source}, rows, modules, known)
    assert len(wrong) == len(expected), wrong
    assert all(line.startswith(start) for line, start in zip(wrong, expected, strict=True))
