"""Density and coverage's declaration (torch-free): the k-NN ball counts of Naeem et al. (2020)."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.outputs import HIGHER, Output

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_DENSITY = "density"
KEY_COVERAGE = "coverage"

DECLARATION = MetricDeclaration(
    name="density_coverage",
    metric_class="ganprobe.metrics.prdc:DensityCoverage",
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
