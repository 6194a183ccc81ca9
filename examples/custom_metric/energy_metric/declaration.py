"""The energy distance's declaration: everything ganprobe needs to know about the metric, apart from its math.

It imports no torch, so ``ganprobe --help``, ``--set``, ``--fail-if`` and the JSON schema read it cheaply. Make
the metric known with ``ganprobe.register_metric(DECLARATION)``, or from a package with an entry point::

    [project.entry-points."ganprobe.metrics"]
    energy = "energy_metric.declaration:DECLARATION"
"""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import LOWER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output key (compute()'s value, the JSON report, gates: --fail-if "energy>0.5").
KEY_ENERGY = "energy"

DECLARATION = MetricDeclaration(
    name="energy",  # evaluate(metrics=["energy"]), --metrics energy, --set energy.exponent=0.5
    metric_class="energy_metric.metric:EnergyDistance",
    title="energy distance",
    sample_rule=SampleRule(min_per_set=2, why="a sample's spread needs two points"),
    settings=(Setting("exponent", 1.0, float, "power of the distances, in (0, 2)"),),
    outputs=(
        Output(
            KEY_ENERGY,
            "energy distance on {space} features",
            LOWER,
            "squared energy distance between real and fake features (0: same distribution)",
            lower=0.0,
        ),
    ),
)
