"""The Inception Score's declaration (torch-free): fed from class logits, of the fakes only."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import HIGHER, NO_DIRECTION, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_IS = "is"
KEY_IS_STD = "is_std"

DECLARATION = MetricDeclaration(
    name="is",
    metric_class="ganprobe.metrics.inception_score:InceptionScore",
    report_order=30,
    scorer_class="ganprobe.scorers.inception_score:InceptionScorer",
    title="IS",
    sample_rule=SampleRule(
        above_setting=("splits", 1000.0),
        why="each split needs more images than the 1000 classes its marginal is estimated over: IS is biased low",
    ),
    needs_logits=True,
    uses_real=False,
    seeded=True,
    settings=(Setting("splits", 10, int, "parts the fakes are split into (10 as published)"),),
    outputs=(
        Output(
            KEY_IS,
            "IS on {space} logits",
            HIGHER,
            "Inception Score of the fakes: confident class predictions spread over many classes",
            lower=1.0,
            published_label="IS",
        ),
        Output(
            KEY_IS_STD,
            "IS std over splits",
            NO_DIRECTION,
            "standard deviation of the Inception Score over the splits",
            uncertainty="none",
            lower=0.0,
            spread_of="is",
        ),
    ),
)
