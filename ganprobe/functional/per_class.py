"""Per-class FID, KID, precision, recall, density, coverage and 1-NN LOO accuracy, and intra-class FID.

Each class's number is the headline metric computed on that class's reals against that class's fakes, by the same
functional code (:func:`~ganprobe.functional.frechet.fid_from_features`, :func:`~ganprobe.functional.mmd.kid`,
:func:`~ganprobe.functional.prdc.prdc_details`, :func:`~ganprobe.functional.knn_loo.knn_loo_details`), so a class's
precision uses k-NN balls built from *its own* reals (the radius of a real ``3`` is the distance to its k-th
nearest other real ``3``): the manifold of the class-conditional distribution, as a conditional model is judged.

**Cost, and what is taken from the one full distance matrix.** Everything a class needs lies in the within-class
blocks of the pooled distance matrix (its reals x its reals, its fakes x its fakes, its reals x its fakes), and the
per-class calls compute exactly those blocks, each once: about ``sum_c (n_c + m_c)^2 D`` operations, ``1 / K`` of
the headline search for ``K`` balanced classes, and exact (no approximation). The neighbour lists of the headline
search cannot serve instead: a real's k-th nearest *same-class* real is usually not among its k nearest reals of
all classes. What the headline search *does* give exactly, at no extra cost, is the breakdown of the headline
numbers by class (:func:`headline_prdc_by_class`): the fraction of class-``c`` fakes inside the manifold of *all*
reals, and so on. That answers "which class's fakes are off the data manifold" and sums back to the headline; the
per-class metrics answer "how good is the generator at class ``c``".

**Sample size.** A class is held to the same rule as the headline numbers (the metric declarations'
:class:`~ganprobe.metrics.sample_size.SampleRule`, via :func:`headline_requirements`): below the required count per
set a class gets no number, only a reason (``"too few: 42 real, 40 fake; needs 500 per set"``), and a class with no
fakes (or no reals) is reported as such.

Intra-class FID (Miyato & Koyama 2018, "cGANs with Projection Discriminator", ICLR) is the mean of the per-class
FIDs; here over the classes that have a per-class FID (present in both sets and large enough), which are listed
beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.class_distribution import check_labelled_pair, check_labels
from ganprobe.functional.frechet import fid_from_features
from ganprobe.functional.knn_loo import knn_loo_details
from ganprobe.functional.mmd import kid
from ganprobe.functional.prdc import PRDCDetails, prdc_details
from ganprobe.metrics.declarations.density_coverage import DECLARATION as DENSITY_COVERAGE
from ganprobe.metrics.declarations.kid import DECLARATION as KID
from ganprobe.metrics.declarations.knn_loo import DECLARATION as KNN_LOO
from ganprobe.metrics.declarations.precision_recall import DECLARATION as PRECISION_RECALL

# Metric group (the declaration's name) -> the values it reports per class.
GROUPS: dict[str, tuple[str, ...]] = {
    "fid": ("fid",),
    "kid": ("kid",),
    "precision_recall": ("precision", "recall"),
    "density_coverage": ("density", "coverage"),
    "knn_loo": ("knn_loo", "knn_loo_balanced"),
}


@dataclass(frozen=True)
class ClassMetrics:
    """One class's numbers.

    Attributes:
        name: the class name; index: its index.
        num_real, num_fake: the class's samples in each set.
        values: ``{value name: number}`` for each metric computed (``fid``, ``kid``, ``precision``...).
        reasons: ``{metric group: why it has no number}`` for each metric not computed (too few, no fakes...).
    """

    name: str
    index: int
    num_real: int
    num_fake: int
    values: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PerClassResult:
    """Per-class metrics and intra-class FID.

    Attributes:
        classes: one :class:`ClassMetrics` per class (index order).
        required: ``{metric group: samples required per set}`` the classes were held to.
        intra_class_fid: mean per-class FID over ``intra_class_fid_classes`` (``nan`` when there are none).
        intra_class_fid_classes: the classes it averages.
    """

    classes: tuple[ClassMetrics, ...]
    required: dict[str, int]
    intra_class_fid: float
    intra_class_fid_classes: tuple[str, ...]

    def column(self, value: str) -> dict[str, float | None]:
        """``{class name: number or None}`` for one value name (``"fid"``, ``"recall"``...)."""
        return {metrics.name: metrics.values.get(value) for metrics in self.classes}


def headline_requirements(dimension: int, groups: Sequence[str] = tuple(GROUPS)) -> dict[str, int]:
    """Samples per set each metric group needs for a trustworthy number, by the headline metrics' declared rules.

    Args:
        dimension: the feature width (FID needs more samples than dimensions).
        groups: metric groups (keys of :data:`GROUPS`).
    """
    from importlib import import_module  # the declarations are torch-free; read them only when asked

    required = {}
    for group in groups:
        declaration = import_module(f"ganprobe.metrics.declarations.{group}").DECLARATION
        required[group] = declaration.sample_rule.required(dimension, {})
    return required


def _too_few(group: str, n_real: int, n_fake: int, needed: int) -> str | None:
    if n_fake == 0 and n_real == 0:
        return "no samples of this class"
    if n_fake == 0:
        return "no fakes of this class"
    if n_real == 0:
        return "no reals of this class"
    if min(n_real, n_fake) < needed:
        return f"too few: {n_real:,} real, {n_fake:,} fake; {group} needs {needed:,} per set"
    return None


def _class_values(
    group: str,
    real: Tensor,
    fake: Tensor,
    k_pr: int,
    k_dc: int,
    knn_k: int,
    kid_subsets: int,
    kid_size: int,
    seed: int,
) -> dict[str, float]:
    if group == "fid":
        return {"fid": float(fid_from_features(real, fake))}
    if group == "kid":
        size = min(kid_size, real.shape[0], fake.shape[0])
        return {"kid": float(kid(real, fake, num_subsets=kid_subsets, subset_size=size, seed=seed)[0])}
    if group == "precision_recall":
        values = prdc_details(real, fake, k_pr, recall=True).values()
        return {"precision": float(values["precision"]), "recall": float(values["recall"])}
    if group == "density_coverage":
        values = prdc_details(real, fake, k_dc, recall=False).values()
        return {"density": float(values["density"]), "coverage": float(values["coverage"])}
    result = knn_loo_details(real, fake, knn_k, num_permutations=0)
    return {"knn_loo": result.accuracy, "knn_loo_balanced": result.balanced_accuracy}


def _functional_minimum(group: str, k_pr: int, k_dc: int, knn_k: int) -> int:
    """The fewest samples per set the math itself accepts."""
    return {"fid": 2, "kid": 2, "precision_recall": k_pr + 1, "density_coverage": k_dc + 1, "knn_loo": 1}[group]


def per_class_metrics(
    real: Tensor,
    fake: Tensor,
    real_labels: Tensor,
    fake_labels: Tensor,
    names: Sequence[str] | None = None,
    metrics: Sequence[str] = tuple(GROUPS),
    required: Mapping[str, int] | None = None,
    k_precision_recall: int | None = None,
    k_density_coverage: int | None = None,
    knn_k: int | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int | None = None,
    seed: int = 0,
) -> PerClassResult:
    """Each headline metric restricted to each class, and intra-class FID (see the module docstring).

    Args:
        real, fake: ``(N, D)`` and ``(M, D)`` features.
        real_labels, fake_labels: ``(N,)`` and ``(M,)`` class indices on one list of classes.
        names: class names (default ``"0"``, ``"1"``..., as many as the largest index + 1).
        metrics: metric groups to compute, from :data:`GROUPS`.
        required: samples per set each group needs (default: :func:`headline_requirements`); a group missing here
            uses its default. Never below what the math needs (``k + 1`` for the k-NN balls, 2 for a covariance).
        k_precision_recall, k_density_coverage, knn_k: the neighbours (default: the headline metrics' settings).
        kid_subsets, kid_subset_size: KID's subsets (size lowered to the class's smaller set; default: the headline
            KID's subset size).
        seed: seed of KID's subsets.

    Returns:
        A :class:`PerClassResult`.

    Raises:
        InputError: bad features or labels, labels not matching the features' rows, unknown metric groups.
    """
    real_index, fake_index = check_labelled_pair(real, fake, real_labels, fake_labels)
    unknown = [group for group in metrics if group not in GROUPS]
    if unknown:
        raise InputError(f"metrics: unknown {unknown}; choose from {list(GROUPS)}")
    k_pr = PRECISION_RECALL.default("k") if k_precision_recall is None else k_precision_recall
    k_dc = DENSITY_COVERAGE.default("k") if k_density_coverage is None else k_density_coverage
    knn_k = KNN_LOO.default("k") if knn_k is None else knn_k
    kid_size = KID.default("subset_size") if kid_subset_size is None else kid_subset_size
    count = max(int(real_index.max()) + 1, int(fake_index.max()) + 1, len(names) if names is not None else 0)
    names = [str(index) for index in range(count)] if names is None else [str(name) for name in names]
    if len(names) < count:
        raise InputError(f"names: {len(names)} names but class index {count - 1}")
    needed = headline_requirements(real.shape[1], metrics)
    needed.update({group: int(value) for group, value in (required or {}).items() if group in needed})
    needed = {group: max(value, _functional_minimum(group, k_pr, k_dc, knn_k)) for group, value in needed.items()}
    real_rows = real_index.to(real.device)
    fake_rows = fake_index.to(fake.device)
    classes = []
    for index, name in enumerate(names):
        real_c, fake_c = real[real_rows == index], fake[fake_rows == index]
        values: dict[str, float] = {}
        reasons: dict[str, str] = {}
        for group in metrics:
            reason = _too_few(group, real_c.shape[0], fake_c.shape[0], needed[group])
            if reason is not None:
                reasons[group] = reason
                continue
            try:
                values.update(_class_values(group, real_c, fake_c, k_pr, k_dc, knn_k, kid_subsets, kid_size, seed))
            except InputError as exc:
                raise InputError(f"class {name!r}, {group}: {exc}") from None
        classes.append(ClassMetrics(name, index, int(real_c.shape[0]), int(fake_c.shape[0]), values, reasons))
    with_fid = [metrics_c for metrics_c in classes if "fid" in metrics_c.values]
    intra = sum(c.values["fid"] for c in with_fid) / len(with_fid) if with_fid else math.nan
    return PerClassResult(tuple(classes), needed, intra, tuple(c.name for c in with_fid))


def headline_prdc_by_class(
    details: PRDCDetails, real_labels: Tensor, fake_labels: Tensor, names: Sequence[str] | None = None
) -> dict[str, dict[str, float | None]]:
    """The headline PRDC per-sample outcomes averaged within each class (no new search: exact reuse).

    ``precision[c]``: fraction of class-``c`` fakes inside the manifold of all reals; ``density[c]``: their mean
    ball count over ``k``; ``coverage[c]`` and ``recall[c]``: fractions of class-``c`` reals covered / recalled.
    Weighted by the class sizes these average back to the headline values.

    Args:
        details: :func:`~ganprobe.functional.prdc.prdc_details` of all reals and fakes.
        real_labels, fake_labels: class indices of those rows.
        names: class names (default ``"0"``...).

    Returns:
        ``{class name: {"precision", "density", "coverage", "recall": value or None}}`` (``None``: no samples of
        that set in the class, or recall not computed).
    """
    real_index, fake_index = check_labels(real_labels, "real_labels"), check_labels(fake_labels, "fake_labels")
    if real_index.shape[0] != details.real_covered.shape[0] or fake_index.shape[0] != details.fake_balls.shape[0]:
        raise InputError("labels: their lengths differ from the rows behind the PRDC details")
    count = max(int(real_index.max()) + 1, int(fake_index.max()) + 1, len(names) if names is not None else 0)
    names = [str(index) for index in range(count)] if names is None else [str(name) for name in names]
    balls = details.fake_balls.cpu()
    covered = details.real_covered.cpu()
    recalled = details.real_recalled.cpu() if details.real_recalled is not None else None

    def mean(values: Tensor, mask: Tensor) -> float | None:
        return float(values[mask].double().mean()) if bool(mask.any()) else None

    table = {}
    for index, name in enumerate(names):
        fakes, reals = fake_index == index, real_index == index
        density = mean(balls.double(), fakes)
        table[name] = {
            "precision": mean(balls > 0, fakes),
            "density": None if density is None else density / details.k,
            "coverage": mean(covered, reals),
            "recall": mean(recalled, reals) if recalled is not None else None,
        }
    return table
