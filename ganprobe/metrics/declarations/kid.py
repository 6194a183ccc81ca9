"""KID's declaration (torch-free): the kernel distance and its spread over random subsets."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import LOWER, NO_DIRECTION, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_KID = "kid"
KEY_KID_STD = "kid_std"

DECLARATION = MetricDeclaration(
    name="kid",
    metric_class="ganprobe.metrics.kid:KID",
    report_order=20,
    scorer_class="ganprobe.scorers.kid:KIDScorer",
    title="KID",
    verdict_rank=40,
    trust_reason="KID is unbiased at any sample size; FID is biased upward at small N",
    sample_rule=SampleRule(
        min_per_set=100,
        why="the unbiased kernel distance of fewer samples is dominated by noise (the same rule as CMMD's)",
    ),
    seeded=True,
    settings=(
        Setting("num_subsets", 100, int, "random subsets the KID is averaged over"),
        Setting("subset_size", 1000, int, "rows per subset and set (lowered to the smaller set, with a warning)"),
        Setting("degree", 3, int, "degree of the polynomial kernel"),
        Setting("gamma", None, float, "kernel scale (default 1/D)"),
        Setting("coef", 1.0, float, "kernel constant"),
    ),
    outputs=(
        Output(
            KEY_KID,
            "KD on {space} features",
            LOWER,
            "kernel distance (unbiased MMD^2, cubic polynomial kernel), mean over random subsets",
            published_label="KID",
        ),
        Output(
            KEY_KID_STD,
            "KD std over subsets",
            NO_DIRECTION,
            "standard deviation of the kernel distance over the random subsets",
            uncertainty="none",
            lower=0.0,
            spread_of="kid",
        ),
    ),
)
