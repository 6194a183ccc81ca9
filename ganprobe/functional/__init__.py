"""Pure tensor math behind ganprobe's metrics: no I/O, no state."""

from ganprobe.functional.knn_loo import KNNLOOResult, knn_loo_accuracy, knn_loo_details
from ganprobe.functional.neighbours import knn
from ganprobe.functional.separability import (
    PROTOCOLS,
    first_separable_layer,
    layer_separability,
    linear_probe_accuracy,
    pca2_kmeans_accuracy,
    pca2_svm_accuracy,
    separability,
)

__all__ = [
    "PROTOCOLS",
    "KNNLOOResult",
    "first_separable_layer",
    "knn",
    "knn_loo_accuracy",
    "knn_loo_details",
    "layer_separability",
    "linear_probe_accuracy",
    "pca2_kmeans_accuracy",
    "pca2_svm_accuracy",
    "separability",
]
