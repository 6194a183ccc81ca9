"""A folder or file name with control characters never reaches the terminal raw (issue 24 review): an ESC sequence in
a class folder's name once recoloured the per-class table, the verdict and the worst-samples tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from mnist_classes import digits
from PIL import Image

from ganprobe.front_ends.cli import main

INJECTED = "\x1b[31mRED\x1b[2J"


def test_class_and_file_names_with_escape_sequences_are_printed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = digits()
    for side, pool in (("real", data.real), ("fake", data.fake)):
        for digit, name in ((0, "zero"), (1, f"one{INJECTED}")):
            folder = tmp_path / side / name
            folder.mkdir(parents=True)
            count = 30 if side == "real" or digit == 0 else 2
            for row in [int(row) for row in pool if int(data.labels[row]) == digit][:count]:
                Image.fromarray(data.images[row, 0].numpy()).save(folder / f"{row}{INJECTED}.png")
    argv = ["evaluate", str(tmp_path / "fake"), str(tmp_path / "real"), "--extractor", "lenet-mnist"]
    argv += ["--metrics", "knn_loo", "--classes", "subfolders", "--worst", "3", "--no-cache", "--quiet"]
    assert main([*argv, "--fail-if", "under_produced_classes>0"]) == 1
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out and "\x1b" not in printed.err
    escaped = "one\\x1b[31mRED\\x1b[2J"
    assert f"Class {escaped}:" in printed.out  # the verdict
    assert printed.out.count(escaped) >= 4  # the per-class table and the least covered reals (their class and file)
