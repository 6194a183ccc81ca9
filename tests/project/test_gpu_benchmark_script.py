"""``benchmarks/gpu.py`` runs end to end: every case on the CPU at ``--quick`` sizes, one JSON of finite ratios, and a
clean "skipped" record (exit 0) for ``--device cuda`` on a machine without a GPU. Nothing here is timed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("gpu-benchmark") / "quick.json"
    completed = _run("--device", "cpu", "--quick", "--json", str(path))
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(path.read_text())


def test_quick_cpu_run_writes_every_case(quick: dict) -> None:
    assert quick["status"] == "ok"
    assert quick["machine"]["device"] == "cpu"
    assert quick["settings"]["quick"] is True
    cases = {case["case"]: case for case in quick["cases"]}
    assert list(cases) == ["extraction", "extraction_compiled", "knn_loo", "fid", "evaluate"]
    # Compiling takes about a minute on a CPU: --quick there records why the case did not run.
    assert cases["extraction_compiled"]["status"] == "skipped" and cases["extraction_compiled"]["reason"]
    assert cases["extraction_compiled"]["ratio"] is None


def test_quick_cpu_ratios_are_each_case_over_its_baseline(quick: dict) -> None:
    ran = [case for case in quick["cases"] if case["status"] == "ok"]
    assert len(ran) == 4
    for case in ran:
        for key in ("seconds", "baseline_seconds", "ratio", "per_second"):
            assert math.isfinite(case[key]) and case[key] > 0, (case["case"], key, case[key])
        expected = (case["seconds"] / case["count"]) / (case["baseline_seconds"] / case["baseline_count"])
        assert case["ratio"] == pytest.approx(expected)
        assert case["baseline"]
    settings = quick["settings"]
    counts = {case["case"]: case["count"] for case in ran}
    assert counts == {
        "extraction": settings["extract_n"],
        "knn_loo": 2 * settings["knn_n"],
        "fid": 2 * settings["fid_n"],
        "evaluate": 2 * settings["evaluate_n"],
    }


def test_quick_cpu_values_are_the_metrics(quick: dict) -> None:
    cases = {case["case"]: case for case in quick["cases"]}
    # Independent features shifted by 0.1 per dimension: KNN-LOO accuracy is a fraction, FID positive; torchmetrics
    # computes the same FID on the same features.
    assert 0.0 <= cases["knn_loo"]["value"] <= 1.0
    assert cases["fid"]["value"] > 0
    if cases["fid"]["baseline_value"] is not None:
        assert cases["fid"]["value"] == pytest.approx(cases["fid"]["baseline_value"], rel=1e-3)
    values = cases["evaluate"]["values"]
    assert values and all(math.isfinite(value) for value in values.values())
    assert set(quick["settings"]["evaluate_metrics"]) == set(cases["evaluate"]["metrics"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the cuda run would be the full benchmark")
def test_cuda_without_a_gpu_is_a_skipped_record_and_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "cuda.json"
    completed = _run("--device", "cuda", "--json", str(path))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "no GPU: skipped" in completed.stdout
    payload = json.loads(path.read_text())
    assert payload["status"] == "skipped" and "no GPU" in payload["reason"]
    assert payload["cases"] == []
