"""``KID``: Kernel Inception Distance (unbiased polynomial-kernel MMD² over random subsets); the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError, SampleSizeWarning
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.front_end_names import PerFrontEnd, Template
from ganprobe.functional.bootstrap import Interval
from ganprobe.functional.mmd import DEFAULT_KERNEL_BYTES, check_kid_arguments, kid, kid_interval
from ganprobe.metrics.declarations.kid import DECLARATION, KEY_KID, KEY_KID_STD
from ganprobe.metrics.findings import Finding
from ganprobe.metrics.records import Estimate, MetricRecord, Output, ReportOptions
from ganprobe.scorers.fid import PUBLISHED_LAYER, official_inception, with_reference
from ganprobe.scorers.per_class import PerClassScorer

# shrink_subsets is an argument of the KID classes only: the CLI and the plugin have no way to pass it.
ERROR_INSTEAD = PerFrontEnd(python=" (pass {shrink_subsets}=False to get an error instead)", cli="", plugin="")


class KIDScorer(PerClassScorer):
    """The logic of :class:`ganprobe.metrics.KID` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        num_subsets: int = DECLARATION.default("num_subsets"),
        subset_size: int = DECLARATION.default("subset_size"),
        degree: int = DECLARATION.default("degree"),
        gamma: float | None = DECLARATION.default("gamma"),
        coef: float = DECLARATION.default("coef"),
        seed: int = 0,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        max_kernel_bytes: int = DEFAULT_KERNEL_BYTES,
        shrink_subsets: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(shrink_subsets, bool):
            raise InputError(f"shrink_subsets: expected True or False, got {shrink_subsets!r}")
        check_kid_arguments(num_subsets, subset_size, degree, gamma, coef)
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.num_subsets = num_subsets
        self.subset_size = subset_size
        self.degree = degree
        self.gamma = gamma
        self.coef = coef
        self.seed = seed
        self.max_kernel_bytes = max_kernel_bytes
        self.shrink_subsets = shrink_subsets

    @property
    def comparable_with_published(self) -> bool:
        """``True`` only on ``inception-fid`` ``pool`` features: the setting of published KID numbers."""
        return official_inception(self) and self.layer == PUBLISHED_LAYER

    def declared_outputs(self) -> list[Output]:
        """The outputs, labelled with the implementation the numbers reproduce (see ``with_reference``)."""
        return with_reference(super().declared_outputs(), self, self.layer == PUBLISHED_LAYER)

    def minimum_samples(self) -> tuple[int, int, str]:
        """Two per set when subsets may shrink (the default), else ``subset_size`` per set."""
        size = 2 if self.shrink_subsets else self.subset_size
        return size, size, "" if self.shrink_subsets else f"subset_size={self.subset_size}"

    def _subset_size(self, real: Tensor, fake: Tensor) -> int:
        """``subset_size``, lowered (with a warning) to the smaller set's size when ``shrink_subsets``."""
        smallest = min(real.shape[0], fake.shape[0])
        size = self.subset_size
        if self.shrink_subsets and size > smallest >= 2:
            lowered = Template(
                "KID: subset_size {size} lowered to {smallest}, the smaller set's size: every subset is the whole "
                "set, so kid_std is no spread{instead}",
                size=size,
                smallest=smallest,
                instead=ERROR_INSTEAD,
            )
            warnings.warn(SampleSizeWarning(lowered), stacklevel=2)
            size = smallest
        return size

    def _kid_arguments(self, real: Tensor, fake: Tensor) -> tuple[Any, ...]:
        size = self._subset_size(real, fake)
        kernel = (self.degree, self.gamma, self.coef)
        return (real, fake, self.num_subsets, size, *kernel, self.seed, self.max_kernel_bytes)

    def _per_class_settings(self) -> dict[str, Any]:
        """Subsets and seed for the per-class KID; refused with another kernel than the default one (the per-class
        KID of :func:`~ganprobe.functional.per_class.per_class_metrics` uses the default kernel)."""
        defaults = tuple(DECLARATION.default(name) for name in ("degree", "gamma", "coef"))
        if (self.degree, self.gamma, self.coef) != defaults:
            raise InputError(
                f"compute_per_class: per-class KID uses the default kernel (degree, gamma, coef) = {defaults}; this "
                f"KID has {(self.degree, self.gamma, self.coef)}"
            )
        return {"kid_subsets": self.num_subsets, "kid_subset_size": self.subset_size, "seed": self.seed}

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        """``{"kid": mean, "kid_std": std}`` of the unbiased MMD² over the subsets (float64 0-d tensors)."""
        mean, std = kid(*self._kid_arguments(real[self.layer], fake[self.layer]))
        return {KEY_KID: mean, KEY_KID_STD: std}

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """Whether the kernel distance stands out from its noise (``distance``): ``differ`` when its interval's lower
        end is above 0 (without an interval: when it exceeds twice its spread over subsets), else ``alike``."""
        found = {record.key: record for record in records}
        if KEY_KID not in found:
            return []
        record = found[KEY_KID]
        spread = record.std if record.std is not None else found.get(KEY_KID_STD, record).std
        claim = None
        if record.low is not None:
            claim = "differ" if record.low > 0 else "alike"
        elif spread is not None and spread > 0:
            claim = "differ" if record.value > 2 * spread else "alike"
        if record.low is not None and record.high is not None:
            evidence = f"{record.label} {record.value:.3g} [{record.low:.3g}, {record.high:.3g}]"
        else:
            evidence = f"{record.label} {record.value:.3g}" + (f" ± {spread:.2g}" if spread else "")
        sentence = f"{evidence}: {'the sets differ' if claim == 'differ' else 'within its own noise of 0'}."
        if claim is None:
            sentence = f"{evidence}."
        return [Finding("distance", self.name, sentence, claim, evidence)]

    def compute_interval(self, confidence: float = 0.95) -> Interval:
        """Confidence interval for the population MMD² (synced under DDP), centred on ``compute()["kid"]``.

        ``kid ± t * stderr``, the standard error from the U-statistic's variance (estimated from random subsets
        drawn without replacement) plus the variance of averaging ``num_subsets`` subsets; see
        :func:`ganprobe.functional.mmd.kid_interval`. Unlike ``kid_std`` it does not vanish when the subsets hold
        every row. Deterministic for ``seed``.
        """
        with self.synced():
            real, fake = self.stored_features()
            with warnings.catch_warnings():  # compute() already warned about shrunk subsets
                warnings.simplefilter("ignore", UserWarning)
                arguments = self._kid_arguments(real[self.layer], fake[self.layer])
            return kid_interval(*arguments, confidence=confidence)

    def _add_details(self, estimates: dict[str, Estimate], options: ReportOptions) -> None:
        try:
            interval = self.compute_interval()
        except InputError as error:  # subsets of a tiny set can be too small: no interval, said so
            estimates[KEY_KID].note = f"no interval: its subsets are too small ({error})"
            return
        estimates[KEY_KID].low, estimates[KEY_KID].high = interval.low, interval.high

    def compute(self) -> dict[str, Tensor]:
        """``{"kid": mean, "kid_std": std}`` of the unbiased MMD² over the subsets (float64 0-d tensors)."""
        return self._current_values()
