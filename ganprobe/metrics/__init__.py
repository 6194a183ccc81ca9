"""torchmetrics metrics of ganprobe, each thin over :mod:`ganprobe.functional`."""

from ganprobe.metrics.base import FeatureMetric
from ganprobe.metrics.knn_loo import KNNLOOAccuracy
from ganprobe.metrics.layer_separability import LayerSeparability

__all__ = ["FeatureMetric", "KNNLOOAccuracy", "LayerSeparability"]
