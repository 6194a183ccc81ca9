"""Precision and recall's declaration (torch-free): fidelity and diversity as k-NN manifold fractions."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import HIGHER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_PRECISION = "precision"
KEY_RECALL = "recall"

DECLARATION = MetricDeclaration(
    name="precision_recall",
    metric_class="ganprobe.metrics.prdc:PrecisionRecall",
    report_order=40,
    scorer_class="ganprobe.scorers.prdc:PrecisionRecallScorer",
    title="precision/recall",
    sample_rule=SampleRule(
        min_per_set=500,
        why="k-NN balls of fewer samples are too coarse in hundreds of dimensions: precision and recall can be far off "
        "either way",
    ),
    verdict_rank=30,
    settings=(Setting("k", 3, int, "the neighbour that sets each ball's radius"),),
    outputs=(
        Output(
            KEY_PRECISION,
            "precision",
            HIGHER,
            "fraction of fakes inside the real manifold (fidelity)",
            "binomial_fake",
            0.0,
            1.0,
        ),
        Output(
            KEY_RECALL,
            "recall",
            HIGHER,
            "fraction of reals inside the fake manifold (diversity)",
            "binomial_real",
            0.0,
            1.0,
        ),
    ),
)
