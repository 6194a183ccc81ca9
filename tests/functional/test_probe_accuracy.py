"""Linear probes (issue 24 items 4 and 5): the Classification Accuracy Score and a per-sample "how fake" probability."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mnist_classes import digits, lenet_features, noisy
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ganprobe.errors import InputError
from ganprobe.functional.probe_accuracy import (
    classification_accuracy_score,
    fake_probabilities,
    fit_linear_probe,
)
from ganprobe.functional.separability import linear_probe_accuracy

# Small solves and products on a shared 2-core machine: one thread (see conftest).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sklearn_proba(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, tol=1e-12, max_iter=20000).fit(scaler.transform(x), y)
    return model.predict_proba(scaler.transform(x))


@pytest.mark.parametrize(("classes", "c"), [(10, 1.0), (10, 0.05), (2, 1.0), (3, 10.0)])
def test_probe_matches_sklearn_logistic_regression(classes: int, c: float) -> None:
    x, y = load_digits(return_X_y=True)
    keep = y < classes
    x, y = x[keep][:400], y[keep][:400]
    reference = _sklearn_proba(x, y, c)
    tight = fit_linear_probe(torch.from_numpy(x), torch.from_numpy(y), c=c, tolerance=1e-8, max_iter=5000)
    np.testing.assert_allclose(tight.predict_proba(torch.from_numpy(x)).numpy(), reference, atol=1e-5)
    probe = fit_linear_probe(torch.from_numpy(x), torch.from_numpy(y), c=c)  # the default tolerance
    np.testing.assert_allclose(probe.predict_proba(torch.from_numpy(x)).numpy(), reference, atol=1e-3)
    assert probe.classes.tolist() == list(range(classes))


def test_probe_is_deterministic_and_predicts_only_the_classes_it_saw() -> None:
    x, y = load_digits(return_X_y=True)
    features, labels = torch.from_numpy(x[:400]), torch.from_numpy(y[:400])
    first, second = fit_linear_probe(features, labels), fit_linear_probe(features, labels)
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)
    subset = labels != 4
    probe = fit_linear_probe(features[subset], labels[subset])
    assert 4 not in probe.predict(features).tolist()
    single = fit_linear_probe(features[labels == 2], labels[labels == 2])
    assert set(single.predict(features).tolist()) == {2}


@pytest.fixture(scope="module")
def halves() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = digits()
    return data.features[data.real], data.labels[data.real], data.features[data.fake], data.labels[data.fake]


def test_cas_with_correct_labels_is_close_to_the_real_trained_probe(halves) -> None:
    real, real_labels, fake, fake_labels = halves
    result = classification_accuracy_score(real, real_labels, fake, fake_labels)
    assert result.real_accuracy > 0.95 and abs(result.cas - result.real_accuracy) < 0.02
    assert result.num_test == 1250 and result.num_real_train == 1250 and result.num_fake_train == 2500


def test_cas_with_shuffled_labels_falls_to_chance(halves) -> None:
    real, real_labels, fake, fake_labels = halves
    shuffled = fake_labels[torch.randperm(fake_labels.shape[0], generator=torch.Generator().manual_seed(0))]
    result = classification_accuracy_score(real, real_labels, fake, shuffled)
    assert abs(result.cas - 0.1) < 0.04 and abs(result.chance - 0.1) < 0.02  # binomial sd at 1,250 tests: 0.0085
    assert result.real_accuracy > 0.95


def test_how_fake_probabilities_find_the_noisy_3s_and_match_the_separability_probe(halves) -> None:
    data = digits()
    real, _, _, fake_labels = halves
    images = data.images[data.fake][:1000].clone()
    labels = fake_labels[:1000]
    threes = labels == 3
    images[threes] = noisy(images[threes], 120.0)
    fake = lenet_features(images)
    result = fake_probabilities(real[:1000], fake, folds=5)
    assert result.real.shape == (1000,) and result.fake.shape == (1000,)
    assert int((labels[result.most_fake(30)] == 3).sum()) >= 20  # ~10 % of the fakes are 3s
    assert float(result.fake[threes].mean()) > float(result.fake[~threes].mean()) + 0.2
    # The held-out accuracy is the separability protocol's (other folds, same C): the same up to the folds' draw.
    assert abs(result.accuracy - linear_probe_accuracy(real[:1000], fake, folds=5)) < 0.03


def test_held_out_reals_as_fakes_are_indistinguishable(halves) -> None:
    real, _, fake, _ = halves
    result = fake_probabilities(real[:800], fake[:800], folds=4, seed=3)
    assert abs(result.accuracy - 0.5) < 0.06  # binomial sd at 1,600 samples: 0.0125


def test_bad_inputs_fail_with_one_line(halves) -> None:
    real, real_labels, fake, fake_labels = halves
    with pytest.raises(InputError, match="fake_labels: 3 labels for 2500 feature rows"):
        classification_accuracy_score(real, real_labels, fake, fake_labels[:3])
    with pytest.raises(InputError, match="test_fraction"):
        classification_accuracy_score(real, real_labels, fake, fake_labels, test_fraction=1.0)
    with pytest.raises(InputError, match="c: expected a number > 0"):
        fit_linear_probe(real, real_labels, c=0)
    with pytest.raises(InputError, match="folds: must be an integer >= 2"):
        fake_probabilities(real, fake, folds=1)
