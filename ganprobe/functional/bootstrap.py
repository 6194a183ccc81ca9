"""Seeded bootstrap confidence intervals for two-sample statistics (FID, precision/recall/density/coverage)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval: ``low``/``high`` bound the statistic with probability ``confidence``."""

    low: float
    high: float
    confidence: float
    num_resamples: int


def bootstrap_interval(
    statistic: Callable[[Tensor, Tensor], float | Tensor],
    real: Tensor,
    fake: Tensor,
    num_resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic(real, fake)``.

    Real and fake rows are resampled independently with replacement (each resample keeps both set sizes), the
    statistic is recomputed ``num_resamples`` times, and the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles are returned. Resampling indices come from a CPU generator seeded with ``seed``, so the interval is
    the same on every device and run.

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
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence: must lie strictly between 0 and 1, got {confidence}")
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
