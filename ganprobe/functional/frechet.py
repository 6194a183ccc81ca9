r"""Fréchet distance between Gaussian fits of two feature sets: FID (Heusel et al. 2017), FID∞ (Chong & Forsyth 2020).

Fit a Gaussian to each feature set (mean and unbiased covariance) and take the squared 2-Wasserstein (Fréchet)
distance between the two Gaussians (Dowson & Landau 1982; Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium", NeurIPS):

.. math:: d^2 = \lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
          - 2 \operatorname{tr}\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)^{1/2}

0 means the two fits coincide; larger is further apart (squared feature units, so values are only comparable
within one feature space and layer). Everything runs in float64, and the trace of the matrix square root comes
from symmetric eigendecompositions only, so it is never complex (unlike ``sqrtm(S1 @ S2)`` in pytorch-fid or
``eigvals(S1 @ S2)`` in torchmetrics) and stays stable for singular (rank-deficient) covariances.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import Tensor

from ganprobe.errors import InputError, SampleSizeWarning
from ganprobe.functional.bootstrap import Interval, half_sample_values, t_interval
from ganprobe.functional.neighbours import check_features


def _check_statistics(mu: Tensor, sigma: Tensor, name: str) -> tuple[Tensor, Tensor]:
    for value, argument, ndim in ((mu, f"mu{name}", 1), (sigma, f"sigma{name}", 2)):
        if not isinstance(value, Tensor) or value.ndim != ndim:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise InputError(f"{argument}: expected a {'(D,)' if ndim == 1 else '(D, D)'} tensor, got {shape}")
        if not bool(torch.isfinite(value).all()):
            raise InputError(f"{argument}: contains NaN or infinite values")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise InputError(f"sigma{name}: expected shape ({mu.shape[0]}, {mu.shape[0]}), got {tuple(sigma.shape)}")
    # No symmetrisation copy: the Cholesky and symmetric eigen-solvers read one triangle only.
    return mu.double(), sigma.double()


def _symmetrize(matrix: Tensor) -> Tensor:
    return (matrix + matrix.T) / 2


def _trace_sqrt_product(eigenvalues1: Tensor, eigenvectors1: Tensor, sigma2: Tensor) -> Tensor:
    r"""``tr((S1^{1/2} S2 S1^{1/2})^{1/2})`` given ``S1 = V diag(l) V^T``.

    ``S1^{1/2} S2 S1^{1/2} = V (L^{1/2} V^T S2 V L^{1/2}) V^T`` is orthogonally similar to the bracket, so the
    eigenvalues of the bracket (symmetric PSD) are the ones wanted; round-off negatives are clamped to 0.
    """
    root = eigenvalues1.clamp_min(0).sqrt()
    inner = (eigenvectors1.T @ sigma2 @ eigenvectors1) * root.unsqueeze(0) * root.unsqueeze(1)
    return torch.linalg.eigvalsh(_symmetrize(inner)).clamp_min(0).sqrt().sum()


def frechet_distance(
    mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor, counts: tuple[int, int] | None = None
) -> Tensor:
    r"""Squared Fréchet (2-Wasserstein) distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    .. math:: \lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2 \sum_i \sqrt{\lambda_i\big(\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}\big)}

    (Dowson & Landau 1982; Heusel et al. 2017). When ``Sigma1`` is positive definite (more samples than feature
    dimensions), ``Sigma1 = L L^T`` (Cholesky) and the eigenvalues of the symmetric ``L^T Sigma2 L`` (similar to
    ``Sigma1 Sigma2``) give the trace term. Otherwise, with ``Sigma1 = V diag(l) V^T`` from ``torch.linalg.eigh``
    (negative ``l``, which are round-off, clamped to 0), ``Sigma1^{1/2} Sigma2 Sigma1^{1/2}`` is orthogonally
    similar to ``diag(l)^{1/2} V^T Sigma2 V diag(l)^{1/2}``, whose ``eigvalsh`` eigenvalues (clamped at 0) give the
    trace term: symmetric PSD matrices and symmetric solvers only, never complex. The result is
    clamped at 0: the exact value is non-negative, so a tiny negative can only be round-off. Identical statistics
    give 0 up to round-off (below ``1e-6 * (tr S1 + tr S2)``).

    Args:
        mu1: ``(D,)`` mean of the first set (e.g. real features).
        sigma1: ``(D, D)`` covariance of the first set (symmetric PSD; may be singular).
        mu2: ``(D,)`` mean of the second set.
        sigma2: ``(D, D)`` covariance of the second set.
        counts: the sample counts behind ``sigma1`` and ``sigma2``, when known. A covariance of ``N <= D`` samples
            has rank below ``D``, so its Cholesky attempt would fail after ``O(D^3)`` work: it is skipped, and when
            only ``sigma2`` can be positive definite the fast path factors ``sigma2`` instead (the trace term is
            symmetric in the two covariances). ``None``: try ``sigma1``'s factorisation.

    Returns:
        A float64 scalar tensor ``>= 0`` on ``mu1``'s device, in squared feature units.

    Raises:
        InputError: wrong shapes, mismatched widths, NaN/Inf entries.
    """
    mu1, sigma1 = _check_statistics(mu1, sigma1, "1")
    mu2, sigma2 = _check_statistics(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise InputError(f"mu2: width {mu2.shape[0]} differs from mu1's {mu1.shape[0]}")
    mu2, sigma2 = mu2.to(mu1.device), sigma2.to(mu1.device)
    # Fast path for the usual regime (N > D, positive-definite covariance): with S1 = L L^T, L^T S2 L is similar
    # to S1 S2, so one Cholesky factorisation and one symmetric eigvalsh give the trace term (no eigenvectors).
    dim = sigma1.shape[0]
    first, second = sigma1, sigma2
    if counts is not None and counts[0] <= dim:
        first, second = (sigma2, sigma1) if counts[1] > dim else (None, None)
    factor, info = torch.linalg.cholesky_ex(first) if first is not None else (None, 1)
    if int(info) == 0:
        inner = factor.T @ second @ factor
        difference = mu1 - mu2
        trace_sqrt = torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum()
        return (difference.dot(difference) + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt).clamp_min(0)
    eigenvalues1, eigenvectors1 = torch.linalg.eigh(sigma1)
    return _frechet_from_parts(mu1, sigma1, eigenvalues1, eigenvectors1, mu2, sigma2)


def _frechet_from_parts(
    mu1: Tensor, sigma1: Tensor, eigenvalues1: Tensor, eigenvectors1: Tensor, mu2: Tensor, sigma2: Tensor
) -> Tensor:
    """The distance when ``sigma1``'s eigendecomposition is already known (FID∞ reuses it across subsets)."""
    difference = mu1 - mu2
    value = (
        difference.dot(difference)
        + sigma1.trace()
        + sigma2.trace()
        - 2 * _trace_sqrt_product(eigenvalues1, eigenvectors1, sigma2)
    )
    return value.clamp_min(0)


# Costs in units of matrix-product flops (measured on one CPU thread, float64: a symmetric eigendecomposition with
# eigenvectors of size n costs about as much as 6 n^3 product flops, eigenvalues only about 4 n^3, Cholesky 0.7 n^3).
_EIGH_COST, _EIGVALSH_COST, _CHOLESKY_COST = 6.0, 4.0, 0.7
# Rows per block of the Gram route's lower-triangle product (about 4 blocks at N = 2,000 measured fastest, 1 thread).
_GRAM_BLOCK = 512


def _gram_products_cost(smaller: int, larger: int, dim: int) -> tuple[float, bool]:
    """Cost of the ``smaller x smaller`` matrix of the Gram route, and whether ``A B^T`` (else ``A (B^T B) A^T``)."""
    direct = 2.0 * smaller * larger * dim + 2.0 * smaller * smaller * larger
    through_covariance = 2.0 * (larger + smaller) * dim * dim + 2.0 * smaller * smaller * dim
    return min(direct, through_covariance), direct <= through_covariance


def fid_route(num_real: int, num_fake: int, dim: int) -> Literal["gram", "covariance"]:
    r"""Which way :func:`fid_from_features` computes the trace term for these sizes: the cheaper by flop count.

    ``"covariance"``: build the two ``D x D`` covariances and factor one (Cholesky when a set has more than ``D``
    samples, else a full ``eigh``), ``O((N_r + N_f) D^2 + D^3)``. ``"gram"``: with centred features ``A``
    (``N_r x D``) and ``B`` (``N_f x D``), the nonzero eigenvalues of ``Sigma_r Sigma_f`` are those of the
    ``N_r x N_r`` matrix ``A B^T B A^T / ((N_r - 1)(N_f - 1))`` (taken on the smaller set's side), so the trace
    term is the nuclear norm of ``A B^T / sqrt((N_r - 1)(N_f - 1))`` and costs ``O(N_r N_f D + min(N)^3)``, no
    ``D x D`` decomposition. The Gram route wins when a set has fewer samples than ``D`` or so (e.g. 2,000 x 2,048
    Inception features); the covariance route wins for ``N >> D``.

    Args:
        num_real, num_fake: the sample counts ``N_r``, ``N_f`` (>= 2).
        dim: the feature width ``D``.

    Returns:
        ``"gram"`` or ``"covariance"``.
    """
    smaller, larger = sorted((num_real, num_fake))
    gram = _gram_products_cost(smaller, larger, dim)[0] + _EIGVALSH_COST * smaller**3
    factor = _CHOLESKY_COST if larger > dim else _EIGH_COST
    covariance = 2.0 * (num_real + num_fake) * dim * dim + (factor + 4.0 + _EIGVALSH_COST) * dim**3
    return "gram" if gram < covariance else "covariance"


def _trace_sqrt_gram(real_centred: Tensor, fake_centred: Tensor) -> Tensor:
    r"""``tr((S_r^{1/2} S_f S_r^{1/2})^{1/2})`` from centred float64 features, without ``D x D`` covariances.

    With ``S_r = A^T A / (n_r - 1)`` and ``S_f = B^T B / (n_f - 1)``, ``S_r S_f`` has the nonzero eigenvalues of
    ``P = A B^T B A^T / ((n_r - 1)(n_f - 1))`` (``XY`` and ``YX`` share them), the squared singular values of
    ``A B^T / sqrt(...)``. ``P`` is built on the smaller set's side, as ``(A B^T)(A B^T)^T`` or as
    ``A (B^T B) A^T``, whichever is cheaper; its ``eigvalsh`` eigenvalues (round-off negatives clamped to 0) give
    the term, as in the covariance route.
    """
    scale = math.sqrt((real_centred.shape[0] - 1) * (fake_centred.shape[0] - 1))
    small, large = sorted((real_centred, fake_centred), key=lambda rows: rows.shape[0])
    if _gram_products_cost(small.shape[0], large.shape[0], small.shape[1])[1]:
        inner = lower_gram(small @ large.T, _GRAM_BLOCK)
    else:
        inner = (small @ (large.T @ large)) @ small.T
    return torch.linalg.eigvalsh(inner, UPLO="L").clamp_min(0).sqrt().sum() / scale


def lower_gram(rows: Tensor, block: int = _GRAM_BLOCK) -> Tensor:
    """``rows @ rows.T`` on and below the diagonal, what ``eigvalsh(..., UPLO="L")`` reads (above it: not the
    product; zeros outside the diagonal blocks).

    Row blocks of ``block`` rows each multiply only the rows up to their own, which skips almost half of the
    product's flops (a symmetric rank-k update, which torch does not expose): ``(k + 1) / 2k`` of them for ``k``
    blocks.

    Args:
        rows: ``(N, K)`` floating tensor.
        block: rows per block (> 0).

    Returns:
        ``(N, N)`` tensor of ``rows``' dtype and device whose lower triangle is that of ``rows @ rows.T``.
    """
    count = rows.shape[0]
    out = torch.zeros(count, count, dtype=rows.dtype, device=rows.device)
    for start in range(0, count, block):
        stop = min(start + block, count)
        torch.mm(rows[start:stop], rows[:stop].T, out=out[start:stop, :stop])
    return out


def _fid_gram(real: Tensor, fake: Tensor) -> Tensor:
    """:func:`fid_from_features` by the Gram route (validated features on one device)."""
    # one float64 copy of each set, centred in place (the caller's tensors are never modified)
    real_centred, fake_centred = real.to(torch.float64, copy=True), fake.to(torch.float64, copy=True)
    mu_real, mu_fake = real_centred.mean(dim=0), fake_centred.mean(dim=0)
    real_centred.sub_(mu_real)
    fake_centred.sub_(mu_fake)
    difference = mu_real - mu_fake
    traces = torch.linalg.vector_norm(real_centred).square() / (real.shape[0] - 1) + torch.linalg.vector_norm(
        fake_centred
    ).square() / (fake.shape[0] - 1)
    return (difference.dot(difference) + traces - 2 * _trace_sqrt_gram(real_centred, fake_centred)).clamp_min(0)


def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance (divisor ``N - 1``) of ``(N, D)`` features, in float64.

    Args:
        features: ``(N, D)`` floating features, ``N >= 2``.

    Returns:
        ``(mu, sigma)``: ``(D,)`` and ``(D, D)`` float64 tensors on the features' device.
    """
    check_features(features, "features", min_rows=2)
    x = features.double()
    mu = x.mean(dim=0)
    centred = x - mu
    return mu, _symmetrize(centred.T @ centred) / (x.shape[0] - 1)


def statistics_from_sums(feature_sum: Tensor, outer_sum: Tensor, count: int | Tensor) -> tuple[Tensor, Tensor]:
    r"""Mean and unbiased covariance from running sums (what a streaming or DDP-synced FID keeps).

    .. math:: \mu = s / n, \qquad \Sigma = (S - n \mu \mu^\top) / (n - 1)

    Args:
        feature_sum: ``(D,)`` sum of the feature rows ``s = sum_i x_i``.
        outer_sum: ``(D, D)`` sum of their outer products ``S = sum_i x_i x_i^T`` (``X^T X``).
        count: the number of rows ``n >= 2``.

    Returns:
        ``(mu, sigma)`` in float64.
    """
    n = int(count)
    if n < 2:
        raise InputError(f"count: a covariance needs at least 2 samples, got {n}")
    mu = feature_sum.double() / n
    # In place on one copy (the state itself is never modified): S - n mu mu^T, then / (n - 1).
    sigma = outer_sum.to(torch.float64, copy=True).addr_(mu, mu, alpha=-n).div_(n - 1)
    return mu, sigma


def warn_if_rank_deficient(num_real: int, num_fake: int, dim: int, what: str = "FID") -> None:
    """Warn (:class:`~ganprobe.errors.SampleSizeWarning`) when a covariance of ``N <= D`` samples is singular (rank
    at most ``N - 1``)."""
    small = [f"{name} N={n}" for name, n in (("real", num_real), ("fake", num_fake)) if n <= dim]
    if small:
        warnings.warn(
            f"{what}: {', '.join(small)} not above the feature dimension {dim}: the covariance is rank-deficient, "
            "so the value is finite but strongly biased; use more samples than feature dimensions",
            SampleSizeWarning,
            stacklevel=3,
        )


def _check_pair(real: Tensor, fake: Tensor, min_rows: int = 2) -> None:
    check_features(real, "real", min_rows=min_rows)
    check_features(fake, "fake", min_rows=min_rows)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")


def fid_from_features(real: Tensor, fake: Tensor) -> Tensor:
    """Fréchet distance between Gaussian fits of ``real`` and ``fake`` features (FID on Inception pool features).

    Args:
        real: ``(N_r, D)`` features of real images, ``N_r >= 2``.
        fake: ``(N_f, D)`` features of generated images, ``N_f >= 2``.

    The trace term comes from the ``D x D`` covariances (:func:`frechet_distance`) or, when cheaper (fewer samples
    than about ``D``), from the ``N x N`` Gram route that never forms them; :func:`fid_route` picks by flop count.
    Both give the same value up to float64 round-off.

    Returns:
        A float64 scalar tensor ``>= 0``; see :func:`frechet_distance`. Warns when ``N <= D`` (singular covariance).

    Example:
        >>> import torch
        >>> real = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
        >>> round(float(fid_from_features(real, real + 1.0)), 6)  # a shift of 1 in each of 8 dimensions
        8.0
    """
    _check_pair(real, fake)
    warn_if_rank_deficient(real.shape[0], fake.shape[0], real.shape[1])
    if fid_route(real.shape[0], fake.shape[0], real.shape[1]) == "gram":
        return _fid_gram(real, fake.to(real.device))
    mu_real, sigma_real = feature_statistics(real)
    mu_fake, sigma_fake = feature_statistics(fake.to(real.device))
    return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake, counts=(real.shape[0], fake.shape[0]))


def _fit_intercept(sizes: Tensor, values: Tensor) -> Tensor:
    """Least-squares intercept ``a`` of ``values = a + b / sizes`` (the value extrapolated to ``N -> infinity``)."""
    x = 1.0 / sizes.double()
    y = values.double()
    x_centred = x - x.mean()
    slope = (x_centred * (y - y.mean())).sum() / x_centred.square().sum()
    return y.mean() - slope * x.mean()


def fid_infinity(real: Tensor, fake: Tensor, num_points: int = 15, min_n: int | None = None, seed: int = 0) -> Tensor:
    r"""Effectively unbiased FID∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where
    to find them", CVPR).

    FID estimated from ``N`` samples is biased upwards by roughly ``b / N`` with a ``b`` that depends on the
    generator, so FIDs at a fixed ``N`` can rank models wrongly. FID∞ evaluates ``FID_N`` on random subsets of the
    fake features of ``num_points`` sizes spaced linearly from ``min_n`` to ``N_f`` (the authors' reference: 15
    sizes from 5,000 to 50,000, each a fresh shuffle of the fakes truncated to ``N``, against statistics of the
    whole real set), fits ``FID_N = a + b / N`` by least squares and returns the intercept ``a``, the FID
    extrapolated to infinitely many fakes. It is an extrapolation, not a distance: it can be slightly negative when
    the distributions nearly coincide. The ``1 / N`` law is asymptotic: subsets smaller than the feature dimension
    (a warning says so) make the fit unreliable.

    Args:
        real: ``(N_r, D)`` real features (used in full).
        fake: ``(N_f, D)`` generated features, subsampled without replacement.
        num_points: number of subset sizes (>= 2).
        min_n: smallest subset size, ``2 <= min_n < N_f``; default ``max(2, N_f // 10)`` (the reference's ratio).
        seed: seed of the subset draws (CPU generator: the same on every device).

    Returns:
        The intercept ``a`` as a float64 scalar tensor.
    """
    _check_pair(real, fake)
    n_fake = fake.shape[0]
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 2:
        raise InputError(f"num_points: need an integer >= 2 to fit a line, got {num_points!r}")
    if min_n is None:
        min_n = max(2, n_fake // 10)
    if isinstance(min_n, bool) or not isinstance(min_n, int) or not 2 <= min_n < n_fake:
        raise InputError(f"min_n: expected an integer with 2 <= min_n < {n_fake} (the number of fakes), got {min_n!r}")
    # Truncation like the reference's np.linspace(...).astype("int32").
    sizes = torch.linspace(min_n, n_fake, num_points, dtype=torch.float64).long()
    warn_if_rank_deficient(real.shape[0], min_n, real.shape[1], what="FID infinity")
    mu_real, sigma_real = feature_statistics(real)
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma_real)
    generator = torch.Generator().manual_seed(seed)
    values = []
    for size in sizes.tolist():
        index = torch.randperm(n_fake, generator=generator)[:size].to(fake.device)
        mu_fake, sigma_fake = feature_statistics(fake[index])
        mu_fake, sigma_fake = mu_fake.to(mu_real.device), sigma_fake.to(mu_real.device)
        values.append(_frechet_from_parts(mu_real, sigma_real, eigenvalues, eigenvectors, mu_fake, sigma_fake))
    return _fit_intercept(sizes.to(mu_real.device), torch.stack(values))


def fid_interval(real: Tensor, fake: Tensor, num_halves: int = 20, confidence: float = 0.95, seed: int = 0) -> Interval:
    r"""Confidence interval for the *population* Fréchet distance, centred on a bias-corrected estimate.

    The plug-in FID at ``N`` samples is biased upwards by about ``b_r / N_r + b_f / N_f`` (the trace terms; a
    percentile bootstrap only adds to that bias, because duplicated rows shrink the effective sample, so it misses
    the true value). Here FID is also computed on ``num_halves`` random halves of both sets, drawn without
    replacement in complementary pairs (:func:`~ganprobe.functional.bootstrap.half_sample_values`); halving both
    sets doubles the ``1 / N`` bias, so the Richardson extrapolation
    :math:`\hat d = (c\,\mathrm{FID}_N - \overline{\mathrm{FID}}_{N/2}) / (c - 1)` with ``c = N / (N // 2)``
    (about 2) removes it (the idea of FID∞, with two sizes). The standard error is the spread of the half FIDs
    (delete-half jackknife: it estimates the full-sample standard error without rescaling) plus the Monte Carlo
    noise of their mean, and the interval is ``d_hat ± t * stderr`` clipped at 0.

    The interval is for the population distance, so it need not contain the plug-in value: when it does not, the
    :class:`Interval`'s ``note`` says so and gives the bias. The ``1 / N`` law needs ``N`` well above ``D`` in
    the halves; with ``N / 2 <= D`` a warning says the covariances are singular and the interval is unreliable.

    Args:
        real: ``(N_r, D)`` real features, ``N_r >= 4``.
        fake: ``(N_f, D)`` generated features, ``N_f >= 4``.
        num_halves: random halves (>= 2; each costs one FID on half the samples).
        confidence: nominal coverage in ``(0, 1)``.
        seed: seed of the halves (CPU generator: the same interval on every device).

    Returns:
        An :class:`~ganprobe.functional.bootstrap.Interval` whose ``centre`` is the bias-corrected estimate.
    """
    _check_pair(real, fake, min_rows=4)
    fake = fake.to(real.device)
    warn_if_rank_deficient(real.shape[0] // 2, fake.shape[0] // 2, real.shape[1], what="FID's interval (halves)")
    plug_in = float(fid_from_features(real, fake))
    with warnings.catch_warnings():  # warned once above
        warnings.simplefilter("ignore", UserWarning)
        halves = half_sample_values(fid_from_features, real, fake, num_halves, seed)
    ratio = (real.shape[0] / (real.shape[0] // 2) + fake.shape[0] / (fake.shape[0] // 2)) / 2.0
    centre = (ratio * plug_in - float(halves.mean())) / (ratio - 1.0)
    spread = float(halves.std(correction=1))
    stderr = (spread * spread * (1.0 + 1.0 / num_halves)) ** 0.5
    method = f"bias-corrected (FID at N and N/2), t-interval from {num_halves} random halves"
    interval = t_interval(centre, stderr, confidence, num_halves, method, bounds=(0.0, None))
    notes = []
    if not interval.low <= plug_in <= interval.high:
        notes.append(
            f"interval for the population distance, centred on the bias-corrected estimate {centre:.4g}; the "
            f"plug-in value {plug_in:.4g} is biased upwards by about {plug_in - centre:.3g} at this sample size"
        )
    if centre < interval.low:
        notes.append(f"the bias-corrected estimate {centre:.4g} is below 0, the least possible distance")
    return Interval(interval.low, interval.high, confidence, num_halves, centre, method, "; ".join(notes))
