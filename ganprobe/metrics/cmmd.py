"""``CMMD``: RBF-kernel MMD² of the CMMD paper (Jayasumana et al. 2024), a torchmetrics metric
(its logic: :mod:`ganprobe.scorers.cmmd`)."""

from __future__ import annotations

from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.scorers.cmmd import CMMDScorer

__all__ = ["CMMD"]


class CMMD(CMMDScorer, SingleLayerMetric):
    r"""MMD² with a Gaussian RBF kernel, computed as the official CMMD code does.

    .. math:: \mathrm{scale} \cdot \big(\overline{K_{rr}} + \overline{K_{ff}} - 2\,\overline{K_{rf}}\big), \qquad
              k(a, b) = \exp\!\big(-\lVert a - b\rVert^2 / (2 \sigma^2)\big)

    with means over all pairs (diagonals included), ``sigma = 10`` and ``scale = 1000`` (Jayasumana et al. 2024,
    "Rethinking FID: Towards a Better Evaluation Metric for Image Generation", CVPR; ``google-research/cmmd``
    ``distance.py``); rows are L2-normalised first (``normalize=True``) as the reference does with its embeddings.
    See :func:`ganprobe.functional.mmd.cmmd`. 0 means identical sets; lower is better; no Gaussian assumption and
    no ``1 / N`` bias of the FID kind.

    Published CMMD numbers use CLIP ViT-L/14@336 embeddings: the ``clip-vitl14-336`` extractor (needs timm,
    ``pip install ganprobe[vit]``) with the reference's preprocessing, used by default (``extractor="auto"``) when
    its weights are on disk; otherwise the default falls back to ``efficientnet-lite0`` with a warning that says so.
    On any other space the value is an RBF-MMD on *those* features (and ``sigma = 10`` was tuned for CLIP).
    :attr:`comparable_with_published` is ``True`` only on ``clip-vitl14-336`` embeddings from a weights file whose
    full SHA-256 is pinned; none is pinned in this release (see :mod:`ganprobe.extractors.vit_l14.weights`).

    Every feature row is stored (``cat``-synced under DDP); the kernel matrices are evaluated in blocks, never held
    whole. ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``) when the metric has an
    extractor, else precomputed ``(N, D)`` features. ``compute()`` returns a scalar float64 tensor ``>= 0``.

    Args:
        sigma: RBF bandwidth.
        scale: multiplier of the result.
        normalize: L2-normalise every feature row before the kernel.
        extractor: ``"auto"`` (default: ``clip-vitl14-336`` when available, see above), a registry name, a
            ``FeatureExtractor``, or ``None`` to ``update`` with precomputed features.
        layer: the extractor layer to compare (default: the extractor's pooled features).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        block_bytes: memory budget of one block of a kernel matrix.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: bad arguments; at ``compute``: a missing class.

    Example:
        >>> import torch
        >>> features = torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
        >>> metric = CMMD(extractor=None)
        >>> metric.update(features, real=True)
        >>> metric.update(features.clone(), real=False)
        >>> float(metric.compute())
        0.0
    """
