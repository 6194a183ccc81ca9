"""Precision/recall and density/coverage against the reference ``prdc`` package, and on known cases."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import prdc as reference
import pytest
import torch
from prdc.prdc import compute_nearest_neighbour_distances

from ganprobe.errors import InputError
from ganprobe.functional.bootstrap import Interval, bootstrap_interval
from ganprobe.functional.prdc import (
    density_coverage,
    kth_neighbour_distances,
    prdc,
    prdc_details,
    prdc_intervals,
    precision_recall,
)
from ganprobe.metrics.prdc import DensityCoverage, PrecisionRecall

NAMES = ("precision", "recall", "density", "coverage")


def reference_prdc(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        values = reference.compute_prdc(
            real_features=real.double().numpy(), fake_features=fake.double().numpy(), nearest_k=k
        )
    return {name: float(values[name]) for name in NAMES}


def as_floats(values: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(values[name]) for name in NAMES}


def brute_force_prdc(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """Closed-ball PRDC from exact float64 differences (small sets only)."""
    real, fake = real.double(), fake.double()

    def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a[:, None, :] - b[None, :, :]).square().sum(dim=2).sqrt()

    def radii(points: torch.Tensor) -> torch.Tensor:
        within = distances(points, points)
        within.fill_diagonal_(float("inf"))
        return within.sort(dim=1).values[:, k - 1]

    real_radii, fake_radii = radii(real), radii(fake)
    real_fake = distances(real, fake)  # (N, M)
    in_real_ball = real_fake <= real_radii[:, None]
    return {
        "precision": in_real_ball.any(dim=0).double().mean().item(),
        "recall": (real_fake <= fake_radii[None, :]).any(dim=1).double().mean().item(),
        "density": in_real_ball.sum(dim=0).double().mean().item() / k,
        "coverage": in_real_ball.any(dim=1).double().mean().item(),
    }


@pytest.mark.parametrize(
    ("k", "n_real", "n_fake", "dim", "shift", "scale"),
    [
        (1, 300, 250, 16, 0.2, 1.0),
        (3, 400, 400, 32, 0.3, 1.2),
        (5, 250, 350, 8, 0.0, 0.8),
        (10, 300, 300, 64, 0.5, 1.0),
    ],
)
def test_matches_reference_prdc(k: int, n_real: int, n_fake: int, dim: int, shift: float, scale: float) -> None:
    gen = torch.Generator().manual_seed(k * 1000 + dim)
    real = torch.randn(n_real, dim, generator=gen)
    fake = torch.randn(n_fake, dim, generator=gen) * scale + shift
    expected = reference_prdc(real, fake, k)
    for features in ((real, fake), (real.double(), fake.double())):
        values = as_floats(prdc(*features, k=k))
        for name in NAMES:
            assert values[name] == pytest.approx(expected[name], abs=1e-6), name
    assert 0.0 < expected["precision"] < 1.0 and 0.0 < expected["coverage"] < 1.0  # a non-trivial case
    precision, recall = precision_recall(real, fake, k=k)
    density, coverage = density_coverage(real, fake, k=k)
    assert (float(precision), float(recall)) == (expected["precision"], expected["recall"])
    assert float(density) == pytest.approx(expected["density"], abs=1e-12)
    assert float(coverage) == expected["coverage"]


def test_radius_is_kth_nearest_other_sample_like_the_reference() -> None:
    points = torch.randn(60, 5, generator=torch.Generator().manual_seed(0)).double()
    for k in (1, 2, 5):
        expected = compute_nearest_neighbour_distances(points.numpy(), k)
        torch.testing.assert_close(kth_neighbour_distances(points, k), torch.from_numpy(expected))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_identical_sets(k: int) -> None:
    real = torch.randn(150, 12, generator=torch.Generator().manual_seed(k))
    values = as_floats(prdc(real, real.clone(), k=k))
    assert values["precision"] == values["recall"] == values["coverage"] == 1.0
    # closed balls: each real's ball holds its own copy and the copies of its k neighbours (the k-th on the boundary)
    assert values["density"] == pytest.approx((k + 1) / k)
    # the reference's open balls leave the boundary copy out: density 1 there, the other three agree
    assert reference_prdc(real, real, k) == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}


def test_duplicated_samples_zero_radius_balls_are_closed() -> None:
    # every sample appears k + 1 times, so its k-th nearest other sample is a copy: radius 0
    k = 3
    base = torch.randn(20, 6, generator=torch.Generator().manual_seed(1))
    real = base.repeat(k + 1, 1)
    fake = torch.cat([base[:10], base[:10] + 5.0])  # half exact copies, half far away
    values = as_floats(prdc(real, fake, k=k))
    assert values == pytest.approx(brute_force_prdc(real, fake, k), abs=1e-12)
    assert values["precision"] == 0.5 and values["coverage"] == 0.5
    # the reference package's open real balls of radius 0 contain nothing, not even exact copies
    expected = reference_prdc(real, fake, k)
    assert expected["precision"] == expected["density"] == expected["coverage"] == 0.0
    assert expected["recall"] == values["recall"]  # the fake balls have positive radii: no tie, no difference
    identical = as_floats(prdc(real, real.clone(), k=k))
    assert identical["precision"] == identical["recall"] == identical["coverage"] == 1.0


def test_small_blocks_give_identical_results() -> None:
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(230, 10, generator=gen), torch.randn(170, 10, generator=gen) + 0.3
    whole = prdc(real, fake, k=4)
    for block_bytes in (1, 4 * 230 * 7, 4 * 230 * 64):
        blocked = prdc(real, fake, k=4, block_bytes=block_bytes)
        assert all(torch.equal(blocked[name], whole[name]) for name in NAMES)
    assert as_floats(whole) == pytest.approx(brute_force_prdc(real, fake, 4), abs=1e-12)


def test_exact_where_float32_expansion_is_not() -> None:
    # a common offset of 300: the float32 error bound of |a|^2 + |b|^2 - 2ab (about 2.7) is comparable to the
    # squared distances (about 16), so ~10% of the pairs are uncertain and decided by exact float64 differences.
    # (Much larger offsets, ~1000x the spread, also defeat the k-NN search's candidate re-ranking.)
    gen = torch.Generator().manual_seed(3)
    real = 300.0 + torch.randn(120, 8, generator=gen)
    fake = 300.0 + torch.randn(100, 8, generator=gen)
    assert as_floats(prdc(real, fake, k=3)) == pytest.approx(brute_force_prdc(real, fake, 3), abs=1e-12)
    identical = as_floats(prdc(real, real.clone(), k=3))
    assert identical == pytest.approx({"precision": 1.0, "recall": 1.0, "density": 4 / 3, "coverage": 1.0})


def test_fully_separated_sets() -> None:
    gen = torch.Generator().manual_seed(4)
    real = torch.randn(100, 16, generator=gen)
    fake = torch.randn(100, 16, generator=gen) + 100.0
    assert as_floats(prdc(real, fake, k=5)) == {name: 0.0 for name in NAMES}


def test_rejects_bad_input() -> None:
    real = torch.randn(10, 4)
    with pytest.raises(InputError, match="k"):
        prdc(real, torch.randn(10, 4), k=0)
    with pytest.raises(InputError, match="real"):
        prdc(real, torch.randn(20, 4), k=10)  # needs more than k reals
    with pytest.raises(InputError, match="fake"):
        precision_recall(real, torch.randn(3, 4), k=3)  # the fake balls need more than k fakes
    assert float(density_coverage(real, torch.randn(1, 4), k=3)[1]) >= 0.0  # density/coverage need no fake balls
    with pytest.raises(InputError, match="width"):
        prdc(real, torch.randn(10, 5), k=3)
    with pytest.raises(InputError, match="NaN"):
        prdc(real, torch.full((10, 4), float("nan")), k=3)


def test_metrics_match_functional_and_reference() -> None:
    gen = torch.Generator().manual_seed(5)
    real, fake = torch.randn(200, 16, generator=gen), torch.randn(150, 16, generator=gen) * 1.1
    pr = PrecisionRecall(extractor=None)
    dc = DensityCoverage(extractor=None)
    for metric in (pr, dc):
        metric.update(real[:120], real=True)
        metric.update(real[120:], real=True)
        metric.update(fake, real=False)
    assert pr.k == 3 and dc.k == 5 and pr.higher_is_better and dc.higher_is_better
    pr_values, dc_values = pr.compute(), dc.compute()
    assert list(pr_values) == ["precision", "recall"] and list(dc_values) == ["density", "coverage"]
    assert all(value.ndim == 0 and value.dtype == torch.float64 for value in (*pr_values.values(), *dc_values.values()))
    precision, recall = pr_values["precision"], pr_values["recall"]
    density, coverage = dc_values["density"], dc_values["coverage"]
    three, five = reference_prdc(real, fake, 3), reference_prdc(real, fake, 5)
    assert (float(precision), float(recall)) == (three["precision"], three["recall"])
    assert float(density) == pytest.approx(five["density"], abs=1e-12) and float(coverage) == five["coverage"]
    with pytest.raises(InputError):
        PrecisionRecall(k=0, extractor=None)


def test_compute_interval_rebuilds_the_balls_on_random_halves() -> None:
    # Changed with issue 23 item 4: the intervals come from random halves (balls rebuilt on each), no longer from a
    # bootstrap of per-sample outcomes with the balls held (that ran 0.6-0.9x the real spread and under-covered).
    gen = torch.Generator().manual_seed(6)
    real, fake = torch.randn(200, 8, generator=gen), torch.randn(200, 8, generator=gen)
    metric = DensityCoverage(k=3, extractor=None)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    values = metric.compute()
    density, coverage = values["density"], values["coverage"]
    computed = metric.compute_interval(num_resamples=10, confidence=0.9, seed=1)
    assert list(computed) == ["density", "coverage"]
    density_interval, coverage_interval = computed["density"], computed["coverage"]
    assert isinstance(density_interval, Interval) and density_interval.num_resamples == 10
    assert density_interval.low < float(density) < density_interval.high
    assert coverage_interval.low < float(coverage) < coverage_interval.high <= 1.0
    assert density_interval.centre == float(density) and density_interval.confidence == 0.9
    assert metric.compute_interval(num_resamples=10, confidence=0.9, seed=1) == computed
    details = prdc_details(real, fake, k=3, recall=False)
    assert details.real_recalled is None and set(details.values()) == {"precision", "density", "coverage"}
    intervals = prdc_intervals(real, fake, 3, False, 10, 0.9, seed=1)
    assert (intervals["density"], intervals["coverage"]) == (density_interval, coverage_interval)

    pr = PrecisionRecall(extractor=None)
    pr.update(real, real=True)
    pr.update(fake, real=False)
    values = pr.compute()
    precision, recall = values["precision"], values["recall"]
    computed = pr.compute_interval(num_resamples=10, seed=0)
    assert list(computed) == ["precision", "recall"]
    precision_interval, recall_interval = computed["precision"], computed["recall"]
    assert precision_interval.low < float(precision) < precision_interval.high
    assert recall_interval.low < float(recall) < recall_interval.high
    # why no bootstrap: rebuilding the balls on resamples (repeated rows = zero-distance neighbours) biases low
    rebuilt = bootstrap_interval(lambda r, f: precision_recall(r, f, 3)[0], real, fake, 20, 0.9, seed=0)
    assert rebuilt.high < float(precision)


def test_reference_disagrees_only_on_exact_ties() -> None:
    # the reference on float32 features at the boundary-free random case: identical to ours (sanity of the helper)
    real = torch.randn(50, 4, generator=torch.Generator().manual_seed(7))
    fake = torch.randn(50, 4, generator=torch.Generator().manual_seed(8))
    ours = as_floats(prdc(real, fake, k=2))
    assert ours == reference_prdc(real, fake, 2)
    assert np.isfinite(list(ours.values())).all()
