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
    """The lines of the page's fenced blocks, but the command block (the one naming the script)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    return [line for block in blocks if SCRIPT.name not in block for line in block.splitlines() if line.strip()]


def matches(quoted: str, printed: list[str]) -> bool:
    """Whether ``quoted`` is one of ``printed``, ``...`` matching any text."""
    pattern = re.compile("^" + ".*".join(re.escape(part) for part in quoted.split("...")) + "$")
    return any(pattern.match(line) for line in printed)


def test_quoted_lines_are_found_and_checked_by_wildcards() -> None:
    assert matches("a [1, ...] b", ["a [1, 2, 3] b"]) and not matches("a [1, ...] b", ["a [2, 3] b"])
    assert len(quoted_lines(PAGE.read_text(encoding="utf-8"))) >= 10


def test_the_page_quotes_what_the_script_prints() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout.splitlines()
    stale = [line for line in quoted_lines(PAGE.read_text(encoding="utf-8")) if not matches(line, printed)]
    assert not stale, f"docs/per-class.md quotes lines the script no longer prints: {stale}"
