"""torchmetrics metrics of ganprobe, each thin over :mod:`ganprobe.functional`.

The classes are loaded lazily (PEP 562), so torch-free modules of this package (:mod:`ganprobe.metrics.records`,
:mod:`ganprobe.metrics.declarations`, :mod:`ganprobe.metrics.registry`) import without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganprobe.utils.lazy_exports import lazy_attributes

_EXPORTS = {
    "CMMD": "ganprobe.metrics.cmmd",
    "FID": "ganprobe.metrics.fid",
    "KID": "ganprobe.metrics.kid",
    "DensityCoverage": "ganprobe.metrics.prdc",
    "FeatureMetric": "ganprobe.metrics.base",
    "InceptionScore": "ganprobe.metrics.inception_score",
    "KNNLOOAccuracy": "ganprobe.metrics.knn_loo",
    "LayerSeparability": "ganprobe.metrics.layer_separability",
    "Memorization": "ganprobe.metrics.memorization",
    "PrecisionRecall": "ganprobe.metrics.prdc",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ganprobe.metrics.base import FeatureMetric  # noqa: F401
    from ganprobe.metrics.cmmd import CMMD  # noqa: F401
    from ganprobe.metrics.fid import FID  # noqa: F401
    from ganprobe.metrics.inception_score import InceptionScore  # noqa: F401
    from ganprobe.metrics.kid import KID  # noqa: F401
    from ganprobe.metrics.knn_loo import KNNLOOAccuracy  # noqa: F401
    from ganprobe.metrics.layer_separability import LayerSeparability  # noqa: F401
    from ganprobe.metrics.memorization import Memorization  # noqa: F401
    from ganprobe.metrics.prdc import DensityCoverage, PrecisionRecall  # noqa: F401


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals(), __all__)
