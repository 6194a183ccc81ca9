"""``benchmarks/per_class_cost.py`` runs and reports both sides of its ratio (timings are reported, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "per_class_cost.py"


def test_quick_run_reports_both_sides_and_their_ratio(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--classes", "4", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["n_per_set"] == 500 and row["classes"] == 4 and row["dim"] == 64
    _check_ratio(row)
    assert "| 500 | 4 | 64 |" in done.stdout


def _check_ratio(row: dict, kind: str = "seconds", ratio: str = "ratio") -> None:
    blind, with_classes = row[f"class_blind_{kind}"], row[f"with_classes_{kind}"]
    assert blind > 0 and with_classes > 0
    # The seconds and the ratio are each rounded to 3 decimals, so the ratio is checked against the range the
    # rounded seconds allow (a fixed tolerance failed in CI: 0.107 s / 0.094 s = 1.138, printed ratio 1.128).
    half = 0.0005
    low = (with_classes - half) / (blind + half) - half
    high = (with_classes + half) / (blind - half) + half
    assert low <= row[ratio] <= high, (low, row[ratio], high)


def _benchmark_module():  # noqa: ANN202 - the benchmark script as a module
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import per_class_cost
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return per_class_cost


def test_whole_run_mode_times_both_evaluations_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--whole-run", "--quick", "--n", "60", "--classes", "3", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["mode"] == "whole-run" and row["extractor"] == "lenet-mnist"
    assert row["n_per_set"] == 60 and row["classes"] == 3 and row["repeats"] == 1
    _check_ratio(row)
    _check_ratio(row, "cpu_seconds", "cpu_ratio")
    assert row["others_cpu_share"] is None or 0 <= row["others_cpu_share"] <= 1
    assert "| 60 | 3 | lenet-mnist |" in done.stdout


def test_whole_run_sides_differ_only_by_classes_on_labelled_digit_folders(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PIL import Image

    import ganprobe

    per_class_cost = _benchmark_module()
    folders = per_class_cost.write_digits(tmp_path, 12, 3, noise=40.0)
    for label in ("real", "fake"):
        assert sorted(p.name for p in Path(folders[label]).iterdir()) == ["0", "1", "2"]
        assert [len(list((Path(folders[label]) / d).glob("*.png"))) for d in "012"] == [4, 4, 4]
    real = Image.open(Path(folders["real"]) / "1" / "00000.png")
    fake = Image.open(Path(folders["fake"]) / "1" / "00000.png")
    assert real.size == fake.size == (28, 28) and real.tobytes() != fake.tobytes()  # the same digit, perturbed
    calls: list[dict] = []

    class Result:
        def __init__(self, labelled: bool) -> None:
            self.per_class = object() if labelled else None

    def spy(fake: str, real: str, **kwargs):  # noqa: ANN003, ANN202
        calls.append({"fake": fake, "real": real, **kwargs})
        return Result("classes" in kwargs)

    monkeypatch.setattr(ganprobe, "evaluate", spy)
    assert per_class_cost.run_once(folders, classes=False)["wall"] >= 0
    assert per_class_cost.run_once(folders, classes=True)["cpu"] >= 0
    common = {"fake": folders["fake"], "real": folders["real"], "extractor": "lenet-mnist"}
    assert calls == [common, {**common, "classes": "subfolders"}]


def test_the_per_class_side_computes_every_per_class_number() -> None:
    per_class_cost = _benchmark_module()
    real, fake, real_labels, fake_labels = per_class_cost._features(120, 8, 3, seed=0)
    calls: list[str] = []
    original = per_class_cost.per_class_metrics

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append("per_class")
        return original(*args, **kwargs)

    per_class_cost.per_class_metrics = spy
    try:
        per_class_cost.with_classes(real, fake, real_labels, fake_labels)
        per_class_cost.class_blind(real, fake)
    finally:
        per_class_cost.per_class_metrics = original
    assert calls == ["per_class"]
    assert sorted(real_labels.unique().tolist()) == [0, 1, 2] and sorted(fake_labels.tolist()) == sorted(
        real_labels.tolist()
    )
