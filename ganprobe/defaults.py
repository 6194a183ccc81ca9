"""The one table of run-wide defaults that the Python API, the CLI and the pytest plugin all read, so they never
drift: the extractor, batch size, seed, resamples, gate allowances, report sizes. Constants only; torch-free, and
it imports nothing of ganprobe.

A metric's own settings (its class's keyword arguments, ``--set METRIC.SETTING=VALUE``) are not here: each is
declared once, with its default, in its metric's declaration (:class:`ganprobe.metrics.declarations.Setting`), and
:mod:`ganprobe.metrics.settings` reads them across metrics.
"""

from __future__ import annotations

from typing import Any

# The extractor every metric uses unless told otherwise: its weights install with ganprobe (offline).
DEFAULT_EXTRACTOR = "efficientnet-lite0"
EXTRACTOR = DEFAULT_EXTRACTOR
BATCH_SIZE = 64
SEED = 0
PERMUTATIONS = 1000
# Random halves behind the precision/recall/density/coverage intervals (each a k-NN search on half the samples).
BOOTSTRAP = 20
# Random halves per output for the standard errors that regression gates allow for (0: no noise estimate).
NOISE_RESAMPLES = 10
# A regression gate fails when an output got worse by more than this many combined standard errors ...
REGRESSION_SIGMAS = 3.0
# ... and by more than this percentage of the baseline's value (the larger allowance wins).
MAX_REGRESSION_PERCENT = 10.0
# Accuracy from which a layer counts as "separable" in reports (first_separable_layer).
SEPARABLE_THRESHOLD = 0.75
DEVICE = "cpu"
# Samples per set in each t-SNE plot of the HTML report (t-SNE costs ~2-5 CPU-seconds per layer at this size).
TSNE_POINTS = 300
# Least realistic fakes and least covered reals a run with class labels lists (--worst).
WORST = 10


SEPARABILITY_PROTOCOLS = ("linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans")


# Names that lived here after ganprobe 0.1.0: they moved with the settings machinery to ganprobe.metrics.settings
# (the declarations are a higher layer than this table of constants, so nothing here imports them).
_MOVED = ("METRIC_SETTINGS", "Setting", "setting", "parse_settings", "check_settings", "settings_help")


def __getattr__(name: str) -> Any:
    """A one-line error for a settings name that moved to :mod:`ganprobe.metrics.settings`."""
    if name in _MOVED:
        raise AttributeError(f"ganprobe.defaults.{name} moved: import it from ganprobe.metrics.settings")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
