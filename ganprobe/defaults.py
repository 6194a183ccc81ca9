"""The one table of defaults that the Python API and the CLI both read, so they never drift."""

from __future__ import annotations

from ganprobe.extractors.registry import DEFAULT_EXTRACTOR

EXTRACTOR = DEFAULT_EXTRACTOR
BATCH_SIZE = 64
SEED = 0
KNN_K = 1
PERMUTATIONS = 1000
FOLDS = 5
BOOTSTRAP = 100
# Accuracy from which a layer counts as "separable" in reports (first_separable_layer).
SEPARABLE_THRESHOLD = 0.75
# Allowed worsening against a --baseline report, in percent.
MAX_REGRESSION_PERCENT = 10.0
DEVICE = "cpu"
# Samples per set in each t-SNE plot of the HTML report (t-SNE costs ~2-5 CPU-seconds per layer at this size).
TSNE_POINTS = 300
