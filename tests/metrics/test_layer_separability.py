"""LayerSeparability protocols against scikit-learn pipelines written independently here, and known cases."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ganprobe import InputError, LayerSeparability, first_separable_layer
from ganprobe.functional import (
    knn_loo_accuracy,
    linear_probe_accuracy,
    pca2_kmeans_accuracy,
    pca2_svm_accuracy,
)


def make_sets(shift: float, n: int = 64, dim: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(n, dim, generator=gen)
    fake = torch.randn(n, dim, generator=gen)
    fake[:, 0] += shift  # separable along one direction only
    return real, fake


def xy(real: torch.Tensor, fake: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return torch.cat([real, fake]).double().numpy(), np.r_[np.zeros(len(real)), np.ones(len(fake))]


@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_linear_probe_equals_sklearn_cross_val_pipeline(shift: float) -> None:
    real, fake = make_sets(shift)
    x, y = xy(real, fake)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    expected = cross_val_score(pipeline, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=7)).mean()
    assert linear_probe_accuracy(real, fake, folds=5, seed=7) == pytest.approx(expected, abs=1e-12)


def test_pca2_svm_equals_study_protocol() -> None:
    real, fake = make_sets(2.0)
    x, y = xy(real, fake)
    points = PCA(n_components=2).fit_transform(x)
    expected = SVC(C=1, kernel="rbf", gamma=1 / points.shape[1]).fit(points, y).score(points, y)
    assert pca2_svm_accuracy(real, fake) == pytest.approx(expected, abs=1e-12)


def test_pca2_kmeans_equals_sklearn_with_best_assignment() -> None:
    real, fake = make_sets(4.0)
    x, y = xy(real, fake)
    clusters = KMeans(n_clusters=2, n_init=10, random_state=2).fit_predict(PCA(n_components=2).fit_transform(x))
    expected = max(np.mean(clusters == y), np.mean(clusters != y))
    assert pca2_kmeans_accuracy(real, fake, seed=2) == pytest.approx(expected, abs=1e-12)


def test_known_cases_half_and_separated() -> None:
    gen = torch.Generator().manual_seed(1)
    pool = torch.randn(400, 10, generator=gen)
    halves = pool[:200], pool[200:]
    assert abs(linear_probe_accuracy(*halves) - 0.5) < 0.1
    assert abs(pca2_kmeans_accuracy(*halves) - 0.5) < 0.1
    apart = pool[:200], pool[200:] + 20
    for protocol in (linear_probe_accuracy, pca2_svm_accuracy, pca2_kmeans_accuracy):
        assert protocol(*apart) == 1.0
    assert float(knn_loo_accuracy(*apart)) == 1.0


def test_pca2_hides_what_a_linear_probe_sees() -> None:
    # The signal sits in a low-variance direction: PCA-2 keeps the two high-variance nuisance directions.
    gen = torch.Generator().manual_seed(5)
    real, fake = torch.randn(200, 12, generator=gen), torch.randn(200, 12, generator=gen)
    real[:, :2] *= 10
    fake[:, :2] *= 10
    fake[:, 5] += 4
    assert linear_probe_accuracy(real, fake) > 0.9
    assert pca2_kmeans_accuracy(real, fake) < 0.65


def test_metric_matches_functional_and_names_first_separable_layer() -> None:
    real_a, fake_a = make_sets(0.0, seed=1)
    real_b, fake_b = make_sets(6.0, seed=2, dim=6)
    metric = LayerSeparability(extractor=None, layers=["block1", "block2"], seed=3)
    for start in range(0, 64, 16):
        metric.update({"block1": real_a[start : start + 16], "block2": real_b[start : start + 16]}, real=True)
        metric.update({"block1": fake_a[start : start + 16], "block2": fake_b[start : start + 16]}, real=False)
    protocols = ["linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans"]
    flat = metric.compute()  # flat {"separability.<layer>.<protocol>": 0-d tensor}, keyed like reports and gates
    assert list(flat) == [
        f"separability.{layer}.{protocol}" for layer in ("block1", "block2") for protocol in protocols
    ]
    assert all(isinstance(value, torch.Tensor) and value.ndim == 0 for value in flat.values())
    scores = metric.compute_table()  # the nested {layer: {protocol: accuracy}} view of the same numbers
    assert list(scores) == ["block1", "block2"]
    assert set(scores["block1"]) == set(protocols)
    assert {
        f"separability.{layer}.{protocol}": float(value)
        for layer, row in scores.items()
        for protocol, value in row.items()
    } == {key: float(value) for key, value in flat.items()}
    assert float(scores["block2"]["linear_probe"]) == linear_probe_accuracy(real_b, fake_b, seed=3)
    assert float(scores["block1"]["knn_loo"]) == float(knn_loo_accuracy(real_a, fake_a))
    assert float(scores["block2"]["pca2_svm"]) == pca2_svm_accuracy(real_b, fake_b)
    assert metric.first_separable_layer(0.9) == "block2"
    assert first_separable_layer({"x": {"linear_probe": 0.6}}, 0.9) is None
    assert metric.compute_table() == scores  # deterministic for a seed
    assert metric.compute() == flat


def test_metric_errors() -> None:
    with pytest.raises(InputError, match="protocols"):
        LayerSeparability(extractor=None, layers=["a"], protocols=["t-sne"])
    with pytest.raises(InputError, match="layers"):
        LayerSeparability(extractor=None)
    metric = LayerSeparability(extractor=None, layers=["a", "b"], protocols=["linear_probe"])
    with pytest.raises(InputError, match="expected features for layers"):
        metric.update({"a": torch.randn(4, 3)}, real=True)
    metric.update({"a": torch.randn(3, 3), "b": torch.randn(3, 3)}, real=True)
    metric.update({"a": torch.randn(3, 3), "b": torch.randn(3, 3)}, real=False)
    with pytest.raises(InputError, match="layer 'a'.*5 folds needs >= 5"):
        metric.compute()
    with pytest.raises(InputError, match="not among"):
        metric.first_separable_layer(protocol="knn_loo")


def test_both_pca2_protocols_share_one_pca(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("ganprobe.functional.separability")  # the package exports a function of that name

    gen = torch.Generator().manual_seed(3)
    real, fake = torch.randn(40, 12, generator=gen), torch.randn(40, 12, generator=gen) + 0.5
    alone = {"pca2_svm": module.pca2_svm_accuracy(real, fake), "pca2_kmeans": module.pca2_kmeans_accuracy(real, fake)}
    calls: list[int] = []
    pca = module._pca2
    monkeypatch.setattr(module, "_pca2", lambda x: calls.append(1) or pca(x))
    assert module.separability(real, fake, protocols=["pca2_svm", "pca2_kmeans"]) == alone
    assert len(calls) == 1
