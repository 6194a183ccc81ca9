"""Pure tensor math behind ganprobe's metrics: no I/O, no state.

Import functions from here (``from ganprobe.functional import prdc``); the submodules of the same names stay
importable as ``ganprobe.functional.prdc`` module paths via ``from ganprobe.functional.prdc import ...``.
"""

from ganprobe.functional.bootstrap import Interval, bootstrap_interval, half_sample_values
from ganprobe.functional.frechet import (
    feature_statistics,
    fid_from_features,
    fid_infinity,
    fid_interval,
    frechet_distance,
)
from ganprobe.functional.inception_score import inception_score
from ganprobe.functional.knn_loo import KNNLOOResult, knn_loo_accuracy, knn_loo_details
from ganprobe.functional.memorization import (
    MemorizationResult,
    SuspectedCopy,
    memorization_details,
    memorization_fraction,
    most_suspicious,
)
from ganprobe.functional.mmd import cmmd, kid, kid_interval, mmd2_unbiased, polynomial_kernel
from ganprobe.functional.neighbours import knn
from ganprobe.functional.prdc import (
    PRDCDetails,
    density_coverage,
    kth_neighbour_distances,
    prdc,
    prdc_details,
    prdc_intervals,
    precision_recall,
)
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
    "Interval",
    "KNNLOOResult",
    "MemorizationResult",
    "PRDCDetails",
    "SuspectedCopy",
    "bootstrap_interval",
    "cmmd",
    "density_coverage",
    "feature_statistics",
    "fid_from_features",
    "fid_infinity",
    "fid_interval",
    "first_separable_layer",
    "frechet_distance",
    "half_sample_values",
    "inception_score",
    "kid",
    "kid_interval",
    "knn",
    "knn_loo_accuracy",
    "knn_loo_details",
    "kth_neighbour_distances",
    "layer_separability",
    "linear_probe_accuracy",
    "memorization_details",
    "memorization_fraction",
    "mmd2_unbiased",
    "most_suspicious",
    "pca2_kmeans_accuracy",
    "pca2_svm_accuracy",
    "polynomial_kernel",
    "prdc",
    "prdc_details",
    "prdc_intervals",
    "precision_recall",
    "separability",
]
