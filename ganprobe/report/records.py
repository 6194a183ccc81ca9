"""Turn an evaluator's metrics into flat, named records: one number each, with uncertainty and direction.

The record keys are constants (:data:`KEYS`): they are the metric names of the JSON report and of quality gates,
so they are part of the API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ganprobe.evaluator import Evaluator

# Record key -> (metric name in the evaluator, what the number is).
KEYS: dict[str, str] = {
    "fid": "Frechet distance of pooled features (FID only on inception-fid)",
    "fid_infinity": "FID extrapolated to infinitely many samples (Chong & Forsyth 2020)",
    "kid": "kernel distance (unbiased MMD^2, cubic polynomial kernel), mean over subsets",
    "is": "Inception Score of the fakes (class logits)",
    "precision": "fraction of fakes inside the real manifold (k=3)",
    "recall": "fraction of reals inside the fake manifold (k=3)",
    "density": "how many real neighbourhoods hold each fake, on average (k=5)",
    "coverage": "fraction of reals with a fake within their k=5 neighbourhood",
    "cmmd": "RBF-kernel MMD x 1000 (sigma=10)",
    "memorization": "fraction of fakes much closer to a real than reals are to each other",
    "knn_loo": "1-NN leave-one-out accuracy (0.5 = indistinguishable, 1.0 = separated)",
    "knn_loo_real": "1-NN LOO accuracy on real samples (high: mode dropping)",
    "knn_loo_fake": "1-NN LOO accuracy on fake samples (high: poor fidelity)",
    "knn_loo_p_value": "permutation p-value of 'same distribution'",
}


@dataclass(frozen=True)
class MetricRecord:
    """One reported number.

    Attributes:
        key: constant name from :data:`KEYS` (used by JSON reports and ``--fail-if`` gates).
        label: what to print, naming the feature space when the number is not the published metric.
        value: the estimate.
        low, high: a confidence interval (bootstrap) when computed, else ``None``.
        std: a standard deviation over subsets/splits (KID, IS) when defined, else ``None``.
        higher_is_better: direction, or ``None`` when neither (knn_loo is best at 0.5).
        feature_space: the extractor (and layer) the number was measured in.
        comparable_with_published: whether the number can be compared with published values.
    """

    key: str
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    std: float | None = None
    higher_is_better: bool | None = None
    feature_space: str = ""
    comparable_with_published: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _f(value: Any) -> float:
    return float(value.item()) if hasattr(value, "item") else float(value)


def collect_records(
    evaluator: Evaluator,
    results: dict[str, Any],
    num_resamples: int = 100,
    fid_resamples: int = 0,
    num_permutations: int = 1000,
) -> list[MetricRecord]:
    """Flatten ``evaluator.compute()`` into records, adding bootstrap intervals and the k-NN details.

    Args:
        evaluator: the evaluator whose metrics produced ``results``.
        results: ``evaluator.compute()``.
        num_resamples: bootstrap resamples of the precision/recall/density/coverage intervals (0: none; cheap).
        fid_resamples: bootstrap resamples of FID's interval (0: none; each recomputes FID, which needs
            ``keep_features=True``).
        num_permutations: label shuffles of the k-NN p-value.
    """
    seed = evaluator.seed
    metrics = evaluator.metrics
    records: list[MetricRecord] = []

    def space(name: str) -> str:
        metric = metrics[name]
        layer = getattr(metric, "layer", None)
        return f"{metric.feature_space}:{layer}" if layer else metric.feature_space

    def comparable(name: str) -> bool:
        return bool(getattr(metrics[name], "comparable_with_published", False))

    if "fid" in results:
        fid = metrics["fid"]
        low = high = None
        if fid_resamples > 0:
            interval = fid.compute_interval(num_resamples=fid_resamples, seed=seed)
            low, high = interval.low, interval.high
        records.append(
            MetricRecord("fid", fid.label, _f(results["fid"]), low, high, None, False, space("fid"), comparable("fid"))
        )
    if "kid" in results:
        mean, std = results["kid"]
        records.append(
            MetricRecord(
                "kid",
                metrics["kid"].label,
                _f(mean),
                std=_f(std),
                higher_is_better=False,
                feature_space=space("kid"),
                comparable_with_published=comparable("kid"),
            )
        )
    if "is" in results:
        mean, std = results["is"]
        records.append(
            MetricRecord(
                "is",
                metrics["is"].label,
                _f(mean),
                std=_f(std),
                higher_is_better=True,
                feature_space=space("is"),
                comparable_with_published=comparable("is"),
            )
        )
    for name, keys in (("precision_recall", ("precision", "recall")), ("density_coverage", ("density", "coverage"))):
        if name in results:
            bounds = metrics[name].compute_interval(num_resamples=num_resamples, seed=seed) if num_resamples else None
            for index, key in enumerate(keys):
                interval = bounds[index] if bounds is not None else None
                records.append(
                    MetricRecord(
                        key,
                        key,
                        _f(results[name][index]),
                        interval.low if interval else None,
                        interval.high if interval else None,
                        None,
                        True,
                        space(name),
                    )
                )
    if "cmmd" in results:
        records.append(
            MetricRecord(
                "cmmd", metrics["cmmd"].label, _f(results["cmmd"]), higher_is_better=False, feature_space=space("cmmd")
            )
        )
    if "memorization" in results:
        records.append(
            MetricRecord(
                "memorization",
                "memorization",
                _f(results["memorization"]),
                higher_is_better=False,
                feature_space=space("memorization"),
            )
        )
    if "knn_loo" in results:
        details = metrics["knn_loo"].compute_details(num_permutations=num_permutations, seed=seed)
        knn_space = space("knn_loo")
        records += [
            MetricRecord("knn_loo", "1-NN LOO accuracy", details.accuracy, feature_space=knn_space),
            MetricRecord("knn_loo_real", "1-NN LOO acc. (real)", details.real_accuracy, feature_space=knn_space),
            MetricRecord(
                "knn_loo_fake",
                "1-NN LOO acc. (fake)",
                details.fake_accuracy,
                higher_is_better=False,
                feature_space=knn_space,
            ),
            MetricRecord(
                "knn_loo_p_value", "1-NN LOO p-value", details.p_value, higher_is_better=True, feature_space=knn_space
            ),
        ]
    return records
