"""``CMMD``: RBF-kernel MMD² of the CMMD paper (Jayasumana et al. 2024) as a torchmetrics metric."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ganprobe.defaults import setting
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import DEFAULT_EXTRACTOR
from ganprobe.functional.mmd import cmmd
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES
from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.metrics.declarations.cmmd import DECLARATION, KEY_CMMD

# The CMMD paper's feature space; used by default when it can be built here without a download.
CMMD_EXTRACTOR = "clip-vitl14-336"
AUTO = "auto"


def default_cmmd_extractor() -> str:
    """``"clip-vitl14-336"`` when timm is installed and its weights are on disk, else the package default.

    The fallback warns once per metric, plainly, that the number is not in CMMD's space.
    """
    from ganprobe.extractors.vit import CLIP_WEIGHTS, clip_available

    if clip_available():
        return CMMD_EXTRACTOR
    warnings.warn(
        f"CMMD runs on {DEFAULT_EXTRACTOR} features, not on CLIP ViT-L/14@336 (the space of published CMMD): "
        f"install ganprobe[vit] and put {CLIP_WEIGHTS.filename} in $GANPROBE_WEIGHTS_DIR (or pass "
        f"extractor={CMMD_EXTRACTOR!r} to download it)",
        UserWarning,
        stacklevel=3,
    )
    return DEFAULT_EXTRACTOR


class CMMD(SingleLayerMetric):
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
    full SHA-256 is pinned; none is pinned in this release (see :mod:`ganprobe.extractors.vit`).

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

    declaration = DECLARATION

    def __init__(
        self,
        sigma: float = setting("cmmd", "sigma"),
        scale: float = setting("cmmd", "scale"),
        normalize: bool = setting("cmmd", "normalize"),
        extractor: str | FeatureExtractor | None = AUTO,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        **kwargs: Any,
    ) -> None:
        for value, argument in ((sigma, "sigma"), (scale, "scale")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"{argument}: expected a number > 0, got {value!r}")
        if not isinstance(normalize, bool):
            raise InputError(f"normalize: expected True or False, got {normalize!r}")
        if extractor == AUTO:
            extractor = default_cmmd_extractor()
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.sigma = sigma
        self.scale = scale
        self.normalize = normalize
        self.block_bytes = block_bytes

    @property
    def comparable_with_published(self) -> bool:
        """``True`` only on ``clip-vitl14-336`` embeddings from pinned official weights (the reference's setting)."""
        extractor = self.extractor
        return (
            extractor is not None
            and extractor.name == CMMD_EXTRACTOR
            and self.layer == "embedding"
            and getattr(extractor, "published_reference", None) is not None
        )

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        value = cmmd(real[self.layer], fake[self.layer], self.sigma, self.scale, self.normalize, self.block_bytes)
        return {KEY_CMMD: value}

    def compute(self) -> Tensor:
        """The scaled RBF MMD² between all stored real and fake features (scalar float64 tensor)."""
        return self._current_values()[KEY_CMMD]
