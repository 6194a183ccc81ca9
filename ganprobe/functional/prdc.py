"""Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020) of k-NN manifolds.

Each real sample ``r_i`` gets a ball of radius ``rad_k(r_i)``, the distance to its ``k``-th nearest *other* real
sample (what the ``prdc`` package computes with ``np.partition`` on a row that includes the zero self-distance);
likewise each fake ``f_j`` gets ``rad_k(f_j)`` among the fakes. With ``N`` reals and ``M`` fakes:

.. math::

    \\mathrm{precision} = \\frac{1}{M}\\sum_j 1\\big[\\exists i: d(f_j, r_i) \\le \\mathrm{rad}_k(r_i)\\big] \\qquad
    \\mathrm{recall} = \\frac{1}{N}\\sum_i 1\\big[\\exists j: d(r_i, f_j) \\le \\mathrm{rad}_k(f_j)\\big]

    \\mathrm{density} = \\frac{1}{kM}\\sum_j \\sum_i 1\\big[d(f_j, r_i) \\le \\mathrm{rad}_k(r_i)\\big] \\qquad
    \\mathrm{coverage} = \\frac{1}{N}\\sum_i 1\\big[\\min_j d(r_i, f_j) \\le \\mathrm{rad}_k(r_i)\\big]

Precision: fraction of fakes inside the real manifold (fidelity). Recall: fraction of reals inside the fake
manifold (diversity). Density: how many real balls hold a fake, on average, over ``k``; about 1 when fakes follow
the real distribution, above 1 when they crowd dense real regions, and it does not saturate the way precision does
near outliers. Coverage: fraction of reals with a fake in their ball (diversity that is robust to fake outliers).

Balls are closed (``<=``), as in Kynkaanniemi et al.'s equation (1); the ``prdc`` package uses open balls (``<``).
Both agree whenever no distance equals a radius exactly, which has probability 0 for continuous features. They
differ on exact ties: a fake identical to a real whose ``k`` nearest neighbours are copies of it (radius 0) is
inside here and outside in ``prdc`` (a set repeated ``k + 1`` times scores 1 here, 0 there); and for ``fake ==
real`` the fake copy of each real's ``k``-th neighbour sits on that real's boundary, so density is
``(k + 1) / k`` here and 1 in ``prdc`` (precision, recall and coverage are 1 in both).

Memory stays bounded: the radii come from :func:`ganprobe.functional.neighbours.knn`, and the real-vs-fake tests
run over blocks of fake rows (sized with :func:`block_rows`), never an ``N x M`` matrix. Each block screens pairs
with the fast ``|a|^2 + |b|^2 - 2 a.b`` expansion, and pairs within its worst-case round-off of a radius are
re-decided with exact float64 differences, so the tests are exact. The radii are as exact as ``knn``'s re-ranked
search, which holds unless the features share an offset about 1000 times their spread (float32 round-off then
exceeds the gaps between neighbours; centre such features first).

:func:`prdc_details` returns the per-sample outcomes the four values average; :func:`prdc_intervals` gives
confidence intervals from random halves.

Under ``torch.distributed`` pass ``process_group=`` (every rank holding the same ``real`` and ``fake``): each rank
finds the radii of its shard of reals and fakes and runs the ball tests of its shard of fakes, and the per-sample
outcomes are gathered (radii and ball counts concatenated, coverage and recall flags OR-ed), so every rank returns
exactly the single-process result with about ``1 / world_size`` of the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.bootstrap import Interval, half_sample_values, t_interval
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES, block_rows, check_features, knn
from ganprobe.utils.distributed import (
    ProcessGroup,
    all_reduce_any,
    check_rows,
    gather_rows,
    rank_and_world_size,
    shard_range,
    shard_sizes,
)

# A distance within this relative margin above a radius counts as on it (absorbs float64 summation order).
_BOUNDARY_RTOL = 1e-12


@dataclass(frozen=True)
class PRDCDetails:
    """Per-sample outcomes of the ball tests; the four values are their averages (see :meth:`values`).

    Attributes:
        k: the neighbour that set the radii.
        fake_balls: ``(M,)`` int64, how many real balls hold each fake (precision: > 0; density: mean / k).
        real_covered: ``(N,)`` bool, whether a fake lies in each real's ball (coverage).
        real_recalled: ``(N,)`` bool, whether each real lies in some fake's ball (recall); ``None`` when the fake
            balls were not built (:func:`density_coverage`).
    """

    k: int
    fake_balls: Tensor
    real_covered: Tensor
    real_recalled: Tensor | None

    def values(self) -> dict[str, Tensor]:
        """``{"precision", "recall", "density", "coverage"}`` as scalar float64 tensors (no recall without it)."""
        values = {
            "precision": (self.fake_balls > 0).double().mean(),
            "density": self.fake_balls.double().mean() / self.k,
            "coverage": self.real_covered.double().mean(),
        }
        if self.real_recalled is not None:
            values["recall"] = self.real_recalled.double().mean()
        return {name: values[name] for name in ("precision", "recall", "density", "coverage") if name in values}


def _check_inputs(real: Tensor, fake: Tensor, k: int, need_fake_radii: bool) -> tuple[Tensor, Tensor]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k: must be a positive integer, got {k!r}")
    check_features(real, "real", min_rows=k + 1)
    check_features(fake, "fake", min_rows=k + 1 if need_fake_radii else 1)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    dtype = torch.float64 if torch.float64 in (real.dtype, fake.dtype) else torch.float32
    return real.to(dtype), fake.to(real.device, dtype)


def kth_neighbour_distances(
    features: Tensor,
    k: int,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    rows: tuple[int, int] | None = None,
    process_group: ProcessGroup | None = None,
) -> Tensor:
    """Distance of every row to its ``k``-th nearest *other* row: the k-NN ball radii of PRDC.

    Args:
        features: ``(N, D)`` features, ``N > k``.
        k: which neighbour (1 = nearest other sample; a duplicate of a row counts and gives radius 0).
        block_bytes: memory budget of one block of the distance matrix.
        rows: only rows ``[start, stop)`` (one shard); process_group: shard over a ``torch.distributed`` group and
            gather all rows. See :func:`~ganprobe.functional.neighbours.knn`.

    Returns:
        ``(N,)`` float64 Euclidean distances (``(stop - start,)`` with ``rows``).
    """
    distances, _ = knn(features, features, k, True, block_bytes, rows=rows, process_group=process_group)
    return distances[:, k - 1]


def _relaxed_float32_matmul() -> bool:
    """Whether float32 matrix products may use TF32/bfloat16 (read defensively: torch refuses to report the legacy
    setting once the new per-backend ``fp32_precision`` API has been used)."""
    try:
        return torch.get_float32_matmul_precision() != "highest"
    except RuntimeError:
        return True


def _expansion_eps(work: Tensor) -> float:
    """Unit round-off of a matrix product in ``work``'s dtype (TF32/bfloat16 when float32 products are relaxed)."""
    if work.dtype == torch.float32 and _relaxed_float32_matmul():
        return 2.0**-7
    return float(torch.finfo(work.dtype).eps)


def _inside(
    sq: Tensor, slack: Tensor, radii: Tensor, rows: Tensor, cols: Tensor, pair_chunk: int, per_column: bool
) -> Tensor:
    """Which pairs (row ``a``, column ``b``) have ``d(a, b) <= radius``, exactly.

    ``sq``: approximate squared distances ``(B, C)`` with error at most ``slack`` (``(B, C)``-broadcastable);
    ``radii``: float64 radii per column ``(C,)`` or per row ``(B,)``; ``rows``/``cols``: the features.
    """
    radius = radii.unsqueeze(0) if per_column else radii.unsqueeze(1)
    radius_sq = radius.square().to(sq.dtype)
    inside = sq < radius_sq - slack
    unsure = (sq - radius_sq).abs() <= slack
    row_index, col_index = unsure.nonzero(as_tuple=True)
    for start in range(0, row_index.shape[0], pair_chunk):
        r, c = row_index[start : start + pair_chunk], col_index[start : start + pair_chunk]
        exact = (rows[r].double() - cols[c].double()).square().sum(dim=1).sqrt()
        limit = radii[c] if per_column else radii[r]
        inside[r, c] = exact <= limit * (1.0 + _BOUNDARY_RTOL)
    return inside


def _ball_tests(
    real: Tensor,
    fake: Tensor,
    real_radii: Tensor,
    fake_radii: Tensor | None,
    block_bytes: int,
    fake_rows: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One blocked pass over fake rows ``[start, stop)`` (default: all) x all reals.

    Returns ``(balls_per_fake (stop - start,) int64, covered_real (N,) bool, real_in_fake_manifold (N,) bool)``;
    the last is all ``False`` when ``fake_radii`` is ``None`` (the fake-ball test is skipped). Over a split of the
    fake rows, the counts concatenate and the two flags OR together into the unsplit result.
    """
    first, last = check_rows(fake_rows, fake.shape[0])
    work_real = real.double() if real.dtype == torch.float64 else real.float()
    work_fake = fake.to(work_real.dtype)
    real_norms, fake_norms = work_real.square().sum(dim=1), work_fake.square().sum(dim=1)
    # Worst-case error of |a|^2 + |b|^2 - 2 a.b: about (D + 8) unit round-offs of |a|^2 + |b|^2.
    error_scale = (real.shape[1] + 8) * _expansion_eps(work_real)
    rows = block_rows(real.shape[0], block_bytes, work_real.element_size())
    pair_chunk = max(1, block_bytes // max(1, real.shape[1] * 16))
    balls_per_fake = torch.zeros(last - first, dtype=torch.long, device=real.device)
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    in_fake_manifold = torch.zeros_like(covered)
    for start in range(first, last, rows):
        stop = min(start + rows, last)
        norm_sum = fake_norms[start:stop].unsqueeze(1) + real_norms.unsqueeze(0)
        sq = norm_sum - 2.0 * (work_fake[start:stop] @ work_real.T)
        slack = error_scale * norm_sum + torch.finfo(sq.dtype).tiny
        del norm_sum
        in_real_ball = _inside(sq, slack, real_radii, fake[start:stop], real, pair_chunk, per_column=True)
        balls_per_fake[start - first : stop - first] = in_real_ball.sum(dim=1)
        covered |= in_real_ball.any(dim=0)
        del in_real_ball
        if fake_radii is not None:
            block_radii = fake_radii[start:stop]
            in_fake_ball = _inside(sq, slack, block_radii, fake[start:stop], real, pair_chunk, per_column=False)
            in_fake_manifold |= in_fake_ball.any(dim=0)
    return balls_per_fake, covered, in_fake_manifold


def prdc_details(
    real: Tensor,
    fake: Tensor,
    k: int = 5,
    recall: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> PRDCDetails:
    """Per-sample ball tests behind precision, recall, density and coverage (arguments as in :func:`prdc`).

    Args:
        recall: also build the fake balls (a fake-fake k-NN search) for recall; needs more than ``k`` fakes.
    """
    real, fake = _check_inputs(real, fake, k, need_fake_radii=recall)
    real_radii = kth_neighbour_distances(real, k, block_bytes, process_group=process_group)
    fake_radii = kth_neighbour_distances(fake, k, block_bytes, process_group=process_group) if recall else None
    if process_group is None:
        fake_balls, covered, recalled = _ball_tests(real, fake, real_radii, fake_radii, block_bytes)
    else:
        rank, world_size = rank_and_world_size(process_group)
        fake_rows = shard_range(fake.shape[0], rank, world_size)
        fake_balls, covered, recalled = _ball_tests(real, fake, real_radii, fake_radii, block_bytes, fake_rows)
        if world_size > 1:
            fake_balls = gather_rows(fake_balls, shard_sizes(fake.shape[0], world_size), process_group)
            covered = all_reduce_any(covered, process_group)
            recalled = all_reduce_any(recalled, process_group) if recall else recalled
    return PRDCDetails(k=k, fake_balls=fake_balls, real_covered=covered, real_recalled=recalled if recall else None)


def prdc(
    real: Tensor,
    fake: Tensor,
    k: int = 5,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> dict[str, Tensor]:
    """Precision, recall, density and coverage with one ``k``, like ``prdc.compute_prdc(real, fake, nearest_k=k)``.

    See the module docstring for the formulas and the one deliberate difference from the ``prdc`` package
    (closed balls: exact ties count as inside).

    Args:
        real: ``(N, D)`` features of real images, ``N > k``.
        fake: ``(M, D)`` features of generated images, ``M > k``, same width and device.
        k: the neighbour defining each ball's radius (Naeem et al. recommend 5 for density/coverage).
        block_bytes: memory budget of one block of the distance matrix.
        process_group: a ``torch.distributed`` group to shard the work over (every rank passes the same features
            and gets the same result); ``None`` computes everything in this process.

    Returns:
        ``{"precision", "recall", "density", "coverage"}``: scalar float64 tensors; precision, recall and
        coverage in ``[0, 1]`` (higher is better), density in ``[0, N/k]`` (about 1 when fake follows real).

    Raises:
        InputError: non-finite or mis-shaped features, different widths, ``k`` not below both set sizes.

    Example:
        >>> import torch
        >>> real = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
        >>> {name: float(value) for name, value in prdc(real, real + 100, k=3).items()}
        {'precision': 0.0, 'recall': 0.0, 'density': 0.0, 'coverage': 0.0}
    """
    return prdc_details(real, fake, k, True, block_bytes, process_group).values()


def precision_recall(
    real: Tensor,
    fake: Tensor,
    k: int = 3,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> tuple[Tensor, Tensor]:
    """Improved precision and recall of Kynkaanniemi et al. (2019), "Improved Precision and Recall Metric for
    Assessing Generative Models" (NeurIPS), with their default ``k = 3``.

    Args:
        real, fake, block_bytes, process_group: as in :func:`prdc`; both sets need more than ``k`` samples.
        k: the neighbour defining each ball's radius.

    Returns:
        ``(precision, recall)``: scalar float64 tensors in ``[0, 1]``. Precision: fraction of fakes inside some real
        ball (fidelity). Recall: fraction of reals inside some fake ball (diversity).
    """
    values = prdc(real, fake, k, block_bytes, process_group)
    return values["precision"], values["recall"]


def density_coverage(
    real: Tensor,
    fake: Tensor,
    k: int = 5,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> tuple[Tensor, Tensor]:
    """Density and coverage of Naeem et al. (2020), "Reliable Fidelity and Diversity Metrics for Generative Models"
    (ICML), with their default ``k = 5``. Only real balls are used, so no fake-fake search runs.

    Args:
        real, block_bytes, process_group: as in :func:`prdc`; ``real`` needs more than ``k`` samples.
        fake: ``(M, D)`` generated features, ``M >= 1``.
        k: the neighbour defining each real ball's radius.

    Returns:
        ``(density, coverage)``: scalar float64 tensors. Density: mean number of real balls holding a fake, over
        ``k`` (about 1 when fake follows real). Coverage: fraction of reals with at least one fake in their ball.
    """
    values = prdc_details(real, fake, k, False, block_bytes, process_group).values()
    return values["density"], values["coverage"]


# The values' possible ranges (density has no upper limit).
_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "density": (0.0, None),
    "coverage": (0.0, 1.0),
}


def prdc_intervals(
    real: Tensor,
    fake: Tensor,
    k: int,
    recall: bool = True,
    num_halves: int = 20,
    confidence: float = 0.95,
    seed: int = 0,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: ProcessGroup | None = None,
) -> dict[str, Interval]:
    """Confidence intervals for the expected precision/recall/density/coverage at these set sizes and ``k``.

    k-NN manifold values have no sample-size-free true value (the balls shrink as ``N`` grows), so the estimand
    is the expectation of the estimator at this ``N``, ``M`` and ``k``. Each interval is ``value ± t * stderr``
    with the standard error from the spread of the values over ``num_halves`` random halves of both sets, drawn
    without replacement and with the balls rebuilt on each half (the delete-half jackknife; see
    :mod:`ganprobe.functional.bootstrap`). A bootstrap with replacement cannot do this: repeated rows are
    zero-distance neighbours that shrink rebuilt balls, and balls held fixed leave out their own randomness (in
    a test with 400 + 400 Gaussian samples such intervals ran 0.6-0.9x the real spread). Intervals are clipped
    to each value's possible range and always contain the value.

    Args:
        real, fake, k, block_bytes, process_group: as in :func:`prdc_details`; each half needs more than ``k``
            rows of every set whose balls are built.
        recall: also build the fake balls (precision/recall); ``False``: density/coverage only.
        num_halves: random halves (>= 2; each costs one k-NN search on half the samples, about a quarter of the
            full one).
        confidence: coverage of each interval, in ``(0, 1)``.
        seed: seed of the halves.

    Returns:
        ``{name: Interval}`` for the names of ``prdc_details(...).values()``.
    """
    full = prdc_details(real, fake, k, recall, block_bytes, process_group).values()
    names = list(full)

    def statistic(real_half: Tensor, fake_half: Tensor) -> Tensor:
        values = prdc_details(real_half, fake_half, k, recall, block_bytes, process_group).values()
        return torch.stack([values[name] for name in names])

    halves = half_sample_values(statistic, real, fake, num_halves, seed)
    spread = halves.std(dim=0, correction=1)
    method = f"t-interval, standard error from {num_halves} random halves (balls rebuilt on each)"
    return {
        name: t_interval(float(full[name]), float(spread[index]), confidence, num_halves, method, _BOUNDS[name])
        for index, name in enumerate(names)
    }
