"""Seeded confidence intervals for two-sample statistics: random halves (what reports use) and the bootstrap.

Every interval a report shows is built the same way: a centre (the estimate, or for FID the bias-corrected
estimate) plus and minus a Student-t quantile times a standard error, where the standard error is the spread of
the statistic over random halves of both sets drawn *without* replacement (:func:`half_sample_values`). That is
the delete-d jackknife with ``d = N / 2`` (Shao & Wu 1989, "A general theory for jackknife variance estimation",
Ann. Stat.): its variance estimate needs no rescaling, it never duplicates a row (duplicates are what bias FID and
the k-NN radii of a bootstrap resample), and for statistics whose non-linear part is not negligible it errs on the
wide side. :func:`bootstrap_interval` (percentile bootstrap, with replacement) is kept for callers that want it;
no report uses it, because it cannot cover a statistic that resampling itself shifts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError


@dataclass(frozen=True)
class Interval:
    """A confidence interval: ``[low, high]`` holds the estimand with probability about ``confidence``.

    Attributes:
        low, high: the bounds.
        confidence: the nominal coverage.
        num_resamples: the resamples (random halves or bootstrap resamples) behind it.
        centre: the estimate the interval is built around (``None``: not recorded, e.g. a percentile bootstrap).
        method: how it was computed, in a few words.
        note: empty, or why the interval may exclude the reported point estimate (FID: the plug-in value's bias).
    """

    low: float
    high: float
    confidence: float
    num_resamples: int
    centre: float | None = None
    method: str = "percentile bootstrap"
    note: str = ""


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence: must lie strictly between 0 and 1, got {confidence}")


def half_sample_values(
    statistic: Callable[[Tensor, Tensor], float | Tensor],
    real: Tensor,
    fake: Tensor,
    num_halves: int = 20,
    seed: int = 0,
) -> Tensor:
    """``statistic`` on ``num_halves`` random halves of both sets, drawn without replacement.

    Halves come in complementary pairs (one random permutation per set gives the first ``N // 2`` rows and the
    next ``N // 2``), so the pair's linear parts average to the full-sample statistic and the Monte Carlo noise of
    a mean over halves stays small. Indices come from a CPU generator seeded with ``seed``: the same halves on
    every device and run, whatever the batch sizes were.

    Args:
        statistic: a function of ``(real, fake)`` feature matrices returning a number or a 1-d tensor.
        real: ``(N_r, D)`` features, ``N_r >= 2``.
        fake: ``(N_f, D)`` features, ``N_f >= 2``.
        num_halves: how many halves (>= 2).
        seed: seed of the draws.

    Returns:
        ``(num_halves,)`` or ``(num_halves, K)`` float64 tensor of the statistic's values.
    """
    if isinstance(num_halves, bool) or not isinstance(num_halves, int) or num_halves < 2:
        raise InputError(f"num_resamples: need at least 2 random halves, got {num_halves!r}")
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise InputError(f"half samples need at least 2 rows per set, got {real.shape[0]} and {fake.shape[0]}")
    generator = torch.Generator().manual_seed(seed)
    half_real, half_fake = real.shape[0] // 2, fake.shape[0] // 2
    values = []
    for index in range(num_halves):
        if index % 2 == 0:
            real_order = torch.randperm(real.shape[0], generator=generator)
            fake_order = torch.randperm(fake.shape[0], generator=generator)
        part = index % 2
        real_rows = real_order[part * half_real : (part + 1) * half_real].to(real.device)
        fake_rows = fake_order[part * half_fake : (part + 1) * half_fake].to(fake.device)
        values.append(torch.as_tensor(statistic(real[real_rows], fake[fake_rows]), dtype=torch.float64).cpu())
    return torch.stack(values)


def t_interval(
    centre: float,
    stderr: float,
    confidence: float,
    num_resamples: int,
    method: str,
    bounds: tuple[float | None, float | None] = (None, None),
    note: str = "",
) -> Interval:
    """``centre ± t * stderr`` with the Student-t quantile on ``num_resamples - 1`` degrees of freedom (the
    standard error is itself estimated from that many resamples), clipped to the statistic's possible ``bounds``.

    Args:
        centre: the estimate.
        stderr: its standard error (>= 0; NaN gives a NaN interval).
        confidence: nominal coverage in ``(0, 1)``.
        num_resamples: the resamples behind ``stderr`` (>= 2).
        method: recorded on the :class:`Interval`.
        bounds: ``(lower, upper)`` limits of the statistic (``None``: unbounded).
        note: recorded on the :class:`Interval`.
    """
    from scipy.stats import t as student_t  # here, not at the top: scipy.stats costs seconds at start-up

    _check_confidence(confidence)
    quantile = float(student_t.ppf(0.5 + confidence / 2.0, max(num_resamples - 1, 1)))
    low, high = centre - quantile * stderr, centre + quantile * stderr
    lower, upper = bounds
    if lower is not None and not math.isnan(low):
        low, high = max(low, lower), max(high, lower)
    if upper is not None and not math.isnan(high):
        low, high = min(low, upper), min(high, upper)
    return Interval(low, high, confidence, num_resamples, centre, method, note)


def bootstrap_interval(
    statistic: Callable[[Tensor, Tensor], float | Tensor],
    real: Tensor,
    fake: Tensor,
    num_resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic(real, fake)`` (not used by reports; see the module docstring).

    Real and fake rows are resampled independently with replacement (each resample keeps both set sizes), the
    statistic is recomputed ``num_resamples`` times, and the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles are returned. Resampling indices come from a CPU generator seeded with ``seed``, so the interval is
    the same on every device and run. It covers only statistics that resampling with replacement leaves
    centred: not FID (duplicated rows raise it) and not k-NN statistics rebuilt on the resample.

    Args:
        statistic: a function of ``(real, fake)`` feature matrices returning a number.
        real: ``(N_r, D)`` features.
        fake: ``(N_f, D)`` features.
        num_resamples: bootstrap resamples (>= 2).
        confidence: coverage of the interval, in ``(0, 1)``.
        seed: seed of the resampling.

    Returns:
        An :class:`Interval`.
    """
    if num_resamples < 2:
        raise InputError(f"num_resamples: need at least 2 bootstrap resamples, got {num_resamples}")
    _check_confidence(confidence)
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(num_resamples):
        real_index = torch.randint(real.shape[0], (real.shape[0],), generator=generator).to(real.device)
        fake_index = torch.randint(fake.shape[0], (fake.shape[0],), generator=generator).to(fake.device)
        values.append(float(statistic(real[real_index], fake[fake_index])))
    samples = torch.tensor(values, dtype=torch.float64)
    alpha = (1.0 - confidence) / 2.0
    low, high = torch.quantile(samples, torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64)).tolist()
    return Interval(low=low, high=high, confidence=confidence, num_resamples=num_resamples)
