"""torchmetrics metrics of ganprobe, each thin over :mod:`ganprobe.functional`."""

from ganprobe.metrics.base import FeatureMetric
from ganprobe.metrics.cmmd import CMMD
from ganprobe.metrics.fid import FID
from ganprobe.metrics.inception_score import InceptionScore
from ganprobe.metrics.kid import KID
from ganprobe.metrics.knn_loo import KNNLOOAccuracy
from ganprobe.metrics.layer_separability import LayerSeparability
from ganprobe.metrics.memorization import Memorization
from ganprobe.metrics.prdc import DensityCoverage, PrecisionRecall

__all__ = [
    "CMMD",
    "FID",
    "KID",
    "DensityCoverage",
    "FeatureMetric",
    "InceptionScore",
    "KNNLOOAccuracy",
    "LayerSeparability",
    "Memorization",
    "PrecisionRecall",
]
