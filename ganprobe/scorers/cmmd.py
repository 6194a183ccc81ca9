"""``CMMD``: RBF-kernel MMD² of the CMMD paper (Jayasumana et al. 2024); the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.functional.mmd import cmmd
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES
from ganprobe.metrics.declarations.cmmd import DECLARATION, KEY_CMMD
from ganprobe.scorers.base import SingleLayerScorer

# The CMMD paper's feature space; used by default when it can be built here without a download.
CMMD_EXTRACTOR = "clip-vitl14-336"
AUTO = "auto"


def default_cmmd_extractor() -> str:
    """``"clip-vitl14-336"`` when timm is installed and its weights are on disk, else the package default.

    The fallback warns once per metric, plainly, that the number is not in CMMD's space.
    """
    from ganprobe.extractors.vit_l14.weights import CLIP_WEIGHTS, clip_available

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


class CMMDScorer(SingleLayerScorer):
    """The logic of :class:`ganprobe.metrics.CMMD` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        sigma: float = DECLARATION.default("sigma"),
        scale: float = DECLARATION.default("scale"),
        normalize: bool = DECLARATION.default("normalize"),
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
