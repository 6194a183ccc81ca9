"""Same inputs and seed -> bit-identical JSON numbers: across runs (separate processes) and across batch sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganprobe.front_ends.cli import main

ARGS = ["--extractor", "random-resnet18", "--quiet", "--no-cache", "--workers", "0", "--seed", "3",
        "--metrics", "fid", "kid", "precision_recall", "knn_loo", "--layers", "layer1", "pool"]  # fmt: skip


def write_folder(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 10 + index % 3, 3)).astype(np.uint8)).save(folder / f"{index}.png")
    return folder


def numbers(report: Path) -> dict[str, object]:
    payload = json.loads(report.read_text())
    return {record["key"]: record["value"] for record in payload["metrics"]}


@pytest.mark.filterwarnings("ignore:FID.*rank-deficient")
@pytest.mark.filterwarnings("ignore:KID")
def test_json_numbers_are_bit_identical_across_runs_and_batch_sizes(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    fake, real = write_folder(tmp_path / "fake", 10, 1), write_folder(tmp_path / "real", 10, 2)
    in_process = tmp_path / "a.json"
    assert main(["evaluate", str(fake), str(real), *ARGS, "--batch-size", "3", "--json", str(in_process)]) == 0
    env = {**os.environ, "GANPROBE_OFFLINE": "1"}
    other = tmp_path / "b.json"
    command = [sys.executable, "-m", "ganprobe", "evaluate", str(fake), str(real), *ARGS, "--batch-size", "8"]
    result = subprocess.run([*command, "--json", str(other)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    first, second = numbers(in_process), numbers(other)
    assert set(first) >= {"fid", "kid", "precision", "recall", "knn_loo"}
    assert first == second  # exact equality of the JSON floats: another process and another batch size
