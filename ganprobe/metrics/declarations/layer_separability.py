"""Layer separability's declaration (torch-free): one real-vs-fake accuracy per layer and protocol."""

from __future__ import annotations

from ganprobe.defaults import SEPARABILITY_PROTOCOLS
from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import Output, closest_to
from ganprobe.metrics.sample_size import SampleRule

# Every per-layer key starts with this: ``separability.<layer>.<protocol>``.
SEPARABILITY_PREFIX = "separability."

DECLARATION = MetricDeclaration(
    name="layer_separability",
    metric_class="ganprobe.metrics.layer_separability:LayerSeparability",
    report_order=90,
    scorer_class="ganprobe.scorers.layer_separability:LayerSeparabilityScorer",
    title="layer separability",
    sample_rule=SampleRule(
        min_per_set=50, why="held-out probe accuracies over fewer samples have standard errors above 0.05"
    ),
    verdict_rank=20,
    seeded=True,
    settings=(
        Setting("protocols", SEPARABILITY_PROTOCOLS, str, "comma-separated protocols", SEPARABILITY_PROTOCOLS),
        Setting("folds", 5, int, "cross-validation folds of linear_probe"),
        Setting("k", 1, int, "neighbours of the knn_loo protocol"),
    ),
    outputs=(
        Output(
            SEPARABILITY_PREFIX + "{layer}.{protocol}",
            "{protocol} accuracy at {layer}",
            closest_to(0.5),
            "real-vs-fake accuracy of the {protocol} protocol at layer {layer} (0.5 = indistinguishable)",
            "binomial_both",
            0.0,
            1.0,
        ),
    ),
)
