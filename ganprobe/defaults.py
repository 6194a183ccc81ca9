"""The one table of defaults that the Python API, the CLI and the pytest plugin all read, so they never drift.

Every metric setting (a constructor argument of a metric class) is declared once, with its one default, in its
metric's declaration (:class:`ganprobe.metrics.declarations.Setting` rows in ``DECLARATION.settings``);
:data:`METRIC_SETTINGS` is the table derived from them (registered metrics included). The classes take their
signature defaults from it, ``evaluate(settings=...)`` / ``Evaluator(settings=...)``, the CLI's repeatable
``--set METRIC.SETTING=VALUE`` and the plugin's ``settings=`` all set the same names. This module imports no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ganprobe.errors import UsageError

if TYPE_CHECKING:
    from ganprobe.metrics.declarations import Setting

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


SEPARABILITY_PROTOCOLS = ("linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans")


def _settings_table() -> dict[str, dict[str, Setting]]:
    from ganprobe.metrics.registry import metric_declarations

    return {name: {entry.name: entry for entry in item.settings} for name, item in metric_declarations().items()}


def __getattr__(name: str) -> Any:
    """``METRIC_SETTINGS`` (metric name -> setting -> :class:`Setting`) derived from the metric declarations, each
    time it is read (a metric registered later is in it); ``Setting`` from :mod:`ganprobe.metrics.declarations`."""
    if name == "METRIC_SETTINGS":
        return _settings_table()
    if name == "Setting":
        from ganprobe.metrics.declarations import Setting

        return Setting
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def setting(metric: str, name: str) -> Any:
    """The default of ``metric``'s setting ``name`` (what the metric class's signature uses), from its declaration.

    A built-in metric's default is read without scanning the ``ganprobe.metrics`` entry points.
    """
    from ganprobe.metrics.registry import builtin_declarations, metric_declarations

    declaration = builtin_declarations().get(metric) or metric_declarations()[metric]
    return declaration.setting(name).default


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
    settings = _settings_table()
    if metric not in settings:
        raise UsageError(f"{where}: unknown metric {metric!r}; choose from {', '.join(settings)}")
    table = settings[metric]
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
        if str(metric) not in _settings_table():
            _lookup(str(metric), "", f"{where}: {metric}")
        checked.setdefault(str(metric), {})
        for key, value in values.items():
            _lookup(str(metric), str(key), f"{where}: {metric}.{key}")
            checked.setdefault(str(metric), {})[str(key)] = value
    return checked


def settings_help() -> str:
    """One line per setting (``kid.subset_size=1000: rows per subset ...``), for ``--help``."""
    lines = []
    for metric, table in _settings_table().items():
        for key, entry in table.items():
            default = ",".join(entry.default) if isinstance(entry.default, tuple) else entry.default
            lines.append(f"  {metric}.{key}={default}: {entry.help}")
    return "\n".join(lines)
