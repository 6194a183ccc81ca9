"""``KID``: Kernel Inception Distance (unbiased polynomial-kernel MMD² over random subsets) as a torchmetrics metric."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import DEFAULT_EXTRACTOR
from ganprobe.functional.mmd import DEFAULT_KERNEL_BYTES, check_kid_arguments, kid
from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.metrics.fid import PUBLISHED_LAYER, features_label, official_inception


class KID(SingleLayerMetric):
    r"""Kernel Inception Distance: unbiased MMD² with a cubic polynomial kernel, averaged over random subsets.

    .. math:: k(x, y) = (\gamma\, x^\top y + c)^d, \qquad
              \mathrm{MMD}^2_u = \frac{\sum_{i \ne j} k(r_i, r_j)}{m(m-1)} + \frac{\sum_{i \ne j} k(f_i, f_j)}{m(m-1)}
              - \frac{2}{m^2} \sum_{i, j} k(r_i, f_j)

    with ``gamma = 1 / D``, ``c = 1``, ``d = 3`` (Bińkowski et al. 2018, "Demystifying MMD GANs", ICLR). Each of
    ``num_subsets`` subsets draws ``subset_size`` real and fake rows without replacement; ``compute()`` returns the
    mean and the population standard deviation over subsets, like torchmetrics' ``KernelInceptionDistance`` (see
    :func:`ganprobe.functional.mmd.kid`, which computes the full kernel matrices once when that is cheaper).
    0 means indistinguishable, lower is better; the estimator is unbiased, so the mean can be slightly negative.
    Only ``extractor="inception-fid"`` with the ``pool`` layer gives numbers comparable with published KIDs
    (:attr:`comparable_with_published`).

    Every feature row is stored (``cat``-synced under DDP). ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]``
    or float ``[0, 1]``) when the metric has an extractor, else precomputed ``(N, D)`` features.

    Args:
        num_subsets: number of random subsets (>= 1).
        subset_size: rows drawn per subset from each class; must not exceed either class's sample count.
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
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: bad arguments; at ``compute``: a missing class, or ``subset_size`` above a class's count.

    Example:
        >>> import torch
        >>> generator = torch.Generator().manual_seed(0)
        >>> metric = KID(subset_size=50, num_subsets=10, extractor=None)
        >>> metric.update(torch.randn(100, 8, generator=generator), real=True)
        >>> metric.update(torch.randn(100, 8, generator=generator) + 2, real=False)
        >>> mean, std = metric.compute()
        >>> bool(mean > 5 * std)
        True
    """

    higher_is_better = False

    def __init__(
        self,
        num_subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        seed: int = 0,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        max_kernel_bytes: int = DEFAULT_KERNEL_BYTES,
        **kwargs: Any,
    ) -> None:
        check_kid_arguments(num_subsets, subset_size, degree, gamma, coef)
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.num_subsets = num_subsets
        self.subset_size = subset_size
        self.degree = degree
        self.gamma = gamma
        self.coef = coef
        self.seed = seed
        self.max_kernel_bytes = max_kernel_bytes

    @property
    def comparable_with_published(self) -> bool:
        """``True`` only on ``inception-fid`` ``pool`` features: the setting of published KID numbers."""
        return official_inception(self) and self.layer == PUBLISHED_LAYER

    @property
    def label(self) -> str:
        """``"KID"`` when comparable with published numbers, else e.g. ``"KD on resnet18 features"``."""
        return "KID" if self.comparable_with_published else f"KD on {features_label(self, self.layer)} features"

    def compute(self) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` of the unbiased MMD² over the subsets (float64 scalar tensors)."""
        real, fake = self.stored_features()
        return kid(
            real[self.layer],
            fake[self.layer],
            self.num_subsets,
            self.subset_size,
            self.degree,
            self.gamma,
            self.coef,
            self.seed,
            self.max_kernel_bytes,
        )
