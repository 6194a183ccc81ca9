"""FID: agreement with torchmetrics and pytorch-fid, numerical edge cases, streaming states, FID∞, bootstrap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.inception_fid.weights import FID_INCEPTION_SHA256
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.functional.frechet import (
    _fit_intercept,
    feature_statistics,
    fid_from_features,
    fid_infinity,
    fid_route,
    frechet_distance,
    statistics_from_sums,
)
from ganprobe.metrics.fid import FID
from ganprobe.metrics.records import Estimate, MetricRecord, ReportOptions

# pytorch-fid passes scipy's deprecated `disp` argument to sqrtm; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning"),
    pytest.mark.usefixtures("one_torch_thread"),
]


# The digest prefix of pytorch-fid's official weights: only these give "published" numbers.
OFFICIAL_DIGEST = FID_INCEPTION_SHA256  # only the official file gives "published" numbers


def _features(n: int, dim: int, seed: int, shift: float = 0.0) -> Tensor:
    """Correlated, non-centred Gaussian features (a random mixing makes the covariances non-diagonal)."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.eye(dim, dtype=torch.float64) + 0.3 * torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) @ mixing + shift


class _Identity(nn.Module):
    """A torchmetrics "feature extractor" that returns the precomputed features it is given."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def _torchmetrics_fid(real: Tensor, fake: Tensor) -> float:
    metric = FrechetInceptionDistance(feature=_Identity(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def _pytorch_fid(real: Tensor, fake: Tensor) -> float:
    real_np, fake_np = real.numpy(), fake.numpy()
    return float(
        calculate_frechet_distance(
            real_np.mean(axis=0), np.cov(real_np, rowvar=False), fake_np.mean(axis=0), np.cov(fake_np, rowvar=False)
        )
    )


def _ours(real: Tensor, fake: Tensor) -> float:
    metric = FID(extractor=None)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def _relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_matches_torchmetrics_and_pytorch_fid_d64() -> None:
    real, fake = _features(400, 64, seed=0), _features(300, 64, seed=1, shift=0.2)
    ours = _ours(real, fake)
    assert _relative(ours, _torchmetrics_fid(real, fake)) < 1e-5
    assert _relative(ours, _pytorch_fid(real, fake)) < 1e-5
    assert _relative(float(fid_from_features(real, fake)), ours) < 1e-10


def test_matches_pytorch_fid_d128() -> None:
    real, fake = _features(600, 128, seed=2), _features(500, 128, seed=3, shift=0.1)
    assert _relative(_ours(real, fake), _pytorch_fid(real, fake)) < 1e-5


def test_matches_torchmetrics_d2048() -> None:
    # Inception's pool width. pytorch-fid's scipy sqrtm takes ~40 s at this size on a busy 2-core machine, so it is
    # compared at D=64 and D=128 above; torchmetrics' eigvals is fast enough here.
    generator = torch.Generator().manual_seed(17)
    scales = torch.rand(2048, generator=generator, dtype=torch.float64) + 0.5
    real = torch.randn(2100, 2048, generator=generator, dtype=torch.float64) * scales
    fake = torch.randn(2100, 2048, generator=generator, dtype=torch.float64) * scales.flip(0) + 0.05
    assert _relative(_ours(real, fake), _torchmetrics_fid(real, fake)) < 1e-5


def test_closed_form_for_commuting_covariances() -> None:
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute: FD = |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2 exactly.
    generator = torch.Generator().manual_seed(4)
    dim = 128
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    a = torch.rand(dim, generator=generator, dtype=torch.float64) * 3
    b = torch.rand(dim, generator=generator, dtype=torch.float64) * 3
    b[:10] = 0.0  # a singular covariance
    mu1, mu2 = torch.randn(dim, generator=generator, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64)
    value = frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T)
    expected = mu1.square().sum() + (a.sqrt() - b.sqrt()).square().sum()
    assert value.dtype == torch.float64 and value.ndim == 0
    # Zero eigenvalues come back as sqrt(round-off of lambda^2) ~ 1e-8 * lambda_max each: hence 1e-8, not 1e-15.
    assert _relative(float(value), float(expected)) < 1e-8


@pytest.mark.parametrize("n", [500, 40])
def test_identical_sets_give_zero(n: int) -> None:
    features = _features(n, 64, seed=5)
    mu, sigma = feature_statistics(features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        value = float(fid_from_features(features, features.clone()))
    assert 0.0 <= value < 1e-6 * float(2 * sigma.trace())
    assert float(frechet_distance(mu, sigma, mu, sigma)) >= 0.0


@pytest.mark.parametrize("n", [2, 10, 64])
def test_rank_deficient_covariance_is_finite_and_warns(n: int) -> None:
    real, fake = _features(n, 64, seed=6), _features(n, 64, seed=7, shift=0.5)
    with pytest.warns(UserWarning, match="rank-deficient"):
        functional = fid_from_features(real, fake)
    metric = FID(extractor=None)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with pytest.warns(UserWarning, match="rank-deficient"):
        streamed = metric.compute()
    for value in (functional, streamed):
        assert not value.is_complex() and value.dtype == torch.float64
        assert bool(torch.isfinite(value)) and float(value) >= 0.0
    assert _relative(float(streamed), float(functional)) < 1e-8


def test_no_warning_when_samples_exceed_dimension() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fid_from_features(_features(65, 64, seed=8), _features(65, 64, seed=9))


def test_batch_size_independence() -> None:
    real, fake = _features(200, 32, seed=10), _features(150, 32, seed=11, shift=0.3)
    whole, chunked = FID(extractor=None), FID(extractor=None)
    whole.update(real, real=True)
    whole.update(fake, real=False)
    for start in range(0, 200, 7):
        chunked.update(real[start : start + 7], real=True)
    for start in range(0, 150, 7):
        chunked.update(fake[start : start + 7], real=False)
    assert abs(float(whole.compute()) - float(chunked.compute())) < 1e-10


def test_states_are_float64_sums_independent_of_n() -> None:
    metric = FID(extractor=None, feature_dim=16)
    assert metric.feature_dim == 16
    metric.update(_features(1000, 16, seed=12).float(), real=True)
    assert metric.real_sum.shape == (16,) and metric.real_outer_sum.shape == (16, 16)
    assert metric.real_sum.dtype == torch.float64 and int(metric.real_count) == 1000
    assert metric._reductions["real_outer_sum"] is not None and not hasattr(metric, "real_0")
    mu, sigma = statistics_from_sums(metric.real_sum, metric.real_outer_sum, metric.real_count)
    ref_mu, ref_sigma = feature_statistics(_features(1000, 16, seed=12).float())
    assert torch.allclose(mu, ref_mu, atol=1e-12) and torch.allclose(sigma, ref_sigma, atol=1e-10)


def test_width_checks_lazy_sizing_and_reset() -> None:
    fixed = FID(extractor=None, feature_dim=8)
    with pytest.raises(InputError, match="feature_dim=8"):
        fixed.update(torch.randn(5, 4), real=True)
    fixed.update(torch.randn(5, 8), real=True)  # the rejected batch left no trace
    lazy = FID(extractor=None)
    assert lazy.feature_dim is None
    lazy.update(torch.randn(5, 4), real=True)
    assert lazy.feature_dim == 4 and lazy.fake_outer_sum.shape == (4, 4)
    lazy.reset()
    assert lazy.feature_dim is None
    lazy.update(torch.randn(5, 6), real=False)
    assert lazy.feature_dim == 6
    with pytest.raises(InputError, match="feature_dim"):
        FID(extractor=None, feature_dim=0)
    with pytest.raises(InputError, match="at least 2 real and 2 fake"):
        lazy.compute()
    with pytest.raises(InputError, match="sigma2"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(4))


def test_fit_intercept_is_exact_on_a_plus_b_over_n() -> None:
    sizes = torch.linspace(500, 5000, 15).long()
    assert abs(float(_fit_intercept(sizes, 3.25 + 1234.0 / sizes.double())) - 3.25) < 1e-9


def test_fid_infinity_removes_the_small_sample_bias() -> None:
    # One distribution for both sets: the population FD is 0, and FID_N > 0 is pure small-sample bias ~ b / N.
    generator = torch.Generator().manual_seed(13)
    real = torch.randn(20000, 32, generator=generator, dtype=torch.float64)
    fake = torch.randn(2000, 32, generator=generator, dtype=torch.float64)
    at_max_n = float(fid_from_features(real, fake))
    infinity = float(fid_infinity(real, fake, num_points=15, min_n=200, seed=0))
    assert at_max_n > 0.1  # ~0.16: the bias at N = 2000
    assert abs(infinity) < 0.3 * at_max_n  # ~0.0: what remains is noise and the real set's own small bias
    assert float(fid_infinity(real, fake, min_n=200, seed=0)) == infinity  # seeded
    assert float(fid_infinity(real, fake, min_n=200, seed=1)) != infinity
    with pytest.raises(InputError, match="min_n"):
        fid_infinity(real, fake, min_n=2000)


def test_bootstrap_interval_and_infinity_from_the_metric() -> None:
    metric = FID(extractor=None, keep_features=True)
    metric.update(_features(300, 8, seed=14), real=True)
    metric.update(_features(300, 8, seed=15, shift=0.5), real=False)
    point = float(metric.compute())
    interval = metric.compute_interval(num_resamples=50, seed=3)
    assert interval.low <= point <= interval.high and interval.confidence == 0.95
    assert metric.compute_interval(num_resamples=50, seed=3) == interval
    assert metric.compute_interval(num_resamples=50, seed=4) != interval
    assert torch.isfinite(metric.compute_infinity(num_points=5))
    without_rows = FID(extractor=None)
    without_rows.update(torch.randn(10, 8), real=True)
    without_rows.update(torch.randn(10, 8), real=False)
    with pytest.raises(InputError, match="keep_features=True"):
        without_rows.compute_interval()


def test_images_through_an_extractor() -> None:
    metric = FID(extractor="random-resnet18")
    assert metric.feature_dim is None  # sized by the first update: construction runs no forward pass
    assert not metric.comparable_with_published
    generator = torch.Generator().manual_seed(16)
    metric.update(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=generator), real=True)
    metric.update(torch.rand(4, 3, 32, 32, generator=generator), real=False)
    assert metric.feature_dim == 512
    with pytest.warns(UserWarning, match="rank-deficient"):
        value = metric.compute()
        (record,) = metric.records(ReportOptions(noise_resamples=0))
    assert bool(torch.isfinite(value)) and float(value) >= 0.0
    assert record.key == "fid" and record.label == "FD on random-resnet18 features"
    assert record.feature_space == "random-resnet18:pool" and not record.comparable_with_published
    assert record.value == float(value)


def _named_extractor(name: str) -> FeatureExtractor:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 6), nn.Linear(6, 5))
    return FeatureExtractor(
        name=name,
        weights_sha256=OFFICIAL_DIGEST if name == "inception-fid" else None,
        model=model,
        taps={"hidden": "1", "pool": "2"},
        preprocessing=Preprocessing(size=(4, 4), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), pipeline="tf"),
        default_layer="pool",
        block_layers=("hidden",),
    )


def _fid_record(metric: FID) -> MetricRecord:
    """The record a report of ``metric`` labels its FID with (the declaration's label, without computing)."""
    output = metric.outputs[0]
    return metric.output_record(output, Estimate(0.0))


def test_label_and_comparability() -> None:
    published = FID(extractor=_named_extractor("inception-fid"))
    assert published.comparable_with_published and _fid_record(published).label == "FID"
    assert _fid_record(published).feature_space == "inception-fid:pool"
    other_layer = FID(extractor=_named_extractor("inception-fid"), layer="hidden")
    # The label names the extractor (never "FID"); the feature-space column names the layer.
    assert not other_layer.comparable_with_published
    assert _fid_record(other_layer).label == "FD on inception-fid hidden features"
    assert _fid_record(other_layer).feature_space == "inception-fid:hidden"
    assert _fid_record(FID(extractor=None, feature_dim=3)).label == "FD on precomputed features"
    other_weights = _named_extractor("inception-fid")
    other_weights.weights_sha256 = "ab" * 32  # e.g. loaded with verify_checksum=False from another file
    assert not FID(extractor=other_weights).comparable_with_published
    assert FID.higher_is_better is False and FID.plot_lower_bound == 0.0


@pytest.mark.parametrize(("n_real", "n_fake"), [(120, 90), (40, 30), (40, 120), (120, 40)])
def test_sample_counts_pick_the_factorisation_without_changing_the_value(
    n_real: int, n_fake: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # D = 64: N <= D makes that covariance singular. With the counts, no Cholesky attempt is made on a covariance
    # that must fail, and the real covariance's role is taken by the fake one when only the fake is full rank.
    real, fake = _features(n_real, 64, seed=3), _features(n_fake, 64, seed=4, shift=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _pytorch_fid(real, fake)
        (mu_r, s_r), (mu_f, s_f) = feature_statistics(real), feature_statistics(fake)
        plain = float(frechet_distance(mu_r, s_r, mu_f, s_f))
        attempts: list[int] = []
        original = torch.linalg.cholesky_ex

        def counted(matrix: Tensor, *args, **kwargs):
            attempts.append(int(original(matrix, *args, **kwargs).info))
            return original(matrix, *args, **kwargs)

        monkeypatch.setattr(torch.linalg, "cholesky_ex", counted)
        informed = float(frechet_distance(mu_r, s_r, mu_f, s_f, counts=(n_real, n_fake)))
        from_features = float(fid_from_features(real, fake))
    # fid_from_features takes the N x N Gram route when cheaper (tests/metrics/test_fid_gram.py): same value up to
    # round-off.
    gram = fid_route(n_real, n_fake, 64) == "gram"
    assert _relative(informed, plain) < 1e-9 and _relative(from_features, informed) < (1e-7 if gram else 1e-12)
    assert _relative(informed, reference) < 1e-5
    full_rank = n_real > 64 or n_fake > 64
    # One successful factorisation when either covariance is full rank; no failed attempt ever.
    assert attempts == [0] * (full_rank + (full_rank and not gram))  # frechet_distance, then fid_from_features
