"""benchmarks/README.md quotes what ``benchmarks/per_class_rerun.py`` prints (per-class regression gates on a fresh
rerun of one generator): the quoted block must be exactly the script's output, so the page cannot drift."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "per_class_rerun.py"


def quoted_block() -> list[str]:
    """The lines of the fenced block after the README's "Per-class regression gates on a fresh rerun" paragraph."""
    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    after = text.split("**Per-class regression gates on a fresh rerun**", 1)[1]
    return [line for line in after.split("```\n", 2)[1].splitlines() if line.strip()]


def test_the_readme_quotes_what_the_script_prints() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    quoted = quoted_block()
    assert len(quoted) == 2 and quoted[0].startswith("sigmas 3:")
    assert quoted == [line for line in result.stdout.splitlines() if line.strip()]
