"""Test-wide settings: never touch the user's caches or the network."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# Tests live in folders that mirror the package; a test may import a helper from a test module in another
# folder (``from test_distributed_evaluate import png_folder``), so every test folder is importable, after tests/
# itself.
TEST_FOLDERS = [f for f in sorted(Path(__file__).parent.iterdir()) if f.is_dir() and any(f.glob("test_*.py"))]
sys.path.extend(str(folder) for folder in TEST_FOLDERS if folder.name != "plugin_project")
pytest_plugins = ("pytester",)
# A GAN project's own test suite, run through pytester by test_pytest_plugin.py (not part of ours).
collect_ignore = ["plugin_project"]


@pytest.fixture(scope="session")
def _onnx_exports(tmp_path_factory: pytest.TempPathFactory) -> str:
    # ONNX exports are keyed on everything they depend on: one folder serves the whole session (each test's own
    # cache folder would export every backbone again). Tests of the export cache itself pass their own folder.
    return str(tmp_path_factory.mktemp("onnx-exports"))


@pytest.fixture(autouse=True)
def _isolated_caches(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _onnx_exports: str
) -> None:
    cache = tmp_path_factory.mktemp("ganprobe-cache")
    monkeypatch.setenv("GANPROBE_ONNX_DIR", _onnx_exports)
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    monkeypatch.setenv("GANPROBE_OFFLINE", "1")
    monkeypatch.delenv("GANPROBE_WEIGHTS_DIR", raising=False)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """LAPACK solvers and small products run 5-100x slower when 2 threads fight other jobs for 2 busy cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


SLOW_TESTS = Path(__file__).with_name("slow_tests.txt")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests listed in ``tests/slow_tests.txt`` (measured, see ``tests/list_slow_tests.py``) as ``slow``,
    so ``pytest -m "not slow"`` is the fast edit loop; CI runs everything."""
    listed = {line.strip() for line in SLOW_TESTS.read_text(encoding="utf-8").splitlines() if line[:1] not in ("#", "")}
    for item in items:
        if item.nodeid in listed:
            item.add_marker(pytest.mark.slow)
