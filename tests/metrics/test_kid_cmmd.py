"""KID and CMMD: agreement with torchmetrics and independent numpy implementations of the reference formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torchmetrics.image.kid import KernelInceptionDistance

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.inception_fid.weights import FID_INCEPTION_SHA256
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.functional import mmd
from ganprobe.functional.mmd import cmmd, kid, mmd2_unbiased, polynomial_kernel
from ganprobe.metrics.base import FeatureMetric
from ganprobe.metrics.cmmd import CMMD
from ganprobe.metrics.kid import KID
from ganprobe.metrics.records import Estimate, MetricRecord

full_kernels = mmd._kid_from_full_kernels
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# The digest prefix of pytorch-fid's official weights: only these give "published" numbers.
OFFICIAL_DIGEST = FID_INCEPTION_SHA256  # only the official file gives "published" numbers


def _features(n: int, dim: int, seed: int, shift: float = 0.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) * 0.7 + shift


def _numpy_mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    gamma = 1.0 / x.shape[1]
    k_xx, k_yy, k_xy = ((a @ b.T * gamma + coef) ** degree for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float(
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1)) - 2 * k_xy.mean()
    )


def _numpy_official_cmmd(x: np.ndarray, y: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """google-research/cmmd distance.py ``mmd``, transcribed to numpy (means include the diagonals)."""
    x_sqnorms, y_sqnorms = np.diag(x @ x.T), np.diag(y @ y.T)
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * x @ x.T + x_sqnorms[:, None] + x_sqnorms[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * x @ y.T + x_sqnorms[:, None] + y_sqnorms[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * y @ y.T + y_sqnorms[:, None] + y_sqnorms[None, :])))
    return float(scale * (k_xx + k_yy - 2 * k_xy))


class _Identity(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


def _torchmetrics_kid(real: Tensor, fake: Tensor, subsets: int, subset_size: int) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=_Identity(), subsets=subsets, subset_size=subset_size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    mean, std = metric.compute()
    return float(mean), float(std)


def _relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("max_kernel_bytes", [2**30, 0])  # cached full kernels, and per-subset kernels
def test_kid_on_the_full_set_equals_the_numpy_unbiased_estimator(
    max_kernel_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(mmd, "_kid_from_full_kernels", lambda *args: calls.append(1) or full_kernels(*args))
    real, fake = _features(150, 64, seed=0), _features(150, 64, seed=1, shift=0.3)
    # subset_size == N: each subset is a permutation of the whole sets, all with the same unbiased MMD^2.
    mean, std = kid(real, fake, num_subsets=3, subset_size=150, max_kernel_bytes=max_kernel_bytes)
    assert len(calls) == (1 if max_kernel_bytes else 0)
    assert mean.dtype == torch.float64 and std.dtype == torch.float64
    assert _relative(float(mean), _numpy_mmd2_unbiased(real.numpy(), fake.numpy())) < 1e-10
    assert float(std) < 1e-12 * abs(float(mean))


def test_kid_matches_torchmetrics_on_the_same_subsets() -> None:
    # torchmetrics draws randperm(N_r), randperm(N_f) per subset from the global CPU generator; kid() draws the
    # same sequence from a generator seeded with `seed`, so seeding the global one makes the subsets identical.
    real, fake = _features(120, 64, seed=2), _features(100, 64, seed=3, shift=0.2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        reference_mean, reference_std = _torchmetrics_kid(real, fake, subsets=20, subset_size=50)
    mean, std = kid(real, fake, num_subsets=20, subset_size=50, seed=7)
    assert _relative(float(mean), reference_mean) < 1e-10
    assert _relative(float(std), reference_std) < 1e-8


@pytest.mark.parametrize("num_subsets", [1, 3, 10])
def test_kid_matches_torchmetrics_when_subsets_are_whole_sets(num_subsets: int) -> None:
    # subset_size == N: every subset is a permutation, and the unbiased estimator is permutation-invariant.
    real, fake = _features(80, 64, seed=4), _features(80, 64, seed=5, shift=0.5)
    reference_mean, _ = _torchmetrics_kid(real, fake, subsets=num_subsets, subset_size=80)
    mean, std = kid(real, fake, num_subsets=num_subsets, subset_size=80, seed=123)
    assert _relative(float(mean), reference_mean) < 1e-10
    assert float(std) < 1e-12 * abs(float(mean))


def test_kid_agrees_statistically_with_torchmetrics_on_other_subsets() -> None:
    real, fake = _features(200, 64, seed=6), _features(200, 64, seed=7, shift=0.1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1000)
        reference_mean, reference_std = _torchmetrics_kid(real, fake, subsets=100, subset_size=50)
    mean, std = kid(real, fake, num_subsets=100, subset_size=50, seed=0)
    # Two averages of 100 subsets each: their difference has a spread of about std * sqrt(2 / 100) = 0.14 std.
    assert abs(float(mean) - reference_mean) < 0.5 * reference_std
    assert 0.7 < float(std) / reference_std < 1.4


def test_cached_and_per_subset_kernels_agree() -> None:
    real, fake = _features(90, 32, seed=8), _features(70, 32, seed=9, shift=0.2)
    cached = kid(real, fake, num_subsets=30, subset_size=40, seed=1)
    per_subset = kid(real, fake, num_subsets=30, subset_size=40, seed=1, max_kernel_bytes=0)
    for a, b in zip(cached, per_subset, strict=True):
        assert _relative(float(a), float(b)) < 1e-10


def test_mmd2_unbiased_with_unequal_sizes() -> None:
    x, y = _features(30, 16, seed=10), _features(45, 16, seed=11, shift=0.4)
    value = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert _relative(float(value), _numpy_mmd2_unbiased(x.numpy(), y.numpy())) < 1e-10


def test_kid_argument_errors() -> None:
    real, fake = _features(20, 8, seed=12), _features(30, 8, seed=13)
    with pytest.raises(InputError, match="subset_size"):
        kid(real, fake, subset_size=25)
    with pytest.raises(InputError, match="width"):
        kid(real, fake[:, :4], subset_size=10)
    for bad in ({"num_subsets": 0}, {"subset_size": 1}, {"degree": 0}, {"gamma": -1.0}, {"coef": -1.0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            KID(extractor=None, **bad)


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


def _record(metric: FeatureMetric, key: str) -> MetricRecord:
    """The record a report of ``metric`` labels output ``key`` with (from the declarations, without computing)."""
    (output,) = (output for output in metric.declared_outputs() if output.key == key)
    return metric.output_record(output, Estimate(0.0))


def test_kid_metric_matches_the_functional_and_labels_itself() -> None:
    real, fake = _features(100, 16, seed=14), _features(90, 16, seed=15, shift=0.3)
    metric = KID(num_subsets=10, subset_size=50, seed=3, extractor=None)
    for start in range(0, 100, 30):
        metric.update(real[start : start + 30], real=True)
    metric.update(fake, real=False)
    result = metric.compute()
    assert set(result) == {"kid", "kid_std"} and all(value.ndim == 0 for value in result.values())
    mean, std = result["kid"], result["kid_std"]
    expected = kid(real, fake, num_subsets=10, subset_size=50, seed=3)
    assert float(mean) == pytest.approx(float(expected[0]), rel=1e-12)
    assert float(std) == pytest.approx(float(expected[1]), rel=1e-12)
    assert _record(metric, "kid").label == "KD on precomputed features" and not metric.comparable_with_published
    published = KID(extractor=_named_extractor("inception-fid"))
    assert published.comparable_with_published and _record(published, "kid").label == "KID"
    hidden = KID(extractor=_named_extractor("inception-fid"), layer="hidden")
    # Not the published setting: the label names the extractor, the feature space names the layer.
    assert not hidden.comparable_with_published
    assert _record(hidden, "kid").label == "KD on inception-fid hidden features"
    assert _record(hidden, "kid").feature_space == "inception-fid:hidden"
    assert KID.higher_is_better is False
    # subset_size above the smaller set (90 fakes): shrunk to it with a warning by default, checked at compute()
    # once the sample counts are known ...
    shrunk = KID(subset_size=95, num_subsets=10, seed=3, extractor=None)
    shrunk.update(real, real=True)
    shrunk.update(fake, real=False)
    with pytest.warns(UserWarning, match="subset_size 95 lowered to 90"):
        value = shrunk.compute()
    assert shrunk.subset_size == 95
    expected = kid(real, fake, num_subsets=10, subset_size=90, seed=3)
    assert float(value["kid"]) == float(expected[0]) and float(value["kid_std"]) == float(expected[1])
    # ... or an error with shrink_subsets=False.
    too_large = KID(subset_size=95, extractor=None, shrink_subsets=False)
    too_large.update(real, real=True)
    too_large.update(fake, real=False)
    with pytest.raises(InputError, match="subset_size"):
        too_large.compute()


@pytest.mark.parametrize("normalize", [True, False])
def test_cmmd_matches_the_official_formula(normalize: bool) -> None:
    real, fake = _features(120, 64, seed=16), _features(100, 64, seed=17, shift=0.15)
    x, y = real.numpy(), fake.numpy()
    if normalize:  # the reference L2-normalises its CLIP embeddings before distance.mmd
        x, y = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    value = cmmd(real, fake, normalize=normalize)
    assert value.dtype == torch.float64 and float(value) > 0.0
    assert _relative(float(value), _numpy_official_cmmd(x, y)) < 1e-8
    tiny_blocks = cmmd(real, fake, normalize=normalize, block_bytes=1)  # one row per block
    assert _relative(float(tiny_blocks), float(value)) < 1e-12


def test_cmmd_identical_sets_and_scale() -> None:
    features = _features(100, 32, seed=18)
    assert float(cmmd(features, features.clone())) == 0.0
    real, fake = features, _features(80, 32, seed=19, shift=0.3)
    assert _relative(float(cmmd(real, fake, scale=1.0)) * 1000.0, float(cmmd(real, fake))) < 1e-12
    with pytest.raises(InputError, match="sigma"):
        cmmd(real, fake, sigma=0.0)


def test_cmmd_metric() -> None:
    real, fake = _features(60, 16, seed=20), _features(50, 16, seed=21, shift=0.2)
    metric = CMMD(extractor=None)
    metric.update(real[:25], real=True)
    metric.update(real[25:], real=True)
    metric.update(fake, real=False)
    assert _relative(float(metric.compute()), float(cmmd(real, fake))) < 1e-12
    assert _record(metric, "cmmd").label == "MMD on precomputed features"
    assert not CMMD(extractor=_named_extractor("inception-fid")).comparable_with_published
    assert CMMD.higher_is_better is False and CMMD.plot_lower_bound == 0.0
    with pytest.raises(InputError, match="scale"):
        CMMD(extractor=None, scale=-1.0)
