r"""Do the fakes follow the reals' class distribution? A chi-square test, the total variation distance, and the
classes that are missing or over-produced.

With ``r_c`` reals and ``f_c`` fakes of class ``c`` (``R`` and ``F`` in all, ``T = R + F``), the test of equal
distributions is Pearson's chi-square test of homogeneity on the ``2 x K`` table of counts:

.. math:: X^2 = \sum_{s \in \{r, f\}} \sum_c \frac{(O_{sc} - E_{sc})^2}{E_{sc}}, \qquad
          E_{rc} = R \frac{r_c + f_c}{T}, \quad E_{fc} = F \frac{r_c + f_c}{T}

with ``K' - 1`` degrees of freedom, ``K'`` the number of classes seen in either set (a class absent from both has no
expected count and is left out), and the p-value from the chi-square distribution (no continuity correction: what
``scipy.stats.chi2_contingency(table, correction=False)`` computes). A class with reals but no fakes, or fakes but
no reals, is counted as such (it contributes its full share to ``X^2``). The approximation wants expected counts of
about 5 or more; with fewer, :attr:`ClassDistribution.small_expected` says how many cells fall short.

The total variation distance is ``TV = 1/2 sum_c |r_c / R - f_c / F|``: 0 for equal shares, 1 for disjoint classes.

**Which classes are named.** Each class gets the adjusted standardized residual of its fake count (Haberman 1973):

.. math:: z_c = \frac{f_c - E_{fc}}{\sqrt{E_{fc} (1 - F/T) (1 - (r_c + f_c)/T)}}

which is approximately standard normal for that class when the distributions are equal. A class is named when
``|z_c|`` exceeds the two-sided normal quantile at ``alpha / K'`` (Bonferroni over the classes, so with equal
distributions the chance that any class is named is at most about ``alpha``), in two steps:

1. ``"missing"``: the class has reals but no fakes and ``z_c < -threshold``.
2. ``"over-produced"`` (``"under-produced"``): ``z_c > threshold`` (``< -threshold``) both on the full table and on
   the table with the missing classes left out of both sets (when it still has reals). A class with fakes and no
   reals is over-produced when its ``z_c`` says so.

The second table keeps a missing class from making every other class look over-produced (their fake shares all
rise to fill its place: with digit 7 removed from MNIST fakes, a class 2.5 points above its real share was named on
the full table alone), and the first keeps a class whose share equals its real share from being called
under-produced beside an over-produced one. ``residual`` reports the full table's ``z_c``. Every other class is
``"ok"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.neighbours import check_feature_pair

MISSING = "missing"
UNDER_PRODUCED = "under-produced"
OVER_PRODUCED = "over-produced"
OK = "ok"


@dataclass(frozen=True)
class ClassShare:
    """One class's counts, shares and verdict.

    Attributes:
        name: the class name; index: its index.
        real_count, fake_count: images of the class in each set.
        real_share, fake_share: those counts over the set sizes (``nan`` for an empty set).
        residual: the adjusted standardized residual ``z_c`` of the fake count (``nan`` when not defined).
        status: ``"missing"``, ``"under-produced"``, ``"over-produced"`` or ``"ok"`` (see the module docstring).
    """

    name: str
    index: int
    real_count: int
    fake_count: int
    real_share: float
    fake_share: float
    residual: float
    status: str

    def describe(self, num_real: int, num_fake: int) -> str:
        """One line, e.g. ``7: 0 of 4,500 fakes (0.0 %) vs 10.0 % of reals (500 of 5,000): missing``."""
        return (
            f"{self.name}: {self.fake_count:,} of {num_fake:,} fakes ({100 * self.fake_share:.1f} %) vs "
            f"{100 * self.real_share:.1f} % of reals ({self.real_count:,} of {num_real:,}): {self.status}"
        )


@dataclass(frozen=True)
class ClassDistribution:
    """The class distribution of the fakes against the reals.

    Attributes:
        chi2: Pearson's ``X^2`` statistic; p_value: its chi-square p-value (``nan`` with fewer than 2 classes seen).
        dof: degrees of freedom ``K' - 1``.
        total_variation: ``1/2 sum |real share - fake share|`` in ``[0, 1]``.
        num_real, num_fake: set sizes.
        classes: one :class:`ClassShare` per class, in index order.
        alpha: the level the classes were named at; threshold: the ``|z|`` above which a class is named.
        small_expected: number of cells with an expected count below 5 (the p-value is rough when > 0).
    """

    chi2: float
    p_value: float
    dof: int
    total_variation: float
    num_real: int
    num_fake: int
    classes: tuple[ClassShare, ...]
    alpha: float
    threshold: float
    small_expected: int

    def flagged(self) -> tuple[ClassShare, ...]:
        """The classes named missing, under- or over-produced, most extreme residual first."""
        named = [share for share in self.classes if share.status != OK]
        return tuple(sorted(named, key=lambda share: -abs(share.residual) if share.residual == share.residual else 0))

    def describe(self) -> list[str]:
        """Lines: the test, then one per named class (:meth:`ClassShare.describe`)."""
        head = (
            f"class distribution: chi-square {self.chi2:.1f} on {self.dof} dof, p = {self.p_value:.3g}; "
            f"total variation {self.total_variation:.3f}"
        )
        return [head] + [share.describe(self.num_real, self.num_fake) for share in self.flagged()]


def check_labels(labels: Tensor, argument: str) -> Tensor:
    """Validate ``(N,)`` integer class indices ``>= 0``; returns them as CPU int64. Raises :class:`InputError`."""
    if not isinstance(labels, Tensor) or labels.ndim != 1:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise InputError(f"{argument}: expected a (N,) tensor of class indices, got {shape}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise InputError(f"{argument}: expected integer class indices, got dtype {labels.dtype}")
    if labels.numel() and int(labels.min()) < 0:
        raise InputError(f"{argument}: class indices must be >= 0, got {int(labels.min())}")
    return labels.detach().to("cpu", torch.long)


def check_labelled_pair(
    real: Tensor, fake: Tensor, real_labels: Tensor, fake_labels: Tensor, min_real: int = 1
) -> tuple[Tensor, Tensor]:
    """Validate real and fake features of one width and their ``(N,)`` class indices, one per feature row.

    Returns:
        ``(real_labels, fake_labels)`` as CPU int64 (:func:`check_labels`).

    Raises:
        InputError: naming the argument and what is wrong.
    """
    check_feature_pair(real, fake, min_real=min_real)
    real_index, fake_index = check_labels(real_labels, "real_labels"), check_labels(fake_labels, "fake_labels")
    for labels, features, argument in ((real_index, real, "real_labels"), (fake_index, fake, "fake_labels")):
        if labels.shape[0] != features.shape[0]:
            raise InputError(f"{argument}: {labels.shape[0]} labels for {features.shape[0]} feature rows")
    return real_index, fake_index


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution: ``P(X >= statistic)`` for ``dof`` degrees of freedom.

    From ``torch.special.gammaincc`` (the regularised upper incomplete gamma function): within ``1e-4`` relative of
    ``scipy.stats.chi2.sf`` for 1 to 999 degrees of freedom, p-values down to ``1e-300``.
    """
    if dof < 1:
        return float("nan")
    value = torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(statistic / 2.0))
    return float(value)


def _normal_quantile(probability: float) -> float:
    return float(torch.special.ndtri(torch.tensor(probability, dtype=torch.float64)))


def _adjusted_residuals(real_counts: Tensor, fake_counts: Tensor) -> Tensor:
    """Adjusted standardized residual of each class's fake count in the ``2 x K`` table (``nan`` where undefined)."""
    n_real, n_fake = float(real_counts.sum()), float(fake_counts.sum())
    total = n_real + n_fake
    column = real_counts + fake_counts
    expected = n_fake * column / total
    variance = expected * (1 - n_fake / total) * (1 - column / total)
    return torch.where(variance > 0, (fake_counts - expected) / variance.clamp_min(1e-300).sqrt(), torch.nan)


def class_distribution(
    real_labels: Tensor,
    fake_labels: Tensor,
    num_classes: int | None = None,
    names: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> ClassDistribution:
    """Chi-square test of equal class distributions, total variation, and the classes named missing/over-produced.

    Args:
        real_labels: ``(N,)`` class indices of the reals.
        fake_labels: ``(M,)`` class indices of the fakes, on the same classes.
        num_classes: number of classes (default: the largest index + 1, or ``len(names)``).
        names: class names for the report (default ``"0"``, ``"1"``...).
        alpha: level at which single classes are named (Bonferroni over the classes seen).

    Returns:
        A :class:`ClassDistribution`; see the module docstring for the formulas and the naming rule.

    Raises:
        InputError: labels not 1-D integer tensors, negative indices, an empty set, an index beyond ``num_classes``,
            ``alpha`` outside ``(0, 1)``.
    """
    real, fake = check_labels(real_labels, "real_labels"), check_labels(fake_labels, "fake_labels")
    if not real.numel() or not fake.numel():
        raise InputError(f"class_distribution: needs labels in both sets, got {real.numel()} and {fake.numel()}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    largest = int(max(real.max(), fake.max())) + 1
    count = num_classes if num_classes is not None else (len(names) if names is not None else largest)
    if largest > count:
        raise InputError(f"class index {largest - 1} is beyond num_classes={count}")
    names = [str(index) for index in range(count)] if names is None else [str(name) for name in names]
    if len(names) != count:
        raise InputError(f"names: {len(names)} names for {count} classes")
    real_counts = torch.bincount(real, minlength=count).double()
    fake_counts = torch.bincount(fake, minlength=count).double()
    n_real, n_fake = float(real.numel()), float(fake.numel())
    total = n_real + n_fake
    column = real_counts + fake_counts
    seen = column > 0
    expected_real, expected_fake = n_real * column / total, n_fake * column / total
    cells = torch.cat(
        [
            ((real_counts - expected_real).square() / expected_real)[seen],
            ((fake_counts - expected_fake).square() / expected_fake)[seen],
        ]
    )
    chi2 = float(cells.sum())
    dof = int(seen.sum()) - 1
    residual = _adjusted_residuals(real_counts, fake_counts)
    classes_seen = max(int(seen.sum()), 1)
    threshold = _normal_quantile(1 - alpha / (2 * classes_seen))
    missing = (fake_counts == 0) & (real_counts > 0) & (residual < -threshold)
    kept = ~missing
    agreeing = residual
    if bool(missing.any()) and float(real_counts[kept].sum()) > 0:
        without = _adjusted_residuals(real_counts * kept, fake_counts * kept)
        agreeing = torch.where(
            torch.sign(without) == torch.sign(residual), torch.minimum(residual.abs(), without.abs()), 0
        )
        agreeing = agreeing * torch.sign(residual)
    real_share, fake_share = real_counts / n_real, fake_counts / n_fake
    shares = []
    for index in range(count):
        z, decisive = float(residual[index]), float(agreeing[index])
        status = MISSING if bool(missing[index]) else OK
        if status == OK and decisive == decisive and abs(decisive) > threshold:
            status = OVER_PRODUCED if decisive > 0 else UNDER_PRODUCED
        shares.append(
            ClassShare(
                names[index],
                index,
                int(real_counts[index]),
                int(fake_counts[index]),
                float(real_share[index]),
                float(fake_share[index]),
                z,
                status,
            )
        )
    small = int((torch.cat([expected_real[seen], expected_fake[seen]]) < 5).sum())
    return ClassDistribution(
        chi2=chi2,
        p_value=chi2_sf(chi2, dof),
        dof=dof,
        total_variation=float((real_share - fake_share).abs().sum() / 2),
        num_real=int(n_real),
        num_fake=int(n_fake),
        classes=tuple(shares),
        alpha=float(alpha),
        threshold=threshold,
        small_expected=small,
    )


def total_variation(real_labels: Tensor, fake_labels: Tensor, num_classes: int | None = None) -> float:
    """Total variation distance ``1/2 sum_c |r_c / R - f_c / F|`` between the two class distributions, in [0, 1]."""
    real, fake = check_labels(real_labels, "real_labels"), check_labels(fake_labels, "fake_labels")
    if not real.numel() or not fake.numel():
        raise InputError("total_variation: needs labels in both sets")
    count = max(num_classes or 0, int(max(real.max(), fake.max())) + 1)
    real_share = torch.bincount(real, minlength=count).double() / real.numel()
    fake_share = torch.bincount(fake, minlength=count).double() / fake.numel()
    return float((real_share - fake_share).abs().sum() / 2)
