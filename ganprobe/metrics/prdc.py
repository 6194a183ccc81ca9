"""``PrecisionRecall`` and ``DensityCoverage``: k-NN manifold fidelity and diversity, torchmetrics metrics
(their logic: :mod:`ganprobe.scorers.prdc`)."""

from __future__ import annotations

from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.scorers.prdc import DensityCoverageScorer, PrecisionRecallScorer

__all__ = ["DensityCoverage", "PrecisionRecall"]


class PrecisionRecall(PrecisionRecallScorer, SingleLayerMetric):
    r"""Improved precision and recall (Kynkaanniemi et al. 2019) of generated samples in a feature space.

    Every real sample gets a ball reaching its ``k``-th nearest other real sample, every fake one a ball reaching
    its ``k``-th nearest other fake sample (Euclidean):

    .. math::

        P = \frac{1}{M}\sum_j 1[\exists i: d(f_j, r_i) \le \mathrm{rad}_k(r_i)], \qquad
        R = \frac{1}{N}\sum_i 1[\exists j: d(r_i, f_j) \le \mathrm{rad}_k(f_j)]

    Precision is the fraction of fakes that look real (fidelity); recall the fraction of reals the generator can
    produce (diversity). Both in ``[0, 1]``, higher is better. Balls are closed (``<=``); the ``prdc`` package uses
    open ones, which only differs on exact ties (see :mod:`ganprobe.functional.prdc`). Exact, in bounded memory.

    ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``) when the metric has an
    extractor, else precomputed ``(N, D)`` features. ``compute()`` returns ``{"precision": p, "recall": r}`` (float64
    0-d tensors); :meth:`compute_interval` adds confidence intervals.

    Per class: ``update(x, real, labels=y)`` with ``y`` an integer ``(N,)`` tensor of class indices, one per row (in
    every update or in none), keeps the labels as ``cat``-synced states; :meth:`compute_per_class` then returns
    this metric on each class's reals against its fakes, one record per class with its counts and values, or a
    reason below the headline sample-size rule (see :mod:`ganprobe.scorers.per_class`);
    :meth:`compute_per_class_dict` flattens them for ``self.log_dict`` (``val/<value>/<class>``).

    Args:
        k: the neighbour that sets each ball's radius (the paper's default 3); both sets need more than ``k``.
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None`` to
            ``update`` with precomputed features.
        layer: the extractor layer to embed with (default: the extractor's pooled features).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        block_bytes: memory budget of one block of the distance matrix.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: a bad ``k``; at ``update``: wrong shapes, dtypes, widths; at ``compute``: a missing class,
            NaN/Inf features, ``k`` not below both set sizes.

    Example:
        >>> import torch
        >>> metric = PrecisionRecall(extractor=None)
        >>> metric.update(torch.randn(100, 16), real=True)
        >>> metric.update(torch.randn(100, 16) + 50, real=False)
        >>> {key: float(value) for key, value in metric.compute().items()}
        {'precision': 0.0, 'recall': 0.0}
    """


class DensityCoverage(DensityCoverageScorer, SingleLayerMetric):
    r"""Density and coverage (Naeem et al. 2020) of generated samples in a feature space.

    Every real sample gets a ball reaching its ``k``-th nearest other real sample (Euclidean):

    .. math::

        \mathrm{density} = \frac{1}{kM}\sum_j\sum_i 1[d(f_j, r_i) \le \mathrm{rad}_k(r_i)], \qquad
        \mathrm{coverage} = \frac{1}{N}\sum_i 1[\min_j d(r_i, f_j) \le \mathrm{rad}_k(r_i)]

    Density (fidelity) is about 1 when fakes follow the real distribution, below 1 when they stray from it, above
    1 when they crowd dense real regions; unlike precision it is not fooled by real outliers. Coverage
    (diversity, in ``[0, 1]``) is the fraction of reals with a fake nearby; unlike recall it is not inflated by
    fake outliers. Higher is better for both (density beyond about 1 is no longer an improvement). Balls are
    closed (``<=``): with ``fake == real`` density is ``(k + 1) / k`` (see :mod:`ganprobe.functional.prdc`).

    ``update(x, real)``: as in :class:`PrecisionRecall`. ``compute()`` returns ``{"density": d, "coverage": c}``
    (float64 0-d tensors); :meth:`compute_interval` adds confidence intervals.

    Per class: ``update(x, real, labels=y)`` with ``y`` an integer ``(N,)`` tensor of class indices, one per row (in
    every update or in none), keeps the labels as ``cat``-synced states; :meth:`compute_per_class` then returns
    this metric on each class's reals against its fakes, one record per class with its counts and values, or a
    reason below the headline sample-size rule (see :mod:`ganprobe.scorers.per_class`);
    :meth:`compute_per_class_dict` flattens them for ``self.log_dict`` (``val/<value>/<class>``).

    Args:
        k: the neighbour that sets each real ball's radius (the paper's default 5); needs more than ``k`` reals.
        extractor, layer, extractor_kwargs, block_bytes, kwargs: as in :class:`PrecisionRecall`.

    Raises:
        InputError: as in :class:`PrecisionRecall`.

    Example:
        >>> import torch
        >>> metric = DensityCoverage(extractor=None)
        >>> real = torch.randn(100, 16)
        >>> metric.update(real, real=True)
        >>> metric.update(real + 50, real=False)
        >>> {key: float(value) for key, value in metric.compute().items()}
        {'density': 0.0, 'coverage': 0.0}
    """
