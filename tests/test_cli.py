"""The ``ganprobe`` command, run as a user runs it (subprocess): results, JSON, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GANPROBE_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "ganprobe", *args], capture_output=True, text=True, env=env, timeout=300
    )


def write_folder(folder: Path, count: int, seed: int, bright: bool) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        size = (24 + index % 3 * 4, 24)  # mixed sizes
        base = rng.integers(150, 256, size + (3,)) if bright else rng.integers(0, 100, size + (3,))
        Image.fromarray(base.astype(np.uint8)).save(folder / f"img_{index:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    return write_folder(root / "fake", 12, 1, bright=False), write_folder(root / "real", 12, 2, bright=True)


def test_evaluate_writes_json_and_tables(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    report = tmp_path / "out" / "report.json"
    result = run(
        "evaluate",
        str(fake),
        str(real),
        "--extractor",
        "random-resnet18",
        "--json",
        str(report),
        "--quiet",
        "--permutations",
        "50",
        "--batch-size",
        "5",
    )
    assert result.returncode == 0, result.stderr
    assert "k-NN leave-one-out" in result.stdout and "layer4" in result.stdout
    payload = json.loads(report.read_text())
    assert payload["schema_version"] == 1
    assert payload["inputs"]["fake"]["count"] == 12 and payload["inputs"]["real"]["count"] == 12
    assert payload["extractor"]["name"] == "random-resnet18"
    assert payload["knn_loo"]["accuracy"] == 1.0  # dark noise vs bright noise
    assert list(payload["layer_separability"]) == ["layer1", "layer2", "layer3", "layer4"]
    assert payload["layer_separability"]["layer1"]["pca2_svm"] == 1.0
    assert not list(report.parent.glob(".*tmp"))  # atomic write leaves no temporary file


def test_evaluate_is_deterministic_and_batch_size_independent(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    outputs = []
    for batch in ("3", "12"):
        path = tmp_path / f"r{batch}.json"
        result = run(
            "evaluate",
            str(fake),
            str(real),
            "--extractor",
            "random-resnet18",
            "--json",
            str(path),
            "--quiet",
            "--batch-size",
            batch,
            "--layers",
            "layer1",
            "layer2",
            "--seed",
            "4",
        )
        assert result.returncode == 0, result.stderr
        payload = json.loads(path.read_text())
        outputs.append((payload["knn_loo"], payload["layer_separability"]))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "no image files"),
        ("corrupt", "broken.png: cannot decode image"),
        ("extractor", "unknown name 'nope'"),
        ("weights", "resnet18-f37072fd.pth"),
        ("layers", "not available in extractor"),
        ("batch", "--batch-size: must be positive"),
        ("usage", "the following arguments are required"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(
    case: str, expected: str, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    fake, real = folders
    args = ["evaluate", str(fake), str(real), "--quiet", "--extractor", "random-resnet18"]
    if case == "missing":
        args[1] = str(tmp_path / "nowhere")
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("no images here")
        args[1] = str(tmp_path / "empty")
    elif case == "corrupt":
        bad = write_folder(tmp_path / "bad", 3, 5, bright=False)
        (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
        args[1] = str(bad)
    elif case == "extractor":
        args[-1] = "nope"
    elif case == "weights":
        args[-1] = "resnet18"
    elif case == "layers":
        args += ["--layers", "block9"]
    elif case == "batch":
        args += ["--batch-size", "0"]
    elif case == "usage":
        args = ["evaluate", str(fake)]
    result = run(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_extractors_command_lists_registry() -> None:
    result = run("extractors")
    assert result.returncode == 0
    for name in ("efficientnet-lite0", "resnet50", "inception-fid", "random-resnet18"):
        assert name in result.stdout
