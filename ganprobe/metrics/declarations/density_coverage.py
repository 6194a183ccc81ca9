"""Density and coverage's declaration (torch-free): the k-NN ball counts of Naeem et al. (2020)."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import HIGHER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_DENSITY = "density"
KEY_COVERAGE = "coverage"

DECLARATION = MetricDeclaration(
    name="density_coverage",
    metric_class="ganprobe.metrics.prdc:DensityCoverage",
    report_order=50,
    scorer_class="ganprobe.scorers.prdc:DensityCoverageScorer",
    title="density/coverage",
    verdict_rank=25,
    settings=(Setting("k", 5, int, "the neighbour that sets each real ball's radius"),),
    trust_reason="density and coverage are not inflated by outliers the way precision and recall are "
    "(Naeem et al. 2020)",
    sample_rule=SampleRule(
        min_per_set=500,
        why="k-NN balls of fewer samples are too coarse in hundreds of dimensions: density and coverage can be far off "
        "either way",
    ),
    outputs=(
        Output(
            KEY_DENSITY,
            "density",
            HIGHER,
            "real neighbourhoods holding each fake, on average (about 1 is ideal)",
            lower=0.0,
        ),
        Output(
            KEY_COVERAGE,
            "coverage",
            HIGHER,
            "fraction of reals with a fake within their k-NN ball (diversity)",
            "binomial_real",
            0.0,
            1.0,
        ),
    ),
)
