"""``EnergyDistance``: the energy distance as a ganprobe metric (a torchmetrics ``Metric``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from energy_metric.declaration import DECLARATION, KEY_ENERGY
from energy_metric.functional import energy_distance
from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.metrics.base import SingleLayerMetric


class EnergyDistance(SingleLayerMetric):
    """The squared energy distance between all real and all fake features (see
    :func:`energy_metric.functional.energy_distance`); lower is better, 0 means one distribution.

    The base class stores every feature row (``cat``-synced under DDP), runs the extractor, and builds the reports
    from :data:`~energy_metric.declaration.DECLARATION`; this class only states its settings and its math.

    Args:
        exponent: the power of the distances, in ``(0, 2)``.
        extractor: a registry name, a ``FeatureExtractor``, or ``None`` to ``update`` with ``(N, D)`` features.
        layer: the extractor layer to compare (default: its pooled features).
        extractor_kwargs, kwargs: passed to the extractor factory / torchmetrics ``Metric``.

    Example:
        >>> import torch
        >>> metric = EnergyDistance(extractor=None)
        >>> metric.update(torch.zeros(1, 3), real=True)
        >>> metric.update(torch.tensor([[3.0, 4.0, 0.0]]), real=False)
        >>> float(metric.compute())
        10.0
    """

    declaration = DECLARATION

    def __init__(
        self,
        exponent: float = DECLARATION.setting("exponent").default,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not 0 < exponent < 2:
            raise ValueError(f"exponent: must be in (0, 2), got {exponent!r}")
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.exponent = exponent

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        return {KEY_ENERGY: energy_distance(real[self.layer], fake[self.layer], self.exponent)}
