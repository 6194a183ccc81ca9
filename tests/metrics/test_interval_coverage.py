"""Every interval ganprobe reports covers what it claims to: simulations on Gaussian features with known truths.

Each test draws 200 independent real/fake pairs at N = 500 and N = 2,000 from two Gaussians whose true value is
known in closed form (Fréchet distance, polynomial-kernel MMD²) or, for the k-NN values that have no
sample-size-free truth, is the expectation of the estimator at that N (the mean over the 200 trials). The 95 %
interval must cover it in at least 90 % of trials, contain its own centre, and stay narrow (mean width at most
6 times the estimator's standard deviation across trials, where a normal 95 % interval has 3.92), so that
``[0, inf]`` cannot pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from ganprobe.functional.prdc import prdc_intervals
from ganprobe.metrics.fid import FID
from ganprobe.metrics.kid import KID
from ganprobe.metrics.prdc import DensityCoverage, PrecisionRecall
from ganprobe.metrics.records import ReportOptions

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRIALS = 200
CONFIDENCE = 0.95
MIN_COVERAGE = 0.90
MAX_WIDTH_IN_SDS = 6.0


def _gaussian_pair(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fake mean, and a fake covariance factor ``A`` (fake = A z + mean); the reals are standard normal."""
    rng = np.random.default_rng(seed)
    mean = np.full(dim, 0.2)
    factor = np.eye(dim) + 0.15 * rng.standard_normal((dim, dim))
    return mean, factor, factor @ factor.T


def _draw(n: int, mean: np.ndarray, factor: np.ndarray, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    dim = mean.shape[0]
    real = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    fake = torch.randn(n, dim, generator=generator, dtype=torch.float64) @ torch.from_numpy(factor).T
    return real, fake + torch.from_numpy(mean)


def _check(name: str, truth: float, intervals: list, estimates: list[float]) -> None:
    covered = np.mean([interval.low <= truth <= interval.high for interval in intervals])
    width = np.mean([interval.high - interval.low for interval in intervals])
    spread = float(np.std(estimates))
    assert covered >= MIN_COVERAGE, f"{name}: covered the true value {truth:.5g} in {covered:.1%} of trials"
    assert width <= MAX_WIDTH_IN_SDS * spread, f"{name}: mean width {width:.4g}, estimator sd {spread:.4g}"
    for interval in intervals:
        assert interval.centre is not None and interval.confidence == CONFIDENCE
        assert interval.low <= interval.centre <= interval.high or interval.note, f"{name}: {interval}"


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 2000])
def test_fid_interval_covers_the_population_frechet_distance(n: int) -> None:
    dim = 16
    mean, factor, covariance = _gaussian_pair(dim, seed=1)
    # The population distance between N(0, I) and N(mean, covariance), independently of ganprobe (scipy's sqrtm).
    truth = float(mean @ mean + dim + np.trace(covariance) - 2 * np.trace(sqrtm(covariance)).real)
    generator = torch.Generator().manual_seed(n)
    intervals, plug_ins = [], []
    for trial in range(TRIALS):
        real, fake = _draw(n, mean, factor, generator)
        metric = FID(extractor=None, keep_features=True)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        interval = metric.compute_interval(num_resamples=20, seed=trial)
        plug_in = float(metric.compute())
        # the interval is for the population distance: when it leaves out the (biased) plug-in value it says why
        assert interval.low <= plug_in <= interval.high or "biased upwards" in interval.note
        intervals.append(interval)
        plug_ins.append(plug_in)
    _check(f"FID, N={n}", truth, intervals, plug_ins)


def test_fid_report_says_why_its_interval_excludes_the_plug_in_value() -> None:
    mean, factor, _ = _gaussian_pair(32, seed=2)
    real, fake = _draw(300, mean, factor, torch.Generator().manual_seed(0))
    metric = FID(extractor=None, keep_features=True, bootstrap=20)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    (record,) = [record for record in metric.records(ReportOptions()) if record.key == "fid"]
    assert record.low is not None and record.high is not None
    assert record.high < record.value  # N=300 against D=32: the plug-in bias exceeds the interval's half-width
    assert "biased upwards" in record.description and "population" in record.description


def _polynomial_kernel_mean(mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray) -> float:
    """``E (x.y / D + 1)^3`` for independent ``x ~ N(mean1, cov1)``, ``y ~ N(mean2, cov2)``: the moments of
    ``z = x.y`` follow from ``z | y ~ N(mean1.y, y' cov1 y)``."""
    gamma = 1.0 / mean1.shape[0]
    a, b = mean1 @ mean2, mean1 @ cov2 @ mean1
    e, trace = mean2 @ cov1 @ mean2, np.trace(cov1 @ cov2)
    z1 = a
    z2 = a * a + b + e + trace
    z3 = a**3 + 3 * a * b + 3 * (a * (e + trace) + 2 * mean1 @ cov2 @ cov1 @ mean2)
    return gamma**3 * z3 + 3 * gamma**2 * z2 + 3 * gamma * z1 + 1.0


@pytest.mark.slow
@pytest.mark.parametrize(("n", "subset_size"), [(500, 1000), (2000, 1000)])
def test_kid_interval_covers_the_population_mmd(n: int, subset_size: int) -> None:
    dim = 8
    mean, factor, covariance = _gaussian_pair(dim, seed=3)
    zero, identity = np.zeros(dim), np.eye(dim)
    truth = (
        _polynomial_kernel_mean(zero, identity, zero, identity)
        + _polynomial_kernel_mean(mean, covariance, mean, covariance)
        - 2 * _polynomial_kernel_mean(zero, identity, mean, covariance)
    )
    generator = torch.Generator().manual_seed(n)
    intervals, values = [], []
    for trial in range(TRIALS):
        real, fake = _draw(n, mean, factor, generator)
        metric = KID(extractor=None, subset_size=subset_size, num_subsets=20, seed=trial)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        with warnings.catch_warnings():  # N=500: the subsets shrink to the whole set (kid_std is then 0)
            warnings.simplefilter("ignore", UserWarning)
            value = float(metric.compute()["kid"])
            interval = metric.compute_interval()
        assert interval.low <= value <= interval.high and interval.centre == pytest.approx(value, abs=1e-12)
        intervals.append(interval)
        values.append(value)
    _check(f"KID, N={n}", truth, intervals, values)


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 2000])
def test_prdc_intervals_cover_the_expected_values(n: int) -> None:
    mean, factor, _ = _gaussian_pair(8, seed=4)
    generator = torch.Generator().manual_seed(n)
    per_trial = []
    for trial in range(TRIALS):
        real, fake = _draw(n, mean, factor, generator)
        per_trial.append(prdc_intervals(real, fake, k=3, num_halves=10, seed=trial))
    for name in ("precision", "recall", "density", "coverage"):
        intervals = [trial[name] for trial in per_trial]
        estimates = [float(interval.centre) for interval in intervals]
        # No sample-size-free truth: the estimand is the estimator's expectation at this N and k.
        _check(f"{name}, N={n}", float(np.mean(estimates)), intervals, estimates)
        assert all(interval.low <= value <= interval.high for interval, value in zip(intervals, estimates, strict=True))


def test_intervals_are_seeded_and_independent_of_batch_size() -> None:
    mean, factor, _ = _gaussian_pair(8, seed=5)
    real, fake = _draw(240, mean, factor, torch.Generator().manual_seed(1))
    results = []
    for batch in (7, 240):
        fid = FID(extractor=None, keep_features=True)
        kid = KID(extractor=None, subset_size=100, num_subsets=10, seed=3)
        precision_recall = PrecisionRecall(extractor=None)
        density_coverage = DensityCoverage(extractor=None)
        for metric in (fid, kid, precision_recall, density_coverage):
            for start in range(0, 240, batch):
                metric.update(real[start : start + batch], real=True)
                metric.update(fake[start : start + batch], real=False)
        results.append(
            (
                fid.compute_interval(num_resamples=8, seed=2),
                kid.compute_interval(),
                precision_recall.compute_interval(num_resamples=6, seed=2),
                density_coverage.compute_interval(num_resamples=6, seed=2),
            )
        )
    assert results[0] == results[1]
    fid = FID(extractor=None, keep_features=True)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    assert fid.compute_interval(num_resamples=8, seed=3) != results[0][0]
