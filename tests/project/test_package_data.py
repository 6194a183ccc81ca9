"""Every data file inside the package ships in its wheel: a file under ``ganprobe/`` that is not Python source must
match a ``[tool.setuptools.package-data]`` pattern, or a non-editable install loses it (the bundled LeNet's
provenance record, ``extractors/bundled/lenet_mnist.json``, was left out that way)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ganprobe"


def _patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["setuptools"]["package-data"]["ganprobe"])


def _data_files() -> list[str]:
    return sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    )


def unshipped(files: list[str], patterns: list[str]) -> list[str]:
    """The files no pattern matches."""
    return [name for name in files if not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]


def test_every_data_file_of_the_package_is_package_data() -> None:
    files = _data_files()
    assert "extractors/bundled/lenet_mnist.pt" in files and "report/schema.json" in files
    assert not unshipped(files, _patterns()), f"add to [tool.setuptools.package-data]: {unshipped(files, _patterns())}"


def test_the_check_sees_an_unshipped_file() -> None:
    assert unshipped(["extractors/bundled/x.json", "py.typed"], ["py.typed", "extractors/bundled/*.pt"]) == [
        "extractors/bundled/x.json"
    ]
