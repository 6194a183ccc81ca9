"""The test files the docs, examples, benchmarks and code name exist: the re-layout of issue 25 moved every test into
a subfolder and left about forty references to ``tests/test_*.py`` pointing at nothing. A reader following
"checked by ``tests/...``" must find the file. The CHANGELOG is history and keeps the names of its day; code blocks of
the Markdown pages show a user's own project (``tests/test_generator_quality.py``) and are not checked."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"(?<![\w/.])tests/(?:[a-z_]+/)*test_[a-z_0-9]+\.py")
FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)


def _sources() -> list[Path]:
    pages = [*ROOT.glob("docs/**/*.md"), ROOT / "README.md", ROOT / "CONTRIBUTING.md", *ROOT.glob("examples/**/*.md")]
    code = [*ROOT.glob("ganprobe/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/**/*.py")]
    code += [*ROOT.glob("benchmarks/**/*.md"), *ROOT.glob("examples/**/*.py")]
    return [path for path in pages + code if path.is_file() and path != Path(__file__).resolve()]


def references(text: str, markdown: bool) -> set[str]:
    """The ``tests/.../test_*.py`` paths ``text`` names (outside fenced code blocks when ``markdown``)."""
    return set(REFERENCE.findall(FENCE.sub("", text) if markdown else text))


def test_every_test_file_named_exists() -> None:
    missing = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for name in sorted(references(text, path.suffix == ".md")):
            if not (ROOT / name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "references to test files that do not exist:\n" + "\n".join(missing)


def test_the_check_sees_a_stale_reference() -> None:
    page = "checked by `tests/test_fid.py` and tests/metrics/test_fid.py\n```python\n# tests/test_mine.py\n```\n"
    assert references(page, markdown=True) == {"tests/test_fid.py", "tests/metrics/test_fid.py"}
    assert not (ROOT / "tests/test_fid.py").exists() and (ROOT / "tests/metrics/test_fid.py").exists()
