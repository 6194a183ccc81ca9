"""The numbers a run's per-class diagnostics report, declared once (torch-free): keys, labels, directions, bounds.

A run given class labels (``--classes``, ``classes=``) reports, besides the headline metrics:

* run-wide numbers of the class distribution and intra-class FID (:data:`RUN_OUTPUTS`: ``missing_classes``,
  ``over_produced_classes``, ``under_produced_classes``, ``class_total_variation``, ``class_p_value``,
  ``intra_class_fid``), and for conditional sources (labels from subfolders, a file or tensors, not ``predicted``)
  the Classification Accuracy Score ``cas`` beside ``cas_real``;
* each headline value restricted to one class, keyed ``VALUE[CLASS]`` (``recall[7]``): the headline output's
  declaration (direction, bounds) with a per-class key and label (:func:`find_per_class_output`). The values with a
  per-class twin are :data:`CLASS_VALUES`.

Gates (``--fail-if "recall[7]<0.5"``, ``--fail-if "missing_classes>0"``), the JSON report and the terminal read
these declarations. They are no metric: none of them is computed without class labels. Their standard errors (what
regression gates allow for) come from :meth:`PerClassReport.standard_errors
<ganprobe.run.per_class.PerClassReport.standard_errors>`, computed on request.
"""

from __future__ import annotations

import dataclasses
import re

from ganprobe.metrics.declarations.density_coverage import KEY_COVERAGE, KEY_DENSITY
from ganprobe.metrics.declarations.fid import KEY_FID
from ganprobe.metrics.declarations.kid import KEY_KID
from ganprobe.metrics.declarations.knn_loo import KEY_KNN_LOO
from ganprobe.metrics.declarations.precision_recall import KEY_PRECISION, KEY_RECALL
from ganprobe.metrics.records import HIGHER, LOWER, NO_DIRECTION, Output

# The "metric" that reports these outputs (a gate's source), and the JSON report's section.
PER_CLASS_SOURCE = "per_class"

KEY_MISSING = "missing_classes"
KEY_OVER_PRODUCED = "over_produced_classes"
KEY_UNDER_PRODUCED = "under_produced_classes"
KEY_TOTAL_VARIATION = "class_total_variation"
KEY_P_VALUE = "class_p_value"
KEY_INTRA_CLASS_FID = "intra_class_fid"
KEY_CAS = "cas"
KEY_CAS_REAL = "cas_real"

RUN_OUTPUTS: tuple[Output, ...] = (
    Output(KEY_MISSING, "missing classes", LOWER, "classes with reals but no fakes, named by the test", "none", 0.0),
    Output(KEY_OVER_PRODUCED, "over-produced classes", LOWER, "classes with significantly too many fakes", "none", 0.0),
    Output(KEY_UNDER_PRODUCED, "under-produced classes", LOWER, "classes with significantly too few fakes", "none", 0),
    Output(
        KEY_TOTAL_VARIATION,
        "class total variation",
        LOWER,
        "half the summed differences of the class shares of fakes and reals (standard error for regression gates: a "
        "parametric bootstrap over the class counts)",
        "none",
        0.0,
        1.0,
    ),
    Output(
        KEY_P_VALUE,
        "class chi-square p-value",
        NO_DIRECTION,
        "chi-square test of equal class distributions (small: they differ)",
        "none",
        0.0,
        1.0,
    ),
    Output(
        KEY_INTRA_CLASS_FID,
        "intra-class FID",
        LOWER,
        "mean per-class FID over the classes large enough for one (Miyato & Koyama 2018)",
        "half_sample",
        0.0,
    ),
    Output(
        KEY_CAS,
        "Classification Accuracy Score",
        HIGHER,
        "accuracy on held-out reals of a linear probe trained on the fakes and their conditioning labels "
        "(Ravuri & Vinyals 2019); compare with cas_real (binomial error over the held-out reals)",
        "binomial_real",
        0.0,
        1.0,
    ),
    Output(
        KEY_CAS_REAL,
        "CAS of the same probe trained on reals",
        NO_DIRECTION,
        "accuracy on the same held-out reals of the probe trained on the other reals: what CAS would be for fakes "
        "as good as reals",
        "none",
        0.0,
        1.0,
    ),
)
_BY_KEY = {output.key: output for output in RUN_OUTPUTS}

# Headline output keys that have a per-class value (the functional layer's per_class_metrics computes them).
CLASS_VALUES: tuple[str, ...] = (KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL, KEY_DENSITY, KEY_COVERAGE, KEY_KNN_LOO)

_CLASS_KEY = re.compile(r"^(?P<value>[A-Za-z_][\w]*)\[(?P<name>[^\[\]]+)\]$")


def class_key(value: str, name: str) -> str:
    """The key of ``value`` for class ``name``: ``recall[7]``."""
    return f"{value}[{name}]"


def split_class_key(key: str) -> tuple[str, str] | None:
    """``(value, class name)`` of a per-class key (``recall[7]`` gives value recall, class 7), else ``None``."""
    match = _CLASS_KEY.match(key)
    return (match["value"], match["name"]) if match else None


def find_per_class_output(key: str) -> tuple[str, Output] | None:
    """``(metric, output)`` declaring ``key``: a run-wide per-class output (metric :data:`PER_CLASS_SOURCE`), or a
    per-class value ``VALUE[CLASS]`` of a headline output of :data:`CLASS_VALUES` (metric: the headline metric that
    must be computed for it, e.g. ``precision_recall`` for ``recall[7]``); ``None`` for any other key."""
    if key in _BY_KEY:
        return PER_CLASS_SOURCE, _BY_KEY[key]
    parts = split_class_key(key)
    if parts is None or parts[0] not in CLASS_VALUES:
        return None
    from ganprobe.metrics.registry import find_output  # the headline declarations (torch-free)

    found = find_output(parts[0])
    if found is None:
        return None
    metric, output = found
    label = f"{output.label.replace('{space}', 'features')} of class {parts[1]}"
    return metric, dataclasses.replace(output, key=key, label=label, published_label=None, in_compute=False)


def per_class_keys_help() -> str:
    """The gate-able per-class keys in words, for help texts."""
    keys = ", ".join(output.key for output in RUN_OUTPUTS)
    return f"{keys}, or VALUE[CLASS] with VALUE one of {', '.join(CLASS_VALUES)}"
