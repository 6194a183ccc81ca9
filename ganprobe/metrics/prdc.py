"""``PrecisionRecall`` and ``DensityCoverage``: k-NN manifold fidelity/diversity metrics as torchmetrics metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from ganprobe.defaults import setting
from ganprobe.distributed import metric_process_group
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import DEFAULT_EXTRACTOR
from ganprobe.functional.bootstrap import Interval
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES
from ganprobe.functional.prdc import PRDCDetails, prdc_details, prdc_intervals
from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.metrics.declarations.density_coverage import DECLARATION as DENSITY_COVERAGE
from ganprobe.metrics.declarations.density_coverage import KEY_COVERAGE, KEY_DENSITY
from ganprobe.metrics.declarations.precision_recall import DECLARATION as PRECISION_RECALL
from ganprobe.metrics.declarations.precision_recall import KEY_PRECISION, KEY_RECALL
from ganprobe.metrics.findings import Finding, balance_claim
from ganprobe.metrics.outputs import Estimate, MetricRecord, ReportOptions


class _ManifoldMetric(SingleLayerMetric):
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


class PrecisionRecall(_ManifoldMetric):
    r"""Improved precision and recall (Kynkaanniemi et al. 2019) of generated samples in a feature space.

    Every real sample gets a ball reaching its ``k``-th nearest other real sample, every fake one a ball reaching
    its ``k``-th nearest other fake sample (Euclidean):

    .. math::

        P = \frac{1}{M}\sum_j 1[\exists i: d(f_j, r_i) \le \mathrm{rad}_k(r_i)], \qquad
        R = \frac{1}{N}\sum_i 1[\exists j: d(r_i, f_j) \le \mathrm{rad}_k(f_j)]

    Precision is the fraction of fakes that look real (fidelity); recall the fraction of reals the generator can
    produce (diversity). Both in ``[0, 1]``, higher is better. Balls are closed (``<=``); the ``prdc`` package uses
    open ones, which only differs on exact ties (see :mod:`ganprobe.functional.prdc`). Exact, in bounded memory.

    ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``) when the metric has an
    extractor, else precomputed ``(N, D)`` features. ``compute()`` returns ``{"precision": p, "recall": r}`` (float64
    0-d tensors); :meth:`compute_interval` adds confidence intervals.

    Args:
        k: the neighbour that sets each ball's radius (the paper's default 3); both sets need more than ``k``.
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None`` to
            ``update`` with precomputed features.
        layer: the extractor layer to embed with (default: the extractor's pooled features).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        block_bytes: memory budget of one block of the distance matrix.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: a bad ``k``; at ``update``: wrong shapes, dtypes, widths; at ``compute``: a missing class,
            NaN/Inf features, ``k`` not below both set sizes.

    Example:
        >>> import torch
        >>> metric = PrecisionRecall(extractor=None)
        >>> metric.update(torch.randn(100, 16), real=True)
        >>> metric.update(torch.randn(100, 16) + 50, real=False)
        >>> {key: float(value) for key, value in metric.compute().items()}
        {'precision': 0.0, 'recall': 0.0}
    """

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
        k: int = setting("precision_recall", "k"),
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(k, extractor, layer, extractor_kwargs, block_bytes, **kwargs)


class DensityCoverage(_ManifoldMetric):
    r"""Density and coverage (Naeem et al. 2020) of generated samples in a feature space.

    Every real sample gets a ball reaching its ``k``-th nearest other real sample (Euclidean):

    .. math::

        \mathrm{density} = \frac{1}{kM}\sum_j\sum_i 1[d(f_j, r_i) \le \mathrm{rad}_k(r_i)], \qquad
        \mathrm{coverage} = \frac{1}{N}\sum_i 1[\min_j d(r_i, f_j) \le \mathrm{rad}_k(r_i)]

    Density (fidelity) is about 1 when fakes follow the real distribution, below 1 when they stray from it, above
    1 when they crowd dense real regions; unlike precision it is not fooled by real outliers. Coverage
    (diversity, in ``[0, 1]``) is the fraction of reals with a fake nearby; unlike recall it is not inflated by
    fake outliers. Higher is better for both (density beyond about 1 is no longer an improvement). Balls are
    closed (``<=``): with ``fake == real`` density is ``(k + 1) / k`` (see :mod:`ganprobe.functional.prdc`).

    ``update(x, real)``: as in :class:`PrecisionRecall`. ``compute()`` returns ``{"density": d, "coverage": c}``
    (float64 0-d tensors); :meth:`compute_interval` adds confidence intervals.

    Args:
        k: the neighbour that sets each real ball's radius (the paper's default 5); needs more than ``k`` reals.
        extractor, layer, extractor_kwargs, block_bytes, kwargs: as in :class:`PrecisionRecall`.

    Raises:
        InputError: as in :class:`PrecisionRecall`.

    Example:
        >>> import torch
        >>> metric = DensityCoverage(extractor=None)
        >>> real = torch.randn(100, 16)
        >>> metric.update(real, real=True)
        >>> metric.update(real + 50, real=False)
        >>> {key: float(value) for key, value in metric.compute().items()}
        {'density': 0.0, 'coverage': 0.0}
    """

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
        k: int = setting("density_coverage", "k"),
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(k, extractor, layer, extractor_kwargs, block_bytes, **kwargs)
