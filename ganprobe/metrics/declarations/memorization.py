"""Memorisation's declaration (torch-free): the fraction of fakes that are likely copies of real images."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.outputs import LOWER, Output

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_MEMORIZATION = "memorization"

DECLARATION = MetricDeclaration(
    name="memorization",
    metric_class="ganprobe.metrics.memorization:Memorization",
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
