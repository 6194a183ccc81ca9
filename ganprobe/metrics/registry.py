"""The metrics the evaluator, the CLI and the plugin can run, and the outputs each declares.

Names, keys, labels and directions are read from the metric classes themselves (``name`` and ``outputs``); this
module only lists where the classes live.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import TYPE_CHECKING

from ganprobe.metrics.outputs import Output

if TYPE_CHECKING:
    from ganprobe.metrics.base import FeatureMetric

# In report order.
_CLASSES = (
    "ganprobe.metrics.fid:FID",
    "ganprobe.metrics.kid:KID",
    "ganprobe.metrics.inception_score:InceptionScore",
    "ganprobe.metrics.prdc:PrecisionRecall",
    "ganprobe.metrics.prdc:DensityCoverage",
    "ganprobe.metrics.cmmd:CMMD",
    "ganprobe.metrics.memorization:Memorization",
    "ganprobe.metrics.knn_loo:KNNLOOAccuracy",
    "ganprobe.metrics.layer_separability:LayerSeparability",
)


@cache
def metric_classes() -> dict[str, type[FeatureMetric]]:
    """``{name: class}`` of every metric the evaluator can run, in report order (``fid``, ``kid``, ...)."""
    classes = {}
    for path in _CLASSES:
        module, name = path.split(":")
        cls = getattr(importlib.import_module(module), name)
        classes[cls.name] = cls
    return classes


def declared_outputs() -> list[tuple[str, Output]]:
    """``(metric name, output)`` for every output of every metric (per-layer outputs as templates)."""
    return [(name, output) for name, cls in metric_classes().items() for output in cls.outputs]


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
