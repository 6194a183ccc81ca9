"""``ganprobe evaluate`` imports only what the run uses: no scikit-learn or onnx on an FID-only run, and no
torchmetrics on any run (the evaluator runs each metric's scorer, :mod:`ganprobe.scorers`).

Each run is a fresh interpreter (this test process has every package loaded already) that runs the CLI and then
lists the heavy modules left in ``sys.modules``. A count of modules, not a time: ``benchmarks/startup.py`` measures
the wall times, as ratios to ``import torch`` in the same session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
# Modules an FID-only evaluate does not need: the separability probes (scikit-learn), the ONNX graph library (only an
# export needs it; a stored export's key reads its version from the package metadata).
NOT_NEEDED = ("sklearn", "onnx")
# What torchmetrics' package import brings along (every domain: torchvision and torch._dynamo, matplotlib,
# scipy.signal and scipy.stats); an FID-only run needs none of it.
TORCHMETRICS_AND_ITS_IMPORTS = ("torchmetrics", "torchvision", "matplotlib", "scipy.stats")

# Runs ganprobe.front_ends.cli.main(sys.argv[1:]) and prints its exit code and the loaded modules among sys.argv[1]'s
# list.
_PROBE = """
import json, sys
from ganprobe.front_ends.cli import main
watched = json.loads(sys.argv[1])
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(name for name in watched if name in sys.modules)}))
"""


def _images(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return folder


def _run(argv: list[str], watched: tuple[str, ...] = NOT_NEEDED) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(watched), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("import-weight")
    return str(_images(root / "fake", 16, 1)), str(_images(root / "real", 16, 2))


def test_fid_only_evaluate_imports_no_sklearn_or_onnx(folders: tuple[str, str], tmp_path: Path) -> None:
    fake, real = folders
    argv = ["evaluate", fake, real, "--metrics", "fid", "--quiet", "--cache-dir", str(tmp_path / "features")]
    first = _run(argv)  # fills the feature cache (and the ONNX export folder, when onnxruntime runs the backbone)
    warm = _run(argv)  # the cached run: what a CI gate repeats
    assert first["code"] == warm["code"] == 0
    assert warm["loaded"] == []
    cold = _run([*argv[:-2], "--no-cache"])  # extraction itself, from a stored ONNX export, needs none of them either
    assert cold["code"] == 0
    assert cold["loaded"] == []


def test_the_probe_sees_a_module_that_is_loaded(folders: tuple[str, str], tmp_path: Path) -> None:
    # The check above can fail: a run that needs the separability probes lists scikit-learn.
    fake, real = folders
    argv = ["evaluate", fake, real, "--metrics", "layer_separability", "--quiet", "--no-cache"]
    run = _run(argv)
    assert run["code"] == 0
    assert "sklearn" in run["loaded"]


def test_fid_only_evaluate_imports_no_torchmetrics(folders: tuple[str, str], tmp_path: Path) -> None:
    fake, real = folders
    argv = ["evaluate", fake, real, "--metrics", "fid", "--quiet", "--no-cache"]
    run = _run(argv, TORCHMETRICS_AND_ITS_IMPORTS)
    assert run["code"] == 0
    assert run["loaded"] == []


def test_a_full_evaluate_imports_no_torchmetrics(folders: tuple[str, str], tmp_path: Path) -> None:
    # every metric: the scorers stand in for all of them (scikit-learn and scipy.stats may load: the probes need them)
    fake, real = folders
    argv = ["evaluate", fake, real, "--quiet", "--no-cache", "--set", "kid.subset_size=8", "--set", "is.splits=2"]
    run = _run(argv, ("torchmetrics", "torchvision", "matplotlib"))
    assert run["code"] == 0
    assert run["loaded"] == []
