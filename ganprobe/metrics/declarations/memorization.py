"""Memorisation's declaration (torch-free): the fraction of fakes that are likely copies of real images."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.outputs import LOWER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_MEMORIZATION = "memorization"

DECLARATION = MetricDeclaration(
    name="memorization",
    metric_class="ganprobe.metrics.memorization:Memorization",
    title="memorisation",
    sample_rule=SampleRule(min_per_set=2, why="a real's spacing needs a second real"),
    verdict_rank=40,
    outputs=(
        Output(
            KEY_MEMORIZATION,
            "memorization",
            LOWER,
            "fraction of fakes much closer to a real image than reals are to each other (likely copies)",
            "binomial_fake",
            0.0,
            1.0,
        ),
    ),
)
