"""KNNLOOAccuracy and its functional twin, against scikit-learn's LeaveOneOut 1-NN and on known cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from ganprobe import InputError, KNNLOOAccuracy
from ganprobe.functional import knn, knn_loo_accuracy, knn_loo_details


def sklearn_loo(real: torch.Tensor, fake: torch.Tensor, k: int) -> float:
    x = torch.cat([real, fake]).double().numpy()
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    return float(cross_val_score(KNeighborsClassifier(n_neighbors=k), x, y, cv=LeaveOneOut()).mean())


@pytest.mark.parametrize(
    ("k", "shift", "dim", "n_real", "n_fake"),
    [(1, 0.3, 16, 120, 120), (3, 0.5, 5, 90, 70), (5, 0.0, 32, 60, 60), (1, 1.0, 2, 40, 90)],
)
def test_matches_sklearn_leave_one_out(k: int, shift: float, dim: int, n_real: int, n_fake: int) -> None:
    gen = torch.Generator().manual_seed(k * 100 + dim)
    real = torch.randn(n_real, dim, generator=gen)
    fake = torch.randn(n_fake, dim, generator=gen) + shift
    assert float(knn_loo_accuracy(real, fake, k=k)) == pytest.approx(sklearn_loo(real, fake, k), abs=1e-12)


def test_small_blocks_give_same_neighbours_as_one_block() -> None:
    gen = torch.Generator().manual_seed(1)
    points = torch.randn(300, 12, generator=gen)
    d_small, i_small = knn(points, points, 3, exclude_self=True, block_bytes=4 * 300 * 7)
    d_big, i_big = knn(points, points, 3, exclude_self=True)
    assert torch.equal(i_small, i_big)
    torch.testing.assert_close(d_small, d_big)
    brute = torch.cdist(points.double(), points.double())
    brute.fill_diagonal_(float("inf"))
    assert torch.equal(brute.topk(3, largest=False).indices, i_big)


def test_rerank_finds_exact_neighbour_that_float32_expansion_misorders() -> None:
    # Large offset + tiny differences: |a|^2 + |b|^2 - 2ab cancels catastrophically in float32.
    base = torch.full((1, 4), 1000.0)
    points = torch.cat([base, base + torch.tensor([[1e-3, 0, 0, 0]]), base + torch.tensor([[2e-3, 0, 0, 0]])])
    _, index = knn(points, points, 1, exclude_self=True)
    assert index[:, 0].tolist() == [1, 0, 1]  # point 1 ties between 0 and 2: the lower index wins


def test_large_common_offset_does_not_break_the_search() -> None:
    gen = torch.Generator().manual_seed(2)
    points = 1000 + 0.3 * torch.randn(120, 8, generator=gen)
    distances, index = knn(points, points, 3, exclude_self=True)
    brute = torch.cdist(points.double(), points.double())
    brute.fill_diagonal_(float("inf"))
    expected = brute.topk(3, largest=False)
    assert torch.equal(index, expected.indices)
    torch.testing.assert_close(distances, expected.values)


def test_known_cases() -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(100, 8, generator=gen)
    assert float(knn_loo_accuracy(real, real.clone() + 50)) == 1.0  # fully separated
    # identical sets: each sample's nearest other is its twin of the other class -> 0
    assert float(knn_loo_accuracy(real, real.clone())) == 0.0
    halves = torch.randn(2000, 8, generator=gen)
    assert abs(float(knn_loo_accuracy(halves[:1000], halves[1000:])) - 0.5) < 0.05


def test_details_per_class_and_permutation_p_value() -> None:
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(150, 6, generator=gen)
    fake_far = torch.randn(150, 6, generator=gen) + 3
    far = knn_loo_details(real, fake_far, num_permutations=200, seed=1)
    assert far.accuracy == 1.0 and far.real_accuracy == 1.0 and far.fake_accuracy == 1.0
    assert far.p_value == pytest.approx(1 / 201)
    same = knn_loo_details(real, torch.randn(150, 6, generator=gen), num_permutations=200, seed=1)
    assert same.p_value > 0.05
    # per-class accuracies recombine to the overall accuracy
    fake = torch.randn(60, 6, generator=gen) * 0.3
    mixed = knn_loo_details(real, fake, k=3, num_permutations=0)
    assert mixed.accuracy == pytest.approx((mixed.real_accuracy * 150 + mixed.fake_accuracy * 60) / 210)
    assert mixed.accuracy == pytest.approx(sklearn_loo(real, fake, 3))
    assert np.isnan(mixed.p_value)
    again = knn_loo_details(
        real, torch.randn(150, 6, generator=torch.Generator().manual_seed(9)), num_permutations=100, seed=5
    )
    assert again == knn_loo_details(
        real, torch.randn(150, 6, generator=torch.Generator().manual_seed(9)), num_permutations=100, seed=5
    )


def test_metric_batches_and_order_do_not_matter() -> None:
    gen = torch.Generator().manual_seed(4)
    real, fake = torch.randn(97, 10, generator=gen), torch.randn(83, 10, generator=gen) + 0.4
    one = KNNLOOAccuracy(extractor=None)
    one.update(real, real=True)
    one.update(fake, real=False)
    chunked = KNNLOOAccuracy(extractor=None)
    for part in fake.split(10):
        chunked.update(part, real=False)
    for part in real.split(7):
        chunked.update(part, real=True)
    assert float(one.compute()) == float(chunked.compute()) == pytest.approx(sklearn_loo(real, fake, 1))
    details = chunked.compute_details(num_permutations=50)
    assert details.num_real == 97 and details.num_fake == 83


def test_metric_errors() -> None:
    with pytest.raises(InputError, match="odd"):
        KNNLOOAccuracy(k=2, extractor=None)
    metric = KNNLOOAccuracy(extractor=None)
    metric.update(torch.randn(5, 4), real=True)
    with pytest.raises(InputError, match="width 3 differs from 4"):
        metric.update(torch.randn(5, 3), real=False)
    with pytest.raises(InputError, match="both real and fake"):
        metric.compute()
    with pytest.raises(InputError, match="real: expected True or False"):
        metric.update(torch.randn(5, 4), real=1)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"\(N, D\)"):
        metric.update(torch.randn(5), real=False)
    with pytest.raises(InputError, match="NaN"):  # rejected at update(), before it can poison compute()
        metric.update(torch.full((5, 4), float("nan")), real=False)
    metric.reset()
    metric.update(torch.randn(1, 3), real=True)  # width is forgotten by reset
    metric.update(torch.randn(1, 3), real=False)
    assert float(metric.compute()) in (0.0, 1.0)
    k3 = KNNLOOAccuracy(k=3, extractor=None)
    k3.update(torch.randn(1, 3), real=True)
    k3.update(torch.randn(2, 3), real=False)
    with pytest.raises(InputError, match="at least 4 samples"):
        k3.compute()


def test_ties_beyond_the_candidate_window_go_to_the_lower_index() -> None:
    points = torch.zeros(200, 4)
    _, index = knn(points, points, 1, exclude_self=True)
    assert index[0, 0] == 1 and bool((index[1:, 0] == 0).all())
    details = knn_loo_details(torch.zeros(100, 4), torch.zeros(100, 4), num_permutations=0)
    # every point's nearest other is index 0 (a real) -> reals are "right", fakes "wrong"; real 0 -> index 1
    assert details.real_accuracy == 1.0 and details.fake_accuracy == 0.0


def test_calling_the_metric_adds_data_instead_of_losing_it() -> None:
    metric = KNNLOOAccuracy(extractor=None)
    metric(torch.randn(20, 4), real=True)
    metric.update(torch.randn(20, 4) + 9, real=False)
    assert metric(torch.randn(5, 4) + 9, real=False) is None
    assert float(metric.compute()) == 1.0
    assert metric.compute_details(num_permutations=0).num_fake == 25
