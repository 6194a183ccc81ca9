"""FID's N x N Gram route (issue 26, item 2): same value as the D x D route and scipy, no D x D decomposition."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor

from ganprobe.functional import frechet
from ganprobe.functional.frechet import (
    _fid_gram,
    _gram_products_cost,
    _trace_sqrt_gram,
    feature_statistics,
    fid_from_features,
    fid_route,
    frechet_distance,
    lower_gram,
)
from ganprobe.metrics.fid import FID

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore::UserWarning"),  # N <= D: the rank-deficiency warning is expected here
]

RELATIVE = 1e-6


def _features(n: int, dim: int, seed: int, shift: float = 0.0, dtype: torch.dtype = torch.float64) -> Tensor:
    """Correlated, anisotropic, non-centred Gaussian rows."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.eye(dim, dtype=torch.float64) + 0.3 * torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    scales = torch.rand(dim, generator=generator, dtype=torch.float64) + 0.5
    return ((torch.randn(n, dim, generator=generator, dtype=torch.float64) * scales) @ mixing + shift).to(dtype)


def _scipy_fid(real: Tensor, fake: Tensor) -> float:
    """Independent reference: numpy statistics and ``scipy.linalg.sqrtm`` of ``S_r^{1/2} S_f S_r^{1/2}``."""
    x, y = real.double().numpy(), fake.double().numpy()
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    sigma_x, sigma_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root_x = np.real(scipy.linalg.sqrtm(sigma_x))
    inner = root_x @ sigma_y @ root_x
    trace_sqrt = np.real(np.trace(scipy.linalg.sqrtm((inner + inner.T) / 2)))
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(sigma_x) + np.trace(sigma_y) - 2 * trace_sqrt)


def _covariance_route(real: Tensor, fake: Tensor) -> float:
    mu_r, sigma_r = feature_statistics(real)
    mu_f, sigma_f = feature_statistics(fake)
    return float(frechet_distance(mu_r, sigma_r, mu_f, sigma_f, counts=(real.shape[0], fake.shape[0])))


# (N_real, N_fake, D): N < D, N > D, N_real != N_fake on both sides of D, one set above D and one below.
SHAPES = [(30, 30, 64), (40, 25, 64), (300, 200, 16), (20, 90, 64), (90, 20, 64), (60, 400, 64), (3, 5, 32)]


@pytest.mark.parametrize(("n_real", "n_fake", "dim"), SHAPES)
def test_gram_route_equals_covariance_route_and_scipy(n_real: int, n_fake: int, dim: int) -> None:
    real = _features(n_real, dim, seed=1)
    fake = _features(n_fake, dim, seed=2, shift=0.2)
    gram = float(_fid_gram(real, fake))
    covariance = _covariance_route(real, fake)
    reference = _scipy_fid(real, fake)
    assert gram == pytest.approx(covariance, rel=RELATIVE)
    assert gram == pytest.approx(reference, rel=RELATIVE)
    assert float(fid_from_features(real, fake)) == pytest.approx(reference, rel=RELATIVE)


@pytest.mark.parametrize(("n_small", "n_large", "dim", "direct"), [(30, 40, 64, True), (60, 400, 64, False)])
def test_both_ways_of_building_the_gram_matrix(n_small: int, n_large: int, dim: int, direct: bool) -> None:
    """``(A B^T)(A B^T)^T`` and ``A (B^T B) A^T`` are both exercised and both match the D x D trace term."""
    assert _gram_products_cost(n_small, n_large, dim)[1] is direct
    a = _features(n_small, dim, seed=3)
    b = _features(n_large, dim, seed=4, shift=1.0)
    a, b = a - a.mean(dim=0), b - b.mean(dim=0)
    sigma_a, sigma_b = a.T @ a / (n_small - 1), b.T @ b / (n_large - 1)
    root_a = torch.from_numpy(np.real(scipy.linalg.sqrtm(sigma_a.numpy())))
    inner = root_a @ sigma_b @ root_a
    expected = float(np.real(np.trace(scipy.linalg.sqrtm(((inner + inner.T) / 2).numpy()))))
    for first, second in ((a, b), (b, a)):  # the term is symmetric in the two sets
        assert float(_trace_sqrt_gram(first, second)) == pytest.approx(expected, rel=RELATIVE)


@pytest.mark.parametrize(("count", "block"), [(1, 512), (10, 3), (37, 8), (64, 64), (65, 64), (300, 512)])
def test_lower_gram_is_the_lower_triangle_of_the_product(count: int, block: int) -> None:
    rows = _features(count, 11, seed=7)
    lower = lower_gram(rows, block)
    assert lower.shape == (count, count) and lower.dtype == rows.dtype
    torch.testing.assert_close(lower.tril(), (rows @ rows.T).tril(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 64])
def test_gram_route_in_blocks_equals_scipy(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several row blocks (the N = 2,000 case has four of 512) give the same FID as scipy."""
    monkeypatch.setattr(frechet, "_GRAM_BLOCK", block)
    real, fake = _features(50, 64, seed=8), _features(45, 64, seed=9, shift=0.3)
    assert fid_route(50, 45, 64) == "gram"
    assert float(fid_from_features(real, fake)) == pytest.approx(_scipy_fid(real, fake), rel=RELATIVE)


@pytest.mark.parametrize(("n", "dim"), [(40, 64), (300, 16)])
def test_identical_sets_give_zero(n: int, dim: int) -> None:
    real = _features(n, dim, seed=5, dtype=torch.float32)
    _, sigma = feature_statistics(real)
    scale = float(2 * sigma.trace())
    assert abs(float(_fid_gram(real, real.clone()))) <= RELATIVE * scale
    assert abs(float(fid_from_features(real, real.clone()))) <= RELATIVE * scale


def test_route_choice_by_cost() -> None:
    assert fid_route(2000, 2000, 2048) == "gram"  # Inception features, N < D: the case
    assert fid_route(100, 50_000, 2048) == "gram"  # a tiny set against a large one
    assert fid_route(10_000, 10_000, 2048) == "covariance"  # the usual regime, N >> D
    assert fid_route(50_000, 50_000, 2048) == "covariance"
    assert fid_route(3, 5, 32) == "gram"


class _DecompositionCounter:
    """Records the matrix sizes passed to ``torch.linalg``'s factorisations."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        for name in ("eigh", "eigvalsh", "cholesky_ex", "eigvals", "svdvals"):
            original = getattr(torch.linalg, name)
            monkeypatch.setattr(torch.linalg, name, self._wrap(original))

    def _wrap(self, original):  # noqa: ANN001, ANN202 - a thin recording wrapper
        def recorded(matrix: Tensor, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.sizes.append(int(matrix.shape[-1]))
            return original(matrix, *args, **kwargs)

        return recorded


def test_functional_never_decomposes_a_d_by_d_matrix_when_n_below_d(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting, not timing: at N < D the only decomposition is one N x N ``eigvalsh``."""
    dim = 96
    real, fake = _features(40, dim, seed=6), _features(50, dim, seed=7, shift=0.3)
    counter = _DecompositionCounter(monkeypatch)
    value = float(fid_from_features(real, fake))
    assert counter.sizes == [40]
    assert value == pytest.approx(_scipy_fid(real, fake), rel=RELATIVE)


def test_metric_with_kept_features_takes_the_gram_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """``FID(keep_features=True)`` at N < D: same value as the running-sums route, no D x D decomposition."""
    dim = 96
    real, fake = _features(40, dim, seed=8, dtype=torch.float32), _features(50, dim, seed=9, shift=0.3)
    sums_only, kept = FID(extractor=None), FID(extractor=None, keep_features=True)
    for metric in (sums_only, kept):
        for start in range(0, 40, 16):  # batch by batch, as a data loader would
            metric.update(real[start : start + 16], real=True)
        metric.update(fake.float(), real=False)
    expected = float(sums_only.compute())
    counter = _DecompositionCounter(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(kept.compute())
    assert counter.sizes == [40]
    assert value == pytest.approx(expected, rel=RELATIVE)
    assert value == pytest.approx(_scipy_fid(real, fake.float()), rel=RELATIVE)
    assert any("rank-deficient" in str(warning.message) for warning in caught)  # still warned, once per compute


def test_covariance_route_kept_when_n_above_d(monkeypatch: pytest.MonkeyPatch) -> None:
    dim = 16
    real, fake = _features(400, dim, seed=10), _features(300, dim, seed=11, shift=0.3)
    counter = _DecompositionCounter(monkeypatch)
    value = float(fid_from_features(real, fake))
    assert max(counter.sizes) == dim
    assert value == pytest.approx(_scipy_fid(real, fake), rel=RELATIVE)
    assert frechet.fid_route(400, 300, dim) == "covariance"


def test_gram_route_leaves_float64_inputs_as_they_were() -> None:
    """The route centres copies in place: the caller's float64 features (no copy made by a dtype change) are kept."""
    real, fake = _features(30, 64, seed=10), _features(25, 64, seed=11, shift=0.5)
    assert real.dtype == fake.dtype == torch.float64
    kept = (real.clone(), fake.clone())
    _fid_gram(real, fake)
    assert torch.equal(real, kept[0]) and torch.equal(fake, kept[1])
