"""The Inception Score's declaration (torch-free): fed from class logits, of the fakes only."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.outputs import HIGHER, NO_DIRECTION, Output

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_IS = "is"
KEY_IS_STD = "is_std"

DECLARATION = MetricDeclaration(
    name="is",
    metric_class="ganprobe.metrics.inception_score:InceptionScore",
    needs_logits=True,
    uses_real=False,
    seeded=True,
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
