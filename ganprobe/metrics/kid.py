"""``KID``: Kernel Inception Distance, a torchmetrics metric (its logic: :mod:`ganprobe.scorers.kid`)."""

from __future__ import annotations

from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.scorers.kid import KIDScorer

__all__ = ["KID"]


class KID(KIDScorer, SingleLayerMetric):
    r"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel, averaged over random subsets.

    .. math:: k(x, y) = (\gamma\, x^\top y + c)^d, \qquad
              \mathrm{MMD}^2_u = \frac{\sum_{i \ne j} k(r_i, r_j)}{m(m-1)} + \frac{\sum_{i \ne j} k(f_i, f_j)}{m(m-1)}
              - \frac{2}{m^2} \sum_{i, j} k(r_i, f_j)

    with ``gamma = 1 / D``, ``c = 1``, ``d = 3`` (Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR). Each of
    ``num_subsets`` subsets draws ``subset_size`` real and fake rows without replacement; ``compute()`` returns the
    mean (``kid``) and the population standard deviation over subsets (``kid_std``), like torchmetrics'
    ``KernelInceptionDistance`` (see :func:`ganprobe.functional.mmd.kid`, which computes the full kernel matrices
    once when that is cheaper). When a set has fewer rows than ``subset_size``, the subsets shrink to the smaller
    set's size with a ``UserWarning`` (``shrink_subsets=True``, the default) or ``compute()`` raises
    (``shrink_subsets=False``, torchmetrics' behaviour); every path (standalone, collection, evaluator) does the same.
    0 means indistinguishable, lower is better; the estimator is unbiased, so the mean can be slightly negative.
    Only ``extractor="inception-fid"`` with the ``pool`` layer gives numbers comparable with published KIDs
    (:attr:`comparable_with_published`).

    Every feature row is stored (``cat``-synced under DDP). ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]``
    or float ``[0, 1]``) when the metric has an extractor, else precomputed ``(N, D)`` features.

    Per class: ``update(x, real, labels=y)`` with ``y`` an integer ``(N,)`` tensor of class indices, one per row (in
    every update or in none), keeps the labels as ``cat``-synced states; :meth:`compute_per_class` then returns
    this metric on each class's reals against its fakes, one record per class with its counts and values, or a
    reason below the headline sample-size rule (see :mod:`ganprobe.scorers.per_class`);
    :meth:`compute_per_class_dict` flattens them for ``self.log_dict`` (``val/<value>/<class>``).
    Per-class KID uses the default kernel.

    Args:
        num_subsets: number of random subsets (>= 1).
        subset_size: rows drawn per subset from each class (see ``shrink_subsets``).
        degree: polynomial degree ``d``.
        gamma: dot-product scale; ``None`` means ``1 / D``.
        coef: additive constant ``c`` (>= 0).
        seed: seed of the subset draws (CPU generator: identical on every device; ``torch.manual_seed(seed)``
            makes torchmetrics draw the same subsets).
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None`` to
            ``update`` with precomputed features.
        layer: the extractor layer to compare (default: the extractor's pooled features).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        max_kernel_bytes: memory cap of one full kernel matrix on the fast path (0: kernels per subset).
        shrink_subsets: lower ``subset_size`` to the smaller set's size, with a warning, instead of raising.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: bad arguments; at ``compute``: a missing class, or (``shrink_subsets=False``) ``subset_size``
            above a class's count.

    Example:
        >>> import torch
        >>> generator = torch.Generator().manual_seed(0)
        >>> metric = KID(subset_size=50, num_subsets=10, extractor=None)
        >>> metric.update(torch.randn(100, 8, generator=generator), real=True)
        >>> metric.update(torch.randn(100, 8, generator=generator) + 2, real=False)
        >>> result = metric.compute()
        >>> sorted(result)
        ['kid', 'kid_std']
        >>> bool(result["kid"] > 5 * result["kid_std"])
        True
    """
