"""``KNNLOOAccuracy``: k-nearest-neighbour leave-one-out two-sample accuracy; the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.functional import knn_loo as knn_functional
from ganprobe.functional.knn_loo import KNNLOOResult, knn_loo_accuracy
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES
from ganprobe.metrics.declarations.knn_loo import (
    DECLARATION,
    KEY_KNN_LOO,
    KEY_KNN_LOO_FAKE,
    KEY_KNN_LOO_P_VALUE,
    KEY_KNN_LOO_REAL,
)
from ganprobe.metrics.findings import Finding
from ganprobe.metrics.records import Estimate, MetricRecord, ReportOptions
from ganprobe.scorers.per_class import PerClassScorer
from ganprobe.utils.distributed import metric_process_group


def separation_words(accuracy: float) -> str:
    """A real-vs-fake accuracy in words: ``indistinguishable`` near 0.5, ``almost fully separated`` near 1."""
    distance = accuracy - 0.5
    if distance < -0.05:
        return "below chance: fakes sit on top of reals (copies?)"
    if distance < 0.05:
        return "indistinguishable"
    if distance < 0.15:
        return "slightly separable"
    if distance < 0.35:
        return "clearly separable"
    return "almost fully separated"


class KNNLOOScorer(PerClassScorer):
    """The logic of :class:`ganprobe.metrics.KNNLOOAccuracy` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        k: int = DECLARATION.default("k"),
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        **kwargs: Any,
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise InputError(f"k: must be a positive odd integer, got {k!r}")
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.k = k
        self.block_bytes = block_bytes
        self._search: tuple[tuple[Tensor, ...], tuple[Tensor, Tensor]] | None = None  # one search per state

    def _per_class_settings(self) -> dict[str, Any]:
        return {"knn_k": self.k}

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        return {KEY_KNN_LOO: knn_loo_accuracy(real[self.layer], fake[self.layer], self.k, self.block_bytes, group)}

    def _searched(self) -> tuple[Tensor, Tensor]:
        """``(labels, neighbours)`` of the stored samples, searched once per state: ``compute()`` and a report's
        details (per-class accuracies, permutation p-value) share it (call it while synced under DDP)."""
        key = self._state_key()
        if self._search is not None and self._same_state(self._search[0], key):
            return self._search[1]
        real, fake = self.stored_features()
        found = knn_functional.knn_loo_neighbours(
            real[self.layer], fake[self.layer], self.k, self.block_bytes, process_group=metric_process_group(self)
        )
        self._search = (key, found)
        return found

    def _current_values(self) -> dict[str, Tensor]:
        return {KEY_KNN_LOO: knn_functional.loo_accuracy(*self._searched())}

    def reset(self) -> None:
        """Clear the stored features and the remembered neighbour search."""
        super().reset()
        self._search = None

    def compute(self) -> Tensor:
        """The k-NN leave-one-out accuracy over all stored real and fake samples (scalar float64 tensor)."""
        return self._current_values()[KEY_KNN_LOO]

    def _add_details(self, estimates: dict[str, Estimate], options: ReportOptions) -> None:
        details = self.compute_details(options.permutations, options.seed)
        estimates[KEY_KNN_LOO_REAL] = Estimate(details.real_accuracy)
        estimates[KEY_KNN_LOO_FAKE] = Estimate(details.fake_accuracy)
        if options.permutations > 0:
            estimates[KEY_KNN_LOO_P_VALUE] = Estimate(details.p_value)

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """How separable the sets are (``distance``), and which class gives them away (``balance``: mode dropping vs
        poor fidelity)."""
        found = {record.key: record for record in records}
        if KEY_KNN_LOO not in found:
            return []
        accuracy = found[KEY_KNN_LOO].value
        p_value = found[KEY_KNN_LOO_P_VALUE].value if KEY_KNN_LOO_P_VALUE in found else None
        stderr = found[KEY_KNN_LOO].stderr
        if p_value is not None:
            differ: bool | None = p_value < 0.05
        elif stderr is not None and math.isfinite(stderr):
            differ = accuracy - 0.5 > 2 * stderr
        else:
            differ = None
        evidence = f"1-NN accuracy {accuracy:.2f}" + (f", p = {p_value:.2g}" if p_value is not None else "")
        result = [
            Finding(
                "distance",
                self.name,
                f"1-NN real-vs-fake accuracy {accuracy:.2f} (0.5 = indistinguishable, 1.0 = fully separated): "
                f"{separation_words(accuracy)}.",
                None if differ is None else ("differ" if differ else "alike"),
                evidence,
            )
        ]
        if KEY_KNN_LOO_REAL in found and KEY_KNN_LOO_FAKE in found:
            real, fake = found[KEY_KNN_LOO_REAL].value, found[KEY_KNN_LOO_FAKE].value
            balance = f"1-NN fake {fake:.2f} vs real {real:.2f}"
            if fake - real >= 0.1:
                sentence = (
                    f"Fakes are recognised more often ({fake:.2f}) than reals ({real:.2f}): fakes stray from the "
                    "real data (poor fidelity) more than they miss parts of it."
                )
                result.append(Finding("balance", self.name, sentence, "fidelity", balance))
            elif real - fake >= 0.1:
                sentence = (
                    f"Reals are recognised more often ({real:.2f}) than fakes ({fake:.2f}): parts of the real "
                    "data have no fakes near them (mode dropping)."
                )
                result.append(Finding("balance", self.name, sentence, "diversity", balance))
            else:
                sentence = (
                    f"Reals ({real:.2f}) and fakes ({fake:.2f}) are recognised about equally often: the 1-NN split "
                    "points at neither fidelity nor diversity."
                )
                result.append(Finding("balance", self.name, sentence, None, balance))
        return result

    def compute_details(self, num_permutations: int = 1000, seed: int = 0) -> KNNLOOResult:
        """Accuracy, real/fake accuracies, balanced accuracy and a permutation-test p-value (synced under DDP).

        Args:
            num_permutations: label shuffles for the p-value (cheap: the neighbours are found once).
            seed: seed of the shuffles.
        """
        with self.synced():
            labels, neighbours = self._searched()
            real_rows = int((labels == 0).sum())  # the pooled rows are the reals (label 0), then the fakes
            return knn_functional.knn_loo_result(
                labels, neighbours, real_rows, num_permutations, seed, metric_process_group(self)
            )
