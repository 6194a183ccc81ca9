"""CMMD's declaration (torch-free): the RBF-kernel MMD of CLIP embeddings."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import LOWER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_CMMD = "cmmd"

DECLARATION = MetricDeclaration(
    name="cmmd",
    metric_class="ganprobe.metrics.cmmd:CMMD",
    report_order=60,
    scorer_class="ganprobe.scorers.cmmd:CMMDScorer",
    title="CMMD",
    settings=(
        Setting("sigma", 10.0, float, "RBF bandwidth"),
        Setting("scale", 1000.0, float, "multiplier of the MMD"),
        Setting("normalize", True, bool, "L2-normalise the embeddings first"),
    ),
    sample_rule=SampleRule(min_per_set=100, why="the unbiased MMD of fewer samples is dominated by noise"),
    outputs=(
        Output(
            KEY_CMMD,
            "MMD on {space} features",
            LOWER,
            "RBF-kernel MMD x 1000 (sigma 10) of L2-normalised embeddings, as the CMMD reference computes it",
            lower=0.0,
        ),
    ),
)
