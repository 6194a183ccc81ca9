"""The one table of defaults that the Python API, the CLI and the pytest plugin all read, so they never drift.

:data:`METRIC_SETTINGS` holds every metric setting (a constructor argument of a metric class) with its one default:
the classes take their signature defaults from it, ``evaluate(settings=...)`` / ``Evaluator(settings=...)``, the
CLI's repeatable ``--set METRIC.SETTING=VALUE`` and the plugin's ``settings=`` all set the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ganprobe.errors import UsageError
from ganprobe.extractors.registry import DEFAULT_EXTRACTOR

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


@dataclass(frozen=True)
class Setting:
    """One metric setting: its default, the type a text value is parsed as, and what it does."""

    default: Any
    kind: type
    help: str
    choices: tuple[str, ...] = ()


SEPARABILITY_PROTOCOLS = ("linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans")

# metric name -> setting -> Setting. The metric names are the evaluator's (``--metrics``); the settings are the
# keyword arguments of the metric classes, which read their defaults here.
METRIC_SETTINGS: dict[str, dict[str, Setting]] = {
    "fid": {},
    "kid": {
        "num_subsets": Setting(100, int, "random subsets the KID is averaged over"),
        "subset_size": Setting(1000, int, "rows per subset and set (lowered to the smaller set, with a warning)"),
        "degree": Setting(3, int, "degree of the polynomial kernel"),
        "gamma": Setting(None, float, "kernel scale (default 1/D)"),
        "coef": Setting(1.0, float, "kernel constant"),
    },
    "is": {"splits": Setting(10, int, "parts the fakes are split into (10 as published)")},
    "precision_recall": {"k": Setting(3, int, "the neighbour that sets each ball's radius")},
    "density_coverage": {"k": Setting(5, int, "the neighbour that sets each real ball's radius")},
    "cmmd": {
        "sigma": Setting(10.0, float, "RBF bandwidth"),
        "scale": Setting(1000.0, float, "multiplier of the MMD"),
        "normalize": Setting(True, bool, "L2-normalise the embeddings first"),
    },
    "memorization": {
        "threshold": Setting(
            None, float, "copy ratios below this count as suspicious (default: calibrated for the feature space)"
        ),
        "pixels": Setting(
            True, bool, "also compare the images as grey thumbnails, tolerating a one-pixel shift (needs an extractor)"
        ),
    },
    "knn_loo": {"k": Setting(1, int, "odd number of neighbours that vote")},
    "layer_separability": {
        "protocols": Setting(SEPARABILITY_PROTOCOLS, str, "comma-separated protocols", SEPARABILITY_PROTOCOLS),
        "folds": Setting(5, int, "cross-validation folds of linear_probe"),
        "k": Setting(1, int, "neighbours of the knn_loo protocol"),
    },
}


def setting(metric: str, name: str) -> Any:
    """The default of ``metric``'s setting ``name`` (what the metric class's signature uses)."""
    return METRIC_SETTINGS[metric][name].default


def _parse(text: str, entry: Setting, where: str) -> Any:
    if entry.kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{where}: expected true or false, got {text!r}")
    if entry.choices:
        values = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [value for value in values if value not in entry.choices]
        if not values or unknown:
            raise UsageError(f"{where}: unknown {unknown or 'none given'}; choose from {', '.join(entry.choices)}")
        return values
    if text.strip().lower() == "none" and entry.default is None:
        return None
    try:
        return entry.kind(text)
    except ValueError:
        raise UsageError(
            f"{where}: expected {'an integer' if entry.kind is int else 'a number'}, got {text!r}"
        ) from None


def parse_settings(assignments: Iterable[str], option: str = "--set") -> dict[str, dict[str, Any]]:
    """Parse ``["kid.subset_size=500", ...]`` into ``{"kid": {"subset_size": 500}}`` with each setting's type.

    Raises:
        UsageError: not ``METRIC.SETTING=VALUE``, an unknown metric or setting, or a value of the wrong type.
    """
    parsed: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        name, equals, text = str(assignment).partition("=")
        metric, dot, key = name.strip().partition(".")
        if not equals or not dot:
            raise UsageError(f"{option} {assignment!r}: expected METRIC.SETTING=VALUE, e.g. kid.subset_size=500")
        entry = _lookup(metric, key, f"{option} {assignment!r}")
        parsed.setdefault(metric, {})[key] = _parse(text, entry, f"{option} {name.strip()}")
    return parsed


def _lookup(metric: str, key: str, where: str) -> Setting:
    if metric not in METRIC_SETTINGS:
        raise UsageError(f"{where}: unknown metric {metric!r}; choose from {', '.join(METRIC_SETTINGS)}")
    table = METRIC_SETTINGS[metric]
    if key not in table:
        known = ", ".join(f"{metric}.{name}" for name in table) or "none"
        raise UsageError(f"{where}: {metric} has no setting {key!r}; its settings: {known}")
    return table[key]


def check_settings(settings: Mapping[str, Mapping[str, Any]], where: str = "settings") -> dict[str, dict[str, Any]]:
    """Validate a ``{metric: {setting: value}}`` mapping given in Python (names only; the classes check values)."""
    if not isinstance(settings, Mapping):
        raise UsageError(f"{where}: expected {{metric: {{setting: value}}}}, got {type(settings).__name__}")
    checked: dict[str, dict[str, Any]] = {}
    for metric, values in settings.items():
        if not isinstance(values, Mapping):
            raise UsageError(f"{where}[{metric!r}]: expected a dict of settings, got {type(values).__name__}")
        if str(metric) not in METRIC_SETTINGS:
            _lookup(str(metric), "", f"{where}: {metric}")
        checked.setdefault(str(metric), {})
        for key, value in values.items():
            _lookup(str(metric), str(key), f"{where}: {metric}.{key}")
            checked.setdefault(str(metric), {})[str(key)] = value
    return checked


def settings_help() -> str:
    """One line per setting (``kid.subset_size=1000: rows per subset ...``), for ``--help``."""
    lines = []
    for metric, table in METRIC_SETTINGS.items():
        for key, entry in table.items():
            default = ",".join(entry.default) if isinstance(entry.default, tuple) else entry.default
            lines.append(f"  {metric}.{key}={default}: {entry.help}")
    return "\n".join(lines)
