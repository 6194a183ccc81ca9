"""Fuzzing every metric's math with random feature matrices (hypothesis): each returns finite values in its
documented range, or raises a typed :class:`~ganprobe.errors.GanprobeError` -- never NaN, a complex number, a
negative distance beyond round-off, or an untyped exception.

The matrices include the degenerate shapes that break naive implementations: N = 2, N smaller than the feature
dimension (rank-deficient covariances), identical sets, constant features, duplicated rows, huge and tiny scales.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import linalg

from ganprobe import functional as F
from ganprobe.errors import GanprobeError

# Rank-deficient covariances (N <= D) are a documented warning, not an outcome to check here.
pytestmark = [
    pytest.mark.filterwarnings("ignore:FID.*rank-deficient:UserWarning"),
    pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning"),  # the scipy reference on singular products
]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def feature_pairs(draw: st.DrawFn, min_rows: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Two float32 feature matrices of one width: random, constant, duplicated or identical, at any scale."""
    dim = draw(st.integers(1, 12))
    rows = (draw(st.integers(min_rows, 14)), draw(st.integers(min_rows, 14)))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e3]))
    kind = draw(st.sampled_from(["random", "constant", "duplicates", "identical", "low_rank"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    real = rng.standard_normal((rows[0], dim))
    fake = rng.standard_normal((rows[1], dim)) + draw(st.sampled_from([0.0, 0.5, 3.0]))
    if kind == "constant":
        real[:] = 0.25
        fake[:] = draw(st.sampled_from([0.25, -1.0]))
    elif kind == "duplicates":
        real = np.repeat(real[:1], rows[0], axis=0)
        real[: rows[0] // 2] = rng.standard_normal(dim)
        fake = np.concatenate([fake[: rows[1] // 2 + 1], fake[: rows[1] - rows[1] // 2 - 1]])
    elif kind == "identical":
        fake = real.copy()
    elif kind == "low_rank":
        basis = rng.standard_normal((1, dim))
        real = rng.standard_normal((rows[0], 1)) @ basis
        fake = rng.standard_normal((rows[1], 1)) @ basis
    as_tensor = lambda array: torch.from_numpy(array * scale).float()  # noqa: E731
    return as_tensor(real), as_tensor(fake)


def _typed_or(check, *args, **kwargs):  # noqa: ANN001, ANN202
    """Run ``check``; a typed ganprobe error is an accepted outcome (returns None), anything else propagates."""
    try:
        return check(*args, **kwargs)
    except GanprobeError as exc:
        assert "\n" not in str(exc) and str(exc), f"error message must be one non-empty line: {exc!r}"
        return None


def _finite(value: torch.Tensor | float) -> float:
    number = torch.as_tensor(value)
    assert not number.is_complex(), "complex result"
    number = float(number)
    assert math.isfinite(number), f"non-finite result {number}"
    return number


def _scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.atleast_2d(np.cov(real, rowvar=False)), np.atleast_2d(np.cov(fake, rowvar=False))
    root = linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


@FUZZ
@given(pair=feature_pairs())
def test_fid_is_finite_non_negative_and_matches_scipy(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    real, fake = pair
    value = _typed_or(F.fid_from_features, real, fake)
    if value is None:
        assert min(real.shape[0], fake.shape[0]) < 2, "FID refused a pair with two or more rows each"
        return
    fid = _finite(value)
    assert fid >= 0.0
    r, f = real.double().numpy(), fake.double().numpy()
    scale = float(np.trace(np.atleast_2d(np.cov(r, rowvar=False))) + np.trace(np.atleast_2d(np.cov(f, rowvar=False))))
    reference = _scipy_fid(r, f)
    # scipy's sqrtm of a singular product is itself inaccurate: compare up to the covariances' scale.
    assert fid == pytest.approx(max(reference, 0.0), rel=1e-3, abs=1e-5 * max(scale, 1e-30) + 1e-3 * math.sqrt(scale))
    if torch.equal(real, fake):
        assert fid <= 1e-6 * max(scale, 1e-30)


@FUZZ
@given(pair=feature_pairs())
def test_kid_and_cmmd_are_finite(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    real, fake = pair
    subset = max(2, min(real.shape[0], fake.shape[0]))
    result = _typed_or(F.kid, real, fake, num_subsets=3, subset_size=subset, seed=0)
    if result is not None:
        for part in result if isinstance(result, tuple) else (result,):
            _finite(part)
    else:
        assert min(real.shape[0], fake.shape[0]) < 2
    value = _typed_or(F.cmmd, real, fake)
    if value is not None:
        cmmd = _finite(value)
        assert cmmd >= -1e-6 * 1000  # an unbiased MMD estimate may dip below 0, never far
        if torch.equal(real, fake):
            assert abs(cmmd) <= 1e-3


@FUZZ
@given(pair=feature_pairs(), k=st.integers(1, 5))
def test_precision_recall_density_coverage_in_range(pair: tuple[torch.Tensor, torch.Tensor], k: int) -> None:
    real, fake = pair
    result = _typed_or(F.prdc, real, fake, k=k)
    if result is None:
        assert min(real.shape[0], fake.shape[0]) <= k
        return
    values = result if isinstance(result, dict) else result._asdict()
    for name, value in values.items():
        number = _finite(value)
        assert number >= 0.0, name
        if name != "density":  # density is in [0, 1/k * k] = [0, N/k]... bounded by N_real / k * k; others in [0, 1]
            assert number <= 1.0 + 1e-9, (name, number)
    if torch.equal(real, fake):
        assert _finite(values["precision"]) == 1.0 and _finite(values["recall"]) == 1.0


@FUZZ
@given(pair=feature_pairs(), k=st.integers(1, 3))
def test_knn_loo_accuracy_in_unit_interval(pair: tuple[torch.Tensor, torch.Tensor], k: int) -> None:
    real, fake = pair
    value = _typed_or(F.knn_loo_accuracy, real, fake, k=k)
    if value is None:
        return
    result = value if isinstance(value, tuple) else (value,)
    for part in result:
        number = _finite(part)
        assert 0.0 <= number <= 1.0


@FUZZ
@given(pair=feature_pairs())
def test_memorization_fraction_in_unit_interval(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    real, fake = pair
    value = _typed_or(F.memorization_fraction, real, fake)
    if value is not None:
        assert 0.0 <= _finite(value) <= 1.0


@settings(FUZZ, max_examples=6)  # sklearn probes are slow: a few cases, the degenerate kinds drawn first
@given(pair=feature_pairs(min_rows=2))
def test_separability_protocols_in_unit_interval(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    real, fake = pair
    for protocol in (F.linear_probe_accuracy, F.pca2_svm_accuracy, F.pca2_kmeans_accuracy):
        value = _typed_or(protocol, real, fake)
        if value is not None:
            assert 0.0 <= _finite(value) <= 1.0, protocol.__name__


@FUZZ
@given(
    rows=st.integers(1, 30),
    classes=st.integers(1, 8),
    splits=st.integers(1, 6),
    kind=st.sampled_from(["random", "constant", "one_hot", "huge"]),
)
def test_inception_score_at_least_one_and_finite(rows: int, classes: int, splits: int, kind: str) -> None:
    logits = torch.randn(rows, classes, generator=torch.Generator().manual_seed(rows * 31 + classes))
    if kind == "constant":
        logits = torch.zeros(rows, classes)
    elif kind == "one_hot":
        logits = torch.nn.functional.one_hot(torch.arange(rows) % classes, classes).float() * 1e4
    elif kind == "huge":
        logits = logits * 1e30
    result = _typed_or(F.inception_score, logits, splits=splits, seed=0)
    if result is None:
        assert splits > rows, "IS refused a valid split count"
        return
    mean = _finite(result[0])
    assert 1.0 - 1e-6 <= mean <= classes + 1e-6
    if splits == 1:  # documented: the unbiased std of one split is nan, as in torchmetrics
        assert math.isnan(float(result[1]))
    else:
        assert _finite(result[1]) >= 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize(
    "metric",
    [
        F.fid_from_features,
        F.cmmd,
        F.prdc,
        F.knn_loo_accuracy,
        F.memorization_fraction,
        F.linear_probe_accuracy,
        lambda real, fake: F.kid(real, fake, num_subsets=2, subset_size=4),
    ],
    ids=["fid", "cmmd", "prdc", "knn_loo", "memorization", "linear_probe", "kid"],
)
def test_non_finite_features_are_a_typed_error(metric, bad: float) -> None:  # noqa: ANN001
    real, fake = torch.randn(8, 4), torch.randn(8, 4)
    fake[3, 1] = bad
    with pytest.raises(GanprobeError, match="NaN|inf|finite"):
        metric(real, fake)


def test_inception_score_non_finite_logits_are_a_typed_error() -> None:
    logits = torch.randn(8, 5)
    logits[2, 2] = float("nan")
    with pytest.raises(GanprobeError):
        F.inception_score(logits, splits=2)
