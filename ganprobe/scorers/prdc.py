"""``PrecisionRecall`` and ``DensityCoverage``: k-NN manifold fidelity/diversity metrics; the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.functional.bootstrap import Interval
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES
from ganprobe.functional.prdc import PRDCDetails, prdc_details, prdc_intervals
from ganprobe.metrics.declarations.density_coverage import DECLARATION as DENSITY_COVERAGE
from ganprobe.metrics.declarations.density_coverage import KEY_COVERAGE, KEY_DENSITY
from ganprobe.metrics.declarations.precision_recall import DECLARATION as PRECISION_RECALL
from ganprobe.metrics.declarations.precision_recall import KEY_PRECISION, KEY_RECALL
from ganprobe.metrics.findings import Finding, balance_claim
from ganprobe.metrics.records import Estimate, MetricRecord, ReportOptions
from ganprobe.scorers.per_class import PerClassScorer
from ganprobe.utils.distributed import metric_process_group


class _ManifoldScorer(PerClassScorer):
    """Shared state and arguments of the two k-NN manifold metrics."""

    _needs_recall: bool

    def __init__(
        self,
        k: int,
        extractor: str | FeatureExtractor | None,
        layer: str | None,
        extractor_kwargs: Mapping[str, Any] | None,
        block_bytes: int,
        **kwargs: Any,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"k: must be a positive integer, got {k!r}")
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.k = k
        self.block_bytes = block_bytes

    def _per_class_settings(self) -> dict[str, Any]:
        return {"k_precision_recall" if self._needs_recall else "k_density_coverage": self.k}

    def minimum_samples(self) -> tuple[int, int, str]:
        """More than ``k`` samples in each set whose balls are built (reals; fakes too for recall)."""
        return self.k + 1, self.k + 1 if self._needs_recall else 1, f"k={self.k}"

    def compute_details(self) -> PRDCDetails:
        """Per-sample ball tests over all stored samples (synced under DDP); see ``prdc_details``."""
        with self.synced():
            real, fake = self.stored_features()
            return self._details(real, fake, metric_process_group(self))

    def _details(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any) -> PRDCDetails:
        # Under DDP (states synced) each rank computes a shard of the rows; the gathered result is the same.
        return prdc_details(real[self.layer], fake[self.layer], self.k, self._needs_recall, self.block_bytes, group)

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        values = self._details(real, fake, group).values()
        return {output.key: values[output.key] for output in self.outputs}

    def compute(self) -> dict[str, Tensor]:
        """Both values over all stored real and fake samples (``{key: float64 0-d tensor}``)."""
        return self._current_values()

    def compute_interval(self, num_resamples: int = 20, confidence: float = 0.95, seed: int = 0) -> dict[str, Interval]:
        """Confidence intervals of both values (synced under DDP), centred on :meth:`compute`'s values.

        The estimand is the expectation of each value at these set sizes and ``k`` (k-NN values have no
        sample-size-free true value). ``value ± t * stderr``, the standard error from the spread over
        ``num_resamples`` random halves of both sets with the balls rebuilt on each half; see
        ``ganprobe.functional.prdc.prdc_intervals``.

        Args:
            num_resamples: random halves (each costs a k-NN search on half the samples, about 1/4 of the full one).
            confidence: coverage of each interval, in ``(0, 1)``.
            seed: seed of the halves.

        Returns:
            ``{key: Interval}`` with the keys of :meth:`compute`.
        """
        with self.synced():
            real, fake = self.stored_features()
            intervals = prdc_intervals(
                real[self.layer],
                fake[self.layer],
                self.k,
                self._needs_recall,
                num_resamples,
                confidence,
                seed,
                self.block_bytes,
                metric_process_group(self),
            )
        return {output.key: intervals[output.key] for output in self.outputs}

    def _add_details(self, estimates: dict[str, Estimate], options: ReportOptions) -> None:
        if options.bootstrap > 0:
            try:
                intervals = self.compute_interval(options.bootstrap, seed=options.seed)
            except InputError as error:  # halves of a small set can be too small for k: no interval, said so
                for output in self.outputs:
                    estimates[output.key].note = f"no interval: its random halves are too small ({error})"
                return
            for key, interval in intervals.items():
                estimates[key].low, estimates[key].high = interval.low, interval.high


def _balance(metric: str, fidelity: str, fidelity_value: float, diversity: str, diversity_value: float) -> Finding:
    """The ``balance`` finding of a fidelity and a diversity score."""
    numbers = f"{fidelity} {fidelity_value:.2f}, {diversity} {diversity_value:.2f}"
    claim = balance_claim(min(fidelity_value, 1.0), diversity_value)
    reading = {
        "both": "both poor: the fakes neither look like the real data nor cover it",
        "neither": "both good",
        "fidelity": "the fakes cover the real data's variety but many lie off it (poor fidelity)",
        "diversity": "the fakes look real but cover only part of the real data (mode dropping)",
        None: "neither clearly worse than the other",
    }[claim]
    sentence = f"{fidelity} {fidelity_value:.2f} (fidelity), {diversity} {diversity_value:.2f} (diversity): {reading}."
    return Finding("balance", metric, sentence, claim, numbers)


class PrecisionRecallScorer(_ManifoldScorer):
    """The logic of :class:`ganprobe.metrics.PrecisionRecall` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = PRECISION_RECALL
    _needs_recall = True

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """Which of fidelity (precision) and diversity (recall) is worse (``balance``)."""
        values = {record.key: record.value for record in records}
        if {KEY_PRECISION, KEY_RECALL} <= set(values):
            return [_balance(self.name, KEY_PRECISION, values[KEY_PRECISION], KEY_RECALL, values[KEY_RECALL])]
        return []

    def __init__(
        self,
        k: int = PRECISION_RECALL.default("k"),
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(k, extractor, layer, extractor_kwargs, block_bytes, **kwargs)


class DensityCoverageScorer(_ManifoldScorer):
    """The logic of :class:`ganprobe.metrics.DensityCoverage` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DENSITY_COVERAGE
    _needs_recall = False

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """Which of fidelity (density, read up to 1) and diversity (coverage) is worse (``balance``)."""
        values = {record.key: record.value for record in records}
        if {KEY_DENSITY, KEY_COVERAGE} <= set(values):
            return [_balance(self.name, KEY_DENSITY, values[KEY_DENSITY], KEY_COVERAGE, values[KEY_COVERAGE])]
        return []

    def __init__(
        self,
        k: int = DENSITY_COVERAGE.default("k"),
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(k, extractor, layer, extractor_kwargs, block_bytes, **kwargs)
