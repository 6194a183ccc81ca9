"""The studies are described inside the project (docs/studies.md), and nothing points at a file users never get."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))

import reproduce_study  # noqa: E402
from gan.studies import campus, course, faces  # noqa: E402

STUDIES_DOC = ROOT / "docs" / "studies.md"
MISSING_FILE = "SEEDS" + ".md"  # spelled in two parts so that this file does not name it


def _project_files() -> list[Path]:
    """Tracked and new (not ignored) files of the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


def _naming_the_missing_file() -> set[str]:
    found = set()
    for path in _project_files():
        relative = str(path.relative_to(ROOT))
        if relative.startswith("docs/_pending/") or path.suffix in (".png", ".pt", ".onnx"):
            continue
        try:
            if MISSING_FILE in path.read_text(errors="ignore"):
                found.add(relative)
        except OSError:
            continue
    return found


def test_no_file_points_at_the_missing_studies_file() -> None:
    assert _naming_the_missing_file() == set()


def test_readme_points_at_docs_studies() -> None:
    assert "README.md" not in _naming_the_missing_file()


def test_docs_studies_describes_each_study_with_its_published_numbers() -> None:
    text = STUDIES_DOC.read_text()
    sections = re.split(r"\n## ", text)
    for number in range(1, 6):
        assert sum(section.startswith(f"§{number} ") for section in sections) == 1, number
    for name in reproduce_study.STUDIES:
        assert f"python examples/reproduce_study.py {name}`" in text, name
    by_number = {s[:2]: s for s in sections if s.startswith("§")}
    # The numbers the study commands quote are the ones the description gives.
    assert ", ".join(map(str, campus.STUDY_SVM_ERRORS[:-1])) + f" and {campus.STUDY_SVM_ERRORS[-1]}" in by_number["§1"]
    assert f"**{faces.STUDY_ACCURACY}**" in by_number["§2"]
    for d_loss, g_loss in course.STUDY_LOSSES.values():
        assert f"{d_loss:.3f} / {g_loss}" in by_number["§4"] or f"{d_loss} / {g_loss}" in by_number["§4"]
    for value in ("89.3 %", "83.5 %", "92.2 % to 15.6 %"):
        assert value in by_number["§3"]
    for section in by_number.values():  # each says what the study published and how it got there
        assert "**Published" in section and ("**Data" in section or "**Discriminator" in section), section[:40]


def test_help_and_readme_point_at_docs_studies(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        reproduce_study.main(["--help"])
    assert "docs/studies.md" in capsys.readouterr().out
    assert "(../docs/studies.md)" in (EXAMPLES / "README.md").read_text()
