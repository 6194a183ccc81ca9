"""The 1-NN leave-one-out two-sample test's declaration (torch-free): accuracies best at 0.5, and a p-value."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import NO_DIRECTION, Output, closest_to
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_KNN_LOO = "knn_loo"
KEY_KNN_LOO_REAL = "knn_loo_real"
KEY_KNN_LOO_FAKE = "knn_loo_fake"
KEY_KNN_LOO_P_VALUE = "knn_loo_p_value"

DECLARATION = MetricDeclaration(
    name="knn_loo",
    metric_class="ganprobe.metrics.knn_loo:KNNLOOAccuracy",
    report_order=80,
    scorer_class="ganprobe.scorers.knn_loo:KNNLOOScorer",
    title="1-NN LOO",
    sample_rule=SampleRule(min_per_set=25, why="an accuracy over fewer samples has a standard error above 0.07"),
    verdict_rank=10,
    settings=(Setting("k", 1, int, "odd number of neighbours that vote"),),
    trust_reason="its accuracies are plain proportions over every sample, with a binomial error and no "
    "ball radius to depend on outliers or on k",
    outputs=(
        Output(
            KEY_KNN_LOO,
            "1-NN LOO accuracy",
            closest_to(0.5),
            "1-NN leave-one-out accuracy of telling real from fake (0.5 = indistinguishable, 1.0 = separated)",
            "binomial_both",
            0.0,
            1.0,
        ),
        Output(
            KEY_KNN_LOO_REAL,
            "1-NN LOO accuracy (real)",
            closest_to(0.5),
            "1-NN LOO accuracy on the real samples (high: the fakes miss parts of the real data, mode dropping)",
            "binomial_real",
            0.0,
            1.0,
            in_compute=False,
        ),
        Output(
            KEY_KNN_LOO_FAKE,
            "1-NN LOO accuracy (fake)",
            closest_to(0.5),
            "1-NN LOO accuracy on the fake samples (high: fakes lie off the real data, poor fidelity)",
            "binomial_fake",
            0.0,
            1.0,
            in_compute=False,
        ),
        Output(
            KEY_KNN_LOO_P_VALUE,
            "1-NN LOO p-value",
            NO_DIRECTION,
            "permutation p-value of 'real and fake come from one distribution' (small: they differ)",
            "none",
            0.0,
            1.0,
            in_compute=False,
            requires="permutations",
        ),
    ),
)
