"""Smoke test of the benchmark runner (``benchmarks/run.py``): a tiny run writes a complete, consistent JSON.

The runner is a script, not part of the package: it is run as a subprocess, in ``--in-process`` mode (one
interpreter: imports are paid once, so the test stays fast) on tiny sizes. clean-fid is hidden through
``GANPROBE_BENCH_HIDE`` to check that a missing competitor becomes a "not installed" row instead of a crash.
Values are checked against independent computations (numpy/scipy), not against magic numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "benchmarks" / "run.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

SIZES = (200, 400)
FID_N, FID_DIM = 200, 32


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "run.json"
    command = [sys.executable, str(RUNNER), "--quick", "--in-process", "--sections", "fid_kid", "scaling"]
    command += ["--sizes", *map(str, SIZES), "--fid-n", str(FID_N), "--fid-dim", str(FID_DIM)]
    command += ["--kid-n", "200", "--kid-subset-size", "100", "--kid-subsets", "20", "--repeats", "1"]
    command += ["--json", str(out)]
    environment = {**os.environ, "GANPROBE_BENCH_HIDE": "cleanfid", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "scaling" in completed.stdout and "fid_kid" in completed.stdout  # the rich tables were printed
    return json.loads(out.read_text())


def _rows(payload: dict, section: str) -> list[dict]:
    return [r for r in payload["rows"] if r["section"] == section]


def test_json_describes_the_run(payload: dict) -> None:
    assert payload["sections"] == ["fid_kid", "scaling"]
    machine = payload["machine"]
    for key in ("cpu_model", "cpu_count", "torch", "torch_threads", "torchmetrics", "device"):
        assert key in machine
    assert payload["settings"]["sizes"] == list(SIZES)
    assert "benchmarks/run.py" in payload["command"] and "--quick" in payload["command"]
    assert not any(line.startswith("CHECK FAILED") for line in payload["targets"])


def test_missing_competitor_is_a_row_not_a_crash(payload: dict) -> None:
    clean = [r for r in _rows(payload, "fid_kid") if r["side"].startswith("clean-fid")]
    assert len(clean) == 2  # FID and KID
    assert all(r["status"] == "not installed" and r["seconds"] is None for r in clean)
    assert "clean-fid" not in payload["machine"]


def test_fid_rows_agree_with_scipy(payload: dict) -> None:
    import scores

    real, fake = (x.double().numpy() for x in scores.make_features(FID_N, FID_DIM, torch.float32))
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))
    fid_rows = [r for r in _rows(payload, "fid_kid") if r["case"].startswith("FID") and r["status"] == "ok"]
    sides = {r["side"].split()[0] for r in fid_rows}
    assert {"ganprobe", "torchmetrics"} <= sides
    for r in fid_rows:
        assert r["data"]["value"] == pytest.approx(expected, rel=1e-5), r["side"]
        assert r["check"] is True and r["seconds"] > 0 and r["ratio"] > 0


def test_kid_rows_share_the_full_set_value(payload: dict) -> None:
    kid_rows = [r for r in _rows(payload, "fid_kid") if r["case"].startswith("KID") and r["status"] == "ok"]
    assert len(kid_rows) >= 3
    checks = [r["data"]["check_mean"] for r in kid_rows]
    assert max(checks) - min(checks) <= 1e-9 * abs(checks[0])
    reference = next(r for r in kid_rows if r["side"] == "ganprobe kid")
    torchmetrics = next(r for r in kid_rows if r["side"].startswith("torchmetrics"))
    assert torchmetrics["data"]["mean"] == pytest.approx(reference["data"]["mean"], rel=1e-9)  # same subsets


def test_scaling_has_every_metric_at_every_size(payload: dict) -> None:
    rows = _rows(payload, "scaling")
    points = {(r["side"], r["data"]["n"]) for r in rows}
    metrics = ("knn_loo", "precision_recall", "fid", "kid")
    assert points == {(f"ganprobe {m}", n) for m in metrics for n in SIZES}
    for r in rows:
        assert r["status"] == "ok" and r["seconds"] > 0 and r["peak_bytes"] >= 0
        assert r["rate"] == pytest.approx(r["data"]["n"] / r["seconds"])
    knn = {r["data"]["n"]: r for r in rows if r["side"] == "ganprobe knn_loo"}
    from knn_loo import make_features
    from sklearn.neighbors import KNeighborsClassifier

    for n, r in knn.items():  # the value is the 1-NN leave-one-out accuracy (scikit-learn, independent)
        real, fake = make_features(n, 512)
        x = np.concatenate([real.numpy(), fake.numpy()])
        y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        neighbours = KNeighborsClassifier(1).fit(x, y).kneighbors(return_distance=False)[:, 0]
        assert float(r["value"]) == pytest.approx(float(np.mean(y[neighbours] == y)), abs=5e-4)


# ----------------------------------------------------------------------------------------------- backends section

BACKEND_EXTRACTOR = "random-lenet-mnist"  # the smallest built-in: the section's logic, not its timings, is tested


@pytest.fixture(scope="module")
def backends_payload(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "backends.json"
    command = [sys.executable, str(RUNNER), "--quick", "--in-process", "--sections", "backends", "--repeats", "1"]
    command += ["--backend-extractors", BACKEND_EXTRACTOR, "--backend-images", "16", "--backend-batch-size", "8"]
    command += ["--matmul-n", "128", "--image-size", "32", "--json", str(out), "--markdown"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GANPROBE_ONNX_DIR": str(out.parent / "onnx")}
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "backends, side by side" in completed.stdout  # the compact markdown table was printed
    return json.loads(out.read_text())


def test_backends_rows_for_both_backends_agree(backends_payload: dict) -> None:
    rows = _rows(backends_payload, "backends")
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows if r["status"] != "ok"]
    measured = {
        (r["data"]["mode"], r["data"]["backend"]): r for r in rows if r["data"].get("mode") in ("folder", "backbone")
    }
    assert set(measured) == {(m, b) for m in ("folder", "backbone") for b in ("torch", "onnxruntime")}
    for (mode, backend), r in measured.items():
        assert r["rate"] > 0 and r["seconds"] > 0 and 0 < r["data"]["flop_limit_share"]
        assert r["data"]["flops_per_image"] > 0 and r["data"]["extractor"] == BACKEND_EXTRACTOR
        eager = measured[mode, "torch"]
        assert r["ratio"] == pytest.approx(r["rate"] / eager["rate"])
        if backend == "onnxruntime":  # the feature-difference column: ONNX Runtime against eager, same images
            assert r["check"] is True and r["data"]["max_relative_difference"] < 1e-4, r["value"]
    decode = [r for r in rows if r["data"].get("mode") == "decode"]
    assert sorted(r["data"]["workers"] for r in decode) == [0, 1]
    assert all(set(r["data"]["share_of_end_to_end"]) == {"torch", "onnxruntime"} for r in decode)
    assert any(line.startswith(f"{BACKEND_EXTRACTOR} end to end") for line in backends_payload["targets"])


def test_backends_variants_give_the_default_features(backends_payload: dict) -> None:
    variants = [r for r in _rows(backends_payload, "backends") if r["data"].get("mode") == "variant"]
    import backends

    assert [r["side"] for r in variants] == list(backends.VARIANTS)
    assert all(r["check"] is True and r["value"] == "features identical" for r in variants)
    default = next(r for r in variants if r["side"] == "default pipeline")
    assert default["ratio"] == pytest.approx(1.0)
    per_image = next(r for r in variants if "one by one" in r["side"])
    assert per_image["data"]["workers"] == 1
