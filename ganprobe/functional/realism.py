r"""Per-sample diagnostics on the k-NN manifolds: a realism score per fake, and how well each real is covered.

**Realism score** (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
Models", NeurIPS, section 5 and equation 3): for a fake ``f``,

.. math:: R(f) = \max_{r} \frac{\mathrm{rad}_k(r)}{\lVert f - r \rVert}

over the reals ``r`` whose radius ``rad_k(r)`` (distance to the k-th nearest other real, as in precision) is at
most the median radius: the paper discards the half of the hyperspheres with the largest radii, which belong to
outliers and would make any fake look realistic (its released code zeroes the radii above the 50th percentile,
``np.percentile(D, 50)``, linear interpolation; ``torch.quantile`` interpolates the same way). ``R(f) >= 1`` means
``f`` lies inside one of those balls (a fake inside a ball of the full set is what precision counts); larger is
more realistic. The paper uses ``k = 3``. The released code adds ``1e-5`` to each distance; here a fake at distance
0 from a kept real of positive radius scores ``inf``, and one at distance 0 from a real of radius 0 scores 0 from
that real.

**Coverage of each real**: the ratio ``min_f ||r - f|| / rad_k(r)`` of the distance from a real to its nearest
fake over the real's own k-NN radius. ``<= 1``: a fake lies in the real's ball (coverage, Naeem et al. 2020, is the
fraction of reals with ratio ``<= 1``); the reals with the largest ratios are those least covered by any fake.

The radii and nearest fakes come from the exact search :func:`~ganprobe.functional.neighbours.knn`; the
fake-to-real distances of the realism score from the float64 expansion ``|a|^2 + |b|^2 - 2 a.b`` in blocks of rows
(round-off about ``1e-16`` of the squared norms: a fake that duplicates a real gets a huge finite score rather than
``inf``). Memory stays bounded by ``block_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES, block_rows, check_feature_pair, knn
from ganprobe.functional.prdc import kth_neighbour_distances
from ganprobe.metrics.declarations.density_coverage import DECLARATION as DENSITY_COVERAGE

# The paper's neighbourhood size for the realism score.
REALISM_K = 3


@dataclass(frozen=True)
class RealismResult:
    """Per-sample realism and coverage.

    Attributes:
        k: the neighbour that set the realism radii; coverage_k: the one that set the coverage radii.
        realism: ``(M,)`` float64 realism score of each fake (larger: more realistic; ``>= 1``: inside a kept ball).
        least_realistic: indices of the ``count`` fakes with the lowest realism, least realistic first.
        coverage_ratio: ``(N,)`` float64 distance of each real to its nearest fake over the real's radius.
        least_covered: indices of the ``count`` reals with the largest ratio, least covered first.
        radius_threshold: the median real radius (reals with a larger radius were left out of the realism score).
    """

    k: int
    coverage_k: int
    realism: Tensor
    least_realistic: Tensor
    coverage_ratio: Tensor
    least_covered: Tensor
    radius_threshold: float

    def uncovered(self) -> Tensor:
        """``(N,)`` bool: reals with no fake inside their k-NN ball (ratio > 1)."""
        return self.coverage_ratio > 1


def _check(real: Tensor, fake: Tensor, k: int) -> tuple[Tensor, Tensor]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k: must be a positive integer, got {k!r}")
    check_feature_pair(real, fake, min_real=k + 1)
    return real, fake.to(real.device)


def realism_scores(
    real: Tensor, fake: Tensor, k: int = REALISM_K, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> tuple[Tensor, float]:
    """The realism score of every fake (see the module docstring).

    Args:
        real: ``(N, D)`` real features, ``N > k``.
        fake: ``(M, D)`` fake features.
        k: the neighbour that sets each real's radius (the paper: 3).
        block_bytes: memory budget of one block of distances.

    Returns:
        ``(realism, median_radius)``: ``(M,)`` float64 scores, and the radius threshold of the kept reals.
    """
    real, fake = _check(real, fake, k)
    radii = kth_neighbour_distances(real, k, block_bytes)
    threshold = float(torch.quantile(radii, 0.5))
    kept = radii <= threshold
    centres, kept_radii = real[kept].double(), radii[kept]
    scores = torch.empty(fake.shape[0], dtype=torch.float64, device=real.device)
    centre_norms = centres.square().sum(dim=1)
    rows = block_rows(centres.shape[0], block_bytes, itemsize=8)
    for start in range(0, fake.shape[0], rows):
        block = fake[start : start + rows].double()
        squared = block.square().sum(dim=1, keepdim=True) + centre_norms.unsqueeze(0) - 2 * (block @ centres.T)
        distances = squared.clamp_min(0).sqrt()
        ratio = kept_radii.unsqueeze(0) / distances
        ratio = torch.where((distances == 0) & (kept_radii.unsqueeze(0) == 0), 0.0, ratio)
        scores[start : start + rows] = ratio.amax(dim=1)
    return scores, threshold


def coverage_ratios(real: Tensor, fake: Tensor, k: int = 5, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Tensor:
    """``(N,)`` float64: each real's distance to its nearest fake over its k-NN radius (``> 1``: not covered).

    A real of radius 0 gets 0 when a fake sits on it and ``inf`` otherwise.
    """
    real, fake = _check(real, fake, k)
    radii = kth_neighbour_distances(real, k, block_bytes)
    nearest, _ = knn(real, fake, 1, block_bytes=block_bytes)
    nearest = nearest[:, 0]
    ratio = nearest / radii
    return torch.where(nearest == 0, 0.0, ratio)


def realism_details(
    real: Tensor,
    fake: Tensor,
    count: int = 10,
    k: int = REALISM_K,
    coverage_k: int | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> RealismResult:
    """Realism of every fake, coverage of every real, and the ``count`` worst of each.

    Args:
        real, fake: ``(N, D)`` and ``(M, D)`` features.
        count: how many least realistic fakes and least covered reals to name (fewer if the sets are smaller).
        k: the realism score's neighbour (the paper: 3).
        coverage_k: the coverage balls' neighbour (default: the headline coverage's ``k``, 5, so that
            :meth:`RealismResult.uncovered` is exactly the reals the headline coverage counts as not covered).
        block_bytes: memory budget of one block of distances.

    Returns:
        A :class:`RealismResult`; ties in the rankings go to the lower index.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"count: expected an integer >= 0, got {count!r}")
    realism, threshold = realism_scores(real, fake, k, block_bytes)
    coverage_k = DENSITY_COVERAGE.default("k") if coverage_k is None else coverage_k
    ratios = coverage_ratios(real, fake, coverage_k, block_bytes)
    least_realistic = torch.sort(realism, stable=True).indices[: min(count, realism.shape[0])]
    least_covered = torch.sort(-ratios, stable=True).indices[: min(count, ratios.shape[0])]
    return RealismResult(k, coverage_k, realism, least_realistic, ratios, least_covered, threshold)
