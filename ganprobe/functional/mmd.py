r"""Maximum mean discrepancy between feature sets: KID (Bińkowski et al. 2018) and CMMD (Jayasumana et al. 2024).

MMD² is the squared distance between the kernel mean embeddings of two distributions: 0 when they are equal (for
a characteristic kernel such as the RBF), larger when further apart. Unlike FID it assumes no Gaussian shape and
the unbiased estimator has no ``1 / N`` bias, so KID can come out slightly negative for near-identical sets.

- :func:`kid`: unbiased MMD² with the cubic polynomial kernel ``(x.y / D + 1)^3``, averaged over random subsets.
- :func:`cmmd`: the V-statistic MMD² with a Gaussian RBF kernel on (by default L2-normalised) embeddings, times
  1000, as in the official CMMD code.

Kernels are computed in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.bootstrap import Interval, t_interval
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES, block_rows, check_features

# KID's full kernel matrices (float64, one at a time) are used only while each fits in this many bytes.
DEFAULT_KERNEL_BYTES = 2**30


def _check_pair(real: Tensor, fake: Tensor, min_rows: int) -> None:
    check_features(real, "real", min_rows=min_rows)
    check_features(fake, "fake", min_rows=min_rows)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")


def polynomial_kernel(x: Tensor, y: Tensor, degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> Tensor:
    r"""Polynomial kernel matrix ``k(x, y) = (gamma x.y + coef)^degree`` in float64.

    Args:
        x: ``(M, D)`` features.
        y: ``(N, D)`` features.
        degree: the exponent (KID: 3).
        gamma: the scale of the dot product; ``None`` means ``1 / D`` (KID).
        coef: the additive constant (KID: 1).

    Returns:
        ``(M, N)`` float64 kernel matrix.
    """
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (x.double() @ y.double().T * gamma + coef) ** degree


def mmd2_unbiased(k_xx: Tensor, k_yy: Tensor, k_xy: Tensor) -> Tensor:
    r"""Unbiased estimator of MMD² from kernel matrices (Gretton et al. 2012, "A Kernel Two-Sample Test", JMLR).

    .. math:: \frac{\sum_{i \ne j} k(x_i, x_j)}{m (m - 1)} + \frac{\sum_{i \ne j} k(y_i, y_j)}{n (n - 1)}
              - \frac{2}{m n} \sum_{i, j} k(x_i, y_j)

    With ``m == n`` this is torchmetrics' (and the KID authors') ``maximum_mean_discrepancy``.

    Args:
        k_xx: ``(m, m)`` kernel among the first sample, ``m >= 2``.
        k_yy: ``(n, n)`` kernel among the second sample, ``n >= 2``.
        k_xy: ``(m, n)`` kernel between them.

    Returns:
        A float64 scalar tensor; its expectation is MMD², so it may be negative when the distributions are close.
    """
    m, n = k_xx.shape[0], k_yy.shape[0]
    if k_xx.shape != (m, m) or k_yy.shape != (n, n) or k_xy.shape != (m, n):
        raise InputError(
            f"kernel matrices: expected (m, m), (n, n), (m, n), got {tuple(k_xx.shape)}, {tuple(k_yy.shape)}, "
            f"{tuple(k_xy.shape)}"
        )
    if m < 2 or n < 2:
        raise InputError(f"kernel matrices: the unbiased estimator needs at least 2 samples per set, got {m} and {n}")
    k_xx, k_yy, k_xy = k_xx.double(), k_yy.double(), k_xy.double()
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2 * k_xy.sum() / (m * n)


def check_kid_arguments(num_subsets: int, subset_size: int, degree: int, gamma: float | None, coef: float) -> None:
    """Validate KID's arguments (shared by :func:`kid` and the ``KID`` metric). Raises :class:`InputError`."""
    integers = ((num_subsets, "num_subsets", 1), (subset_size, "subset_size", 2), (degree, "degree", 1))
    for value, argument, low in integers:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{argument}: expected an integer >= {low}, got {value!r}")
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0):
        raise InputError(f"gamma: expected None (meaning 1 / D) or a number > 0, got {gamma!r}")
    if isinstance(coef, bool) or not isinstance(coef, (int, float)) or not coef >= 0:
        raise InputError(f"coef: expected a number >= 0, got {coef!r}")


def kid(
    real: Tensor,
    fake: Tensor,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 0,
    max_kernel_bytes: int = DEFAULT_KERNEL_BYTES,
) -> tuple[Tensor, Tensor]:
    r"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR).

    For each of ``num_subsets`` subsets, draw ``subset_size`` real and ``subset_size`` fake rows without
    replacement and compute :func:`mmd2_unbiased` with the kernel ``k(x, y) = (gamma x.y + coef)^degree``
    (``gamma = 1 / D``, ``coef = 1``, ``degree = 3`` by default). Returns the mean and the population standard
    deviation over subsets, exactly as torchmetrics' ``KernelInceptionDistance``.

    Subsets follow torchmetrics' draw order (``randperm(N_r)[:s]`` then ``randperm(N_f)[:s]`` per subset) from a CPU
    generator seeded with ``seed``, so after ``torch.manual_seed(seed)`` torchmetrics draws the same subsets.
    Speed-up over torchmetrics (which computes three ``s x s`` kernel products per subset): the full kernel
    matrices ``K_rr, K_ff, K_rf`` are computed once, one at a time, and every subset's sums come from them through
    one product with the subsets' 0/1 membership matrix, so the cost barely grows with ``num_subsets``
    (``benchmarks/README.md``, "Scores", compares the two). This path is taken
    when it needs fewer operations (``(N_r^2 + N_f^2 + N_r N_f) (D + num_subsets)`` against
    ``3 s^2 D num_subsets``, i.e. roughly ``N < s * sqrt(num_subsets)``) and the largest matrix fits in
    ``max_kernel_bytes``; otherwise (e.g. 50,000 samples: 20 GB per matrix) each subset computes its own kernels.
    Both paths give the same result up to float64 round-off.

    Args:
        real: ``(N_r, D)`` real features.
        fake: ``(N_f, D)`` generated features.
        num_subsets: number of random subsets (>= 1).
        subset_size: rows per subset per set; ``2 <= subset_size <= min(N_r, N_f)``.
        degree, gamma, coef: the polynomial kernel; ``gamma=None`` means ``1 / D``.
        seed: seed of the subset draws.
        max_kernel_bytes: memory cap of one full kernel matrix (float64) on the fast path; 0 disables that path.

    Returns:
        ``(mean, std)``: float64 scalar tensors. 0 means indistinguishable; the mean can be slightly negative.

    Raises:
        InputError: bad arguments, or ``subset_size`` larger than either set.
    """
    values = kid_subset_values(real, fake, num_subsets, subset_size, degree, gamma, coef, seed, max_kernel_bytes)
    return values.mean(), values.std(correction=0)


def kid_subset_values(
    real: Tensor,
    fake: Tensor,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 0,
    max_kernel_bytes: int = DEFAULT_KERNEL_BYTES,
) -> Tensor:
    """The unbiased MMD² of each of :func:`kid`'s random subsets, ``(num_subsets,)`` float64 (same arguments)."""
    _check_pair(real, fake, min_rows=2)
    check_kid_arguments(num_subsets, subset_size, degree, gamma, coef)
    n_real, n_fake = real.shape[0], fake.shape[0]
    if subset_size > min(n_real, n_fake):
        raise InputError(
            f"subset_size: {subset_size} exceeds the number of samples (real {n_real}, fake {n_fake}); lower it"
        )
    gamma = 1.0 / real.shape[1] if gamma is None else float(gamma)
    fake = fake.to(real.device)
    generator = torch.Generator().manual_seed(seed)
    real_draws, fake_draws = [], []
    for _ in range(num_subsets):  # torchmetrics' order: a real permutation, then a fake one
        real_draws.append(torch.randperm(n_real, generator=generator)[:subset_size])
        fake_draws.append(torch.randperm(n_fake, generator=generator)[:subset_size])
    real_index = torch.stack(real_draws).to(real.device)  # (num_subsets, subset_size)
    fake_index = torch.stack(fake_draws).to(real.device)
    full_entries = n_real * n_real + n_fake * n_fake + n_real * n_fake
    cached_cost = full_entries * (real.shape[1] + num_subsets)  # kernel products + one indicator product per subset
    per_subset_cost = 3 * subset_size * subset_size * real.shape[1] * num_subsets
    if cached_cost <= per_subset_cost and max(n_real, n_fake) ** 2 * 8 <= max_kernel_bytes:
        values = _kid_from_full_kernels(real, fake, real_index, fake_index, degree, gamma, coef)
    else:
        scores = []
        for rows_real, rows_fake in zip(real_index, fake_index, strict=True):
            x, y = real[rows_real], fake[rows_fake]
            k_xx, k_yy = polynomial_kernel(x, x, degree, gamma, coef), polynomial_kernel(y, y, degree, gamma, coef)
            scores.append(mmd2_unbiased(k_xx, k_yy, polynomial_kernel(x, y, degree, gamma, coef)))
        values = torch.stack(scores)
    return values


def _kid_from_full_kernels(
    real: Tensor, fake: Tensor, real_index: Tensor, fake_index: Tensor, degree: int, gamma: float, coef: float
) -> Tensor:
    """:func:`mmd2_unbiased` of every subset from the three full kernel matrices, computed once.

    With ``C`` the ``(num_subsets, N)`` 0/1 membership matrix of the subsets, the kernel sum over subset ``i`` is
    ``(C K C^T)_ii = ((C @ K) * C).sum(1)``: one matrix product per kernel serves all subsets.
    """
    num_subsets, size = real_index.shape
    members_real = torch.zeros(num_subsets, real.shape[0], dtype=torch.float64, device=real.device)
    members_real.scatter_(1, real_index, 1.0)
    members_fake = torch.zeros(num_subsets, fake.shape[0], dtype=torch.float64, device=real.device)
    members_fake.scatter_(1, fake_index, 1.0)
    k_rr = polynomial_kernel(real, real, degree, gamma, coef)
    within_real = ((members_real @ k_rr) * members_real).sum(dim=1) - members_real @ k_rr.diagonal()
    del k_rr
    k_ff = polynomial_kernel(fake, fake, degree, gamma, coef)
    within_fake = ((members_fake @ k_ff) * members_fake).sum(dim=1) - members_fake @ k_ff.diagonal()
    del k_ff
    cross = ((members_real @ polynomial_kernel(real, fake, degree, gamma, coef)) * members_fake).sum(dim=1)
    return (within_real + within_fake) / (size * (size - 1)) - 2 * cross / (size * size)


# Fewer subsets than this give too rough a spread for a standard error: the interval draws its own.
_MIN_SPREAD_SUBSETS = 10


def kid_interval(
    real: Tensor,
    fake: Tensor,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 0,
    max_kernel_bytes: int = DEFAULT_KERNEL_BYTES,
    confidence: float = 0.95,
) -> Interval:
    r"""Confidence interval for the population MMD² that :func:`kid` estimates (same arguments, same value).

    KID is unbiased: its mean over random subsets has expectation MMD², and given the data it averages to the
    complete U-statistic of all rows. So its variance is (i) the U-statistic's sampling variance plus (ii) the
    Monte Carlo variance of averaging ``num_subsets`` subsets, ``var(subsets) / num_subsets``. (i) comes from
    subsets of ``s`` rows drawn without replacement (a delete-d jackknife with ``d = N - s``):
    ``var(subsets) * s / (N - s)``, with ``N`` the smaller set's size (wider, never narrower, when the sets
    differ in size). KID's own subsets serve when ``s <= N / 2`` and there are at least 10 of them; otherwise
    (e.g. subsets holding the whole set, whose spread is 0) ``max(num_subsets, 50)`` subsets of ``N // 2`` rows are
    drawn for it. For a U-statistic the non-linear part only widens this estimate. The interval is
    ``kid ± t * stderr``: it always contains KID's value. ``kid_std`` (the spread over subsets, as torchmetrics
    reports it) is not a standard error: it shrinks to 0 when the subsets hold every row.

    Returns:
        An :class:`~ganprobe.functional.bootstrap.Interval` centred on :func:`kid`'s mean.
    """
    values = kid_subset_values(real, fake, num_subsets, subset_size, degree, gamma, coef, seed, max_kernel_bytes)
    smallest = min(real.shape[0], fake.shape[0])
    if subset_size <= smallest // 2 and num_subsets >= _MIN_SPREAD_SUBSETS:
        spread_values, spread_size = values, subset_size
    else:
        spread_size = max(min(subset_size, smallest // 2), 2)
        spread_values = kid_subset_values(
            real, fake, max(num_subsets, 50), spread_size, degree, gamma, coef, seed + 1, max_kernel_bytes
        )
    sampling = float(spread_values.var(correction=1)) * spread_size / max(smallest - spread_size, 1)
    averaging = float(values.var(correction=1)) / num_subsets if num_subsets > 1 else 0.0
    method = (
        f"t-interval, U-statistic variance from {spread_values.numel()} subsets of {spread_size} rows "
        "(delete-d jackknife) plus the subset-averaging variance"
    )
    return t_interval(float(values.mean()), (sampling + averaging) ** 0.5, confidence, spread_values.numel(), method)


def _rbf_kernel_mean_minus_one(x: Tensor, y: Tensor, gamma: float, block_bytes: int) -> Tensor:
    """Mean of ``exp(-gamma |x_i - y_j|^2) - 1`` over all pairs (diagonal included), one block of rows at a time.

    Kernel values near 1 (unit-norm embeddings, ``sigma = 10``) would lose digits when the three means are
    subtracted; ``expm1`` keeps them, and the ``- 1`` cancels in ``K_xx + K_yy - 2 K_xy``.
    """
    y_norms = y.square().sum(dim=1)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    rows = block_rows(y.shape[0], block_bytes, itemsize=8)
    for start in range(0, x.shape[0], rows):
        block = x[start : start + rows]
        squared = block.square().sum(dim=1, keepdim=True) + y_norms.unsqueeze(0) - 2 * (block @ y.T)
        total += torch.expm1(-gamma * squared.clamp_min(0)).sum()
    return total / (x.shape[0] * y.shape[0])


def cmmd(
    real: Tensor,
    fake: Tensor,
    sigma: float = 10.0,
    scale: float = 1000.0,
    normalize: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Tensor:
    r"""CMMD (Jayasumana et al. 2024, "Rethinking FID: Towards a Better Evaluation Metric for Image Generation",
    CVPR): MMD² with a Gaussian RBF kernel, as the official ``google-research/cmmd`` ``distance.py``.

    .. math:: \mathrm{CMMD} = \mathrm{scale} \cdot
              \big(\overline{K_{xx}} + \overline{K_{yy}} - 2\,\overline{K_{xy}}\big), \qquad
              k(a, b) = \exp\!\big(-\lVert a - b\rVert^2 / (2 \sigma^2)\big)

    where the bars are means over *all* pairs, diagonals included, as the reference code computes them (the biased
    V-statistic; the unbiased U-statistic would leave the diagonals out). It is a squared RKHS norm, hence ``>= 0``
    (round-off is clamped) and exactly 0 for identical sets. The reference embeds images with CLIP ViT-L/14@336 and
    L2-normalises each embedding before this formula; ``normalize=True`` (default) does that normalisation here.
    The published ``sigma=10`` is tuned to unit-norm CLIP embeddings; on other features only the formula carries
    over, not the scale of the numbers.

    Args:
        real: ``(N_r, D)`` real embeddings.
        fake: ``(N_f, D)`` generated embeddings.
        sigma: RBF bandwidth (reference: 10).
        scale: multiplier of the result (reference: 1000).
        normalize: L2-normalise every row first, like the reference's embedding step.
        block_bytes: memory budget of one block of the kernel matrix (the matrices are never held whole).

    Returns:
        A float64 scalar tensor ``>= 0``; lower means closer.
    """
    _check_pair(real, fake, min_rows=1)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise InputError(f"sigma: expected a bandwidth > 0, got {sigma!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise InputError(f"scale: expected a number > 0, got {scale!r}")
    x, y = real.double(), fake.to(real.device).double()
    if normalize:
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        y = y / y.norm(dim=1, keepdim=True).clamp_min(1e-12)
    gamma = 1.0 / (2.0 * sigma * sigma)
    value = (
        _rbf_kernel_mean_minus_one(x, x, gamma, block_bytes)
        + _rbf_kernel_mean_minus_one(y, y, gamma, block_bytes)
        - 2 * _rbf_kernel_mean_minus_one(x, y, gamma, block_bytes)
    )
    return (scale * value).clamp_min(0)
