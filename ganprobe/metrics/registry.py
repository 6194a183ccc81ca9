"""The metrics the evaluator, the CLI and the plugin can run, and the outputs each declares.

Names, keys, labels and directions are read from the torch-free declarations (:mod:`ganprobe.metrics.declarations`,
one module per metric), so help texts, gates and the report schema never import a metric class; this module only
lists the declarations in report order. :func:`metric_classes` imports the torchmetrics classes when it is first
called, :func:`scorer_classes` the scorers (the same math without torchmetrics: what the evaluator runs).
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import TYPE_CHECKING

from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.outputs import Output

if TYPE_CHECKING:
    from ganprobe.metrics.base import FeatureMetric
    from ganprobe.scorers.base import FeatureScorer

# The modules of ganprobe.metrics.declarations, in report order.
_DECLARATIONS = (
    "fid",
    "kid",
    "inception_score",
    "precision_recall",
    "density_coverage",
    "cmmd",
    "memorization",
    "knn_loo",
    "layer_separability",
)


@cache
def metric_declarations() -> dict[str, MetricDeclaration]:
    """``{name: declaration}`` of every metric the evaluator can run, in report order (imports no torch)."""
    declarations = (
        importlib.import_module(f"ganprobe.metrics.declarations.{module}").DECLARATION for module in _DECLARATIONS
    )
    return {declaration.name: declaration for declaration in declarations}


def metric_names() -> list[str]:
    """The metric names in report order (``fid``, ``kid``, ..., ``layer_separability``), without importing torch."""
    return list(metric_declarations())


def _import(path: str) -> type:
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)


@cache
def metric_classes() -> dict[str, type[FeatureMetric]]:
    """``{name: class}`` of every metric's torchmetrics class, in report order (imports torch and torchmetrics)."""
    return {name: _import(declaration.metric_class) for name, declaration in metric_declarations().items()}


@cache
def scorer_classes() -> dict[str, type[FeatureScorer]]:
    """``{name: class}`` the evaluator instantiates where no state needs syncing, in report order: each metric's
    scorer on plain states (:func:`ganprobe.scorers.plain.standalone`; no torchmetrics import), or its torchmetrics
    class when its declaration names no scorer. Same arguments, values and reports as :func:`metric_classes`."""
    from ganprobe.scorers.plain import standalone

    return {
        name: standalone(_import(declaration.scorer_class))
        if declaration.scorer_class
        else _import(declaration.metric_class)
        for name, declaration in metric_declarations().items()
    }


def declared_outputs() -> list[tuple[str, Output]]:
    """``(metric name, output)`` for every output of every metric (per-layer outputs as templates)."""
    return [(name, output) for name, declaration in metric_declarations().items() for output in declaration.outputs]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{layer\}|\{protocol\})", template)
    regex = "".join(
        {"{layer}": "(?P<layer>.+)", "{protocol}": r"(?P<protocol>[^.]+)"}.get(part, re.escape(part)) for part in parts
    )
    return re.compile(f"^{regex}$")


def find_output(key: str) -> tuple[str, Output] | None:
    """The metric and declaration that report ``key`` (per-layer keys match their template), or ``None``."""
    for name, output in declared_outputs():
        if output.is_template:
            match = _pattern(output.key).match(key)
            if match:
                return name, output.concrete(match["layer"], match["protocol"])
        elif output.key == key:
            return name, output
    return None


def output_keys_help() -> str:
    """The gate-able keys in words, for help texts: ``fid, fid_infinity, kid, ... or separability.LAYER.PROTOCOL``."""
    plain = [output.key for _, output in declared_outputs() if not output.is_template]
    templates = [
        output.key.replace("{layer}", "LAYER").replace("{protocol}", "PROTOCOL")
        for _, output in declared_outputs()
        if output.is_template
    ]
    return ", ".join(plain) + (" or " + ", ".join(templates) if templates else "")
