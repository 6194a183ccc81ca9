"""The math of the energy distance, on plain tensors (no state, no I/O): testable without the metric class."""

from __future__ import annotations

import torch
from torch import Tensor


def energy_distance(real: Tensor, fake: Tensor, exponent: float = 1.0) -> Tensor:
    r"""The squared energy distance between two samples (Székely & Rizzo 2013, "Energy statistics", eq. 2.1):

    .. math:: \mathcal{E} = 2\,\overline{\lVert r_i - f_j\rVert^a} - \overline{\lVert r_i - r_j\rVert^a}
              - \overline{\lVert f_i - f_j\rVert^a}

    with means over every pair, the diagonals included (the V-statistic: never negative, 0 for identical samples).
    For 1-D samples and ``exponent=1`` it is the square of ``scipy.stats.energy_distance``.

    Args:
        real: ``(N, D)`` real features.
        fake: ``(M, D)`` fake features of the same width.
        exponent: the power ``a`` of the distances, in ``(0, 2)`` (the distance characterises the distributions
            only there).

    Returns:
        A 0-d float64 tensor. Memory: the ``(N + M)^2`` distance matrices.

    Raises:
        ValueError: an exponent outside ``(0, 2)``, or samples of different widths.
    """
    if not 0 < exponent < 2:
        raise ValueError(f"exponent: must be in (0, 2), got {exponent!r}")
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real, fake: expected (N, D) and (M, D), got {tuple(real.shape)} and {tuple(fake.shape)}")
    real, fake = real.double(), fake.double()

    def mean_distance(a: Tensor, b: Tensor) -> Tensor:
        # the exact route (no |a|^2 + |b|^2 - 2ab shortcut): a sample's distance to itself is exactly 0
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").pow(exponent).mean()

    return 2 * mean_distance(real, fake) - mean_distance(real, real) - mean_distance(fake, fake)
