"""Every docstring example (``>>>``) in the ganprobe package runs and shows what it says (stdlib ``doctest``).

Each module of the package is imported with ``importlib`` (a module that cannot be imported fails
``test_every_module_imports`` with its name: nothing is skipped silently), ``doctest.DocTestFinder`` collects the
examples of the objects it defines, and each docstring's examples run as one test, in a copy of its module's
namespace.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest
import torch

import ganprobe

# Entry points: importing ``python -m ganprobe``'s module runs the command. Not imported, and checked below to hold
# no examples, so leaving it out hides nothing.
ENTRY_POINTS = ("ganprobe.__main__",)
# Examples known to fail: strict xfail, so the fix makes this test fail until the entry is removed. None today.
KNOWN_FAILURES: dict[str, str] = {}
# What the examples rely on: "..." for the digits past those shown, and line breaks in long reprs.
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_names() -> list[str]:
    """Every module of the ganprobe package, subpackages included, by dotted name."""
    found = pkgutil.walk_packages(ganprobe.__path__, prefix="ganprobe.", onerror=lambda name: None)
    return sorted(["ganprobe", *(info.name for info in found)])


def import_modules() -> tuple[list[ModuleType], dict[str, str]]:
    """The importable modules, and ``{name: error}`` for those that could not be imported."""
    modules, failures = [], {}
    for name in module_names():
        if name in ENTRY_POINTS:
            continue
        try:
            modules.append(importlib.import_module(name))
        except Exception as error:  # noqa: BLE001 - reported by name in test_every_module_imports
            failures[name] = f"{type(error).__name__}: {error}"
    return modules, failures


MODULES, IMPORT_FAILURES = import_modules()
FINDER = doctest.DocTestFinder(exclude_empty=True)
EXAMPLES = sorted(
    (test for module in MODULES for test in FINDER.find(module) if test.examples), key=lambda test: test.name
)


def test_every_module_imports() -> None:
    assert not IMPORT_FAILURES, "modules the doctests could not import: " + "; ".join(
        f"{name} ({error})" for name, error in IMPORT_FAILURES.items()
    )


def test_entry_points_left_out_hold_no_examples() -> None:
    for name in ENTRY_POINTS:
        source = Path(importlib.util.find_spec(name).origin).read_text(encoding="utf-8")
        assert ">>>" not in source, f"{name} holds docstring examples, but importing it runs the command"


def test_the_examples_were_found() -> None:
    """The finder reaches the subpackages' modules (a broken walk would make every example below vacuous)."""
    names = {test.name.rsplit(".", 1)[0] for test in EXAMPLES} | {test.name for test in EXAMPLES}
    assert "ganprobe.functional.frechet.fid_from_features" in names
    assert "ganprobe.utils.distributed.shard_range" in names
    assert set(KNOWN_FAILURES) <= names


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(test, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[test.name], strict=True))
        if test.name in KNOWN_FAILURES
        else test
        for test in EXAMPLES
    ],
    ids=[test.name for test in EXAMPLES],
)
def test_docstring_example(example: doctest.DocTest) -> None:
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report: list[str] = []
    threads = torch.get_num_threads()
    try:
        runner.run(example, out=report.append, clear_globs=True)
    finally:
        torch.set_num_threads(threads)
    assert runner.failures == 0, f"{example.name} ({example.filename}:{example.lineno}):\n" + "".join(report)
