"""docs/per-class.md quotes what ``benchmarks/per_class_examples.py`` prints: every quoted output line (``...``
standing for the part left out) must be a line the script prints now, so the page cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "per-class.md"
SCRIPT = ROOT / "benchmarks" / "per_class_examples.py"


def quoted_lines(text: str) -> list[str]:
    """The lines of the page's output blocks: its fenced blocks but the command block (the one naming the script)
    and the code blocks (```python, see :func:`code_lines`)."""
    blocks = re.findall(r"^```([^\n]*)\n(.*?)^```", text, flags=re.M | re.S)
    return [
        line
        for kind, block in blocks
        if SCRIPT.name not in block and kind.strip() != "python"
        for line in block.splitlines()
        if line.strip()
    ]


def code_lines(text: str) -> list[str]:
    """The non-empty lines of the page's ```python blocks, stripped: each must be a line of the script, which ran
    that code to print the quoted output."""
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def matches(quoted: str, printed: list[str]) -> bool:
    """Whether ``quoted`` is one of ``printed``, ``...`` matching any text."""
    pattern = re.compile("^" + ".*".join(re.escape(part) for part in quoted.split("...")) + "$")
    return any(pattern.match(line) for line in printed)


def test_quoted_lines_are_found_and_checked_by_wildcards() -> None:
    assert matches("a [1, ...] b", ["a [1, 2, 3] b"]) and not matches("a [1, ...] b", ["a [2, 3] b"])
    assert len(quoted_lines(PAGE.read_text(encoding="utf-8"))) >= 10


def test_the_pages_code_is_the_scripts() -> None:
    script = {line.strip() for line in SCRIPT.read_text(encoding="utf-8").splitlines()}
    code = code_lines(PAGE.read_text(encoding="utf-8"))
    assert code, "docs/per-class.md shows no code block"
    missing = [line for line in code if line not in script]
    assert not missing, f"docs/per-class.md shows code that {SCRIPT.name} does not run: {missing}"


def test_the_page_quotes_what_the_script_prints() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.splitlines()
    stale = [line for line in quoted_lines(PAGE.read_text(encoding="utf-8")) if not matches(line, printed)]
    assert not stale, f"docs/per-class.md quotes lines the script no longer prints: {stale}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    verdict = readme.split("**Where it fails, by class.**", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    assert verdict.strip() and all(matches(line, printed) for line in verdict.splitlines() if line.strip()), (
        "README.md's per-class verdict is not what the script prints"
    )
