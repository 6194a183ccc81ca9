"""``LayerSeparability``: how separable real and fake samples are at each tapped layer, by several protocols; the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.defaults import SEPARABLE_THRESHOLD as SEPARABLE_ACCURACY
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.functional.separability import PROTOCOLS, first_separable_layer, layer_separability
from ganprobe.metrics.declarations.layer_separability import DECLARATION, SEPARABILITY_PREFIX
from ganprobe.metrics.findings import Finding
from ganprobe.metrics.records import MetricRecord, Output
from ganprobe.scorers.base import FeatureScorer


class LayerSeparabilityScorer(FeatureScorer):
    """The logic of :class:`ganprobe.metrics.LayerSeparability` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layers: Sequence[str] | None = None,
        protocols: Sequence[str] = DECLARATION.default("protocols"),
        folds: int = DECLARATION.default("folds"),
        seed: int = 0,
        k: int = DECLARATION.default("k"),
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        unknown = [p for p in protocols if p not in PROTOCOLS]
        if not protocols or unknown:
            raise InputError(f"protocols: unknown {unknown or 'none given'}; choose from {list(PROTOCOLS)}")
        if extractor is None and layers is None:
            raise InputError("layers: name the layers of the precomputed feature dicts when extractor=None")
        if extractor is not None and layers is None:
            from ganprobe.extractors.registry import get_extractor

            extractor = get_extractor(extractor, **dict(extractor_kwargs or {}))
            layers = extractor.block_layers
        super().__init__(extractor, layers, extractor_kwargs, **kwargs)
        self.protocols = protocols
        self.folds = folds
        self.seed = seed
        self.k = k

    def minimum_samples(self) -> tuple[int, int, str]:
        """``folds`` samples per set for the linear probe's stratified folds, else two."""
        if "linear_probe" in self.protocols:
            return self.folds, self.folds, f"folds={self.folds}"
        return 2, 2, ""

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """From which layer on a held-out probe tells fakes apart (the first layer reaching 0.75): ``layers``."""
        table: dict[str, dict[str, float]] = {}
        for record in records:
            if record.layer is not None and record.protocol is not None:
                table.setdefault(record.layer, {})[record.protocol] = record.value
        protocol = next((p for p in ("linear_probe", "knn_loo") if p in self.protocols), None)
        if not table or protocol is None:
            return []
        first = first_separable_layer(table, SEPARABLE_ACCURACY, protocol)
        last = list(table)[-1]
        tail = f"; at the last tapped layer ({last}) {table[last][protocol]:.2f}"
        if first is None:
            sentence = f"No tapped layer separates fakes from reals ({protocol} below {SEPARABLE_ACCURACY:g}){tail}."
        else:
            sentence = (
                f"Fakes become separable from layer {first} on ({protocol} accuracy {table[first][protocol]:.2f} >= "
                f"{SEPARABLE_ACCURACY:g}){tail}."
            )
        return [Finding("layers", self.name, sentence)]

    def declared_outputs(self) -> list[Output]:
        """One output per layer and protocol, in network order."""
        template = self.outputs[0]
        return [template.concrete(layer=layer, protocol=p) for layer in self.layers for p in self.protocols]

    def output_space(self, output: Output) -> str:
        layer = output.key[len(SEPARABILITY_PREFIX) :].rsplit(".", 1)[0]
        return f"{self.feature_space}:{layer}"

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        results = layer_separability(real, fake, self.protocols, self.folds, self.seed, self.k, group)
        return {
            f"{SEPARABILITY_PREFIX}{layer}.{name}": torch.tensor(value, dtype=torch.float64)
            for layer, scores in results.items()
            for name, value in scores.items()
        }

    def compute(self) -> dict[str, Tensor]:
        """``{"separability.<layer>.<protocol>": accuracy}`` (float64 0-d tensors), layers in network order."""
        return self._current_values()

    def compute_table(self) -> dict[str, dict[str, Tensor]]:
        """The same accuracies as ``{layer: {protocol: accuracy}}`` (synced under DDP)."""
        values = self.compute()
        return {
            layer: {p: values[f"{SEPARABILITY_PREFIX}{layer}.{p}"] for p in self.protocols} for layer in self.layers
        }

    def first_separable_layer(self, threshold: float = 0.75, protocol: str = "linear_probe") -> str | None:
        """The first layer whose ``protocol`` accuracy reaches ``threshold`` ("where do fakes become obvious?")."""
        if protocol not in self.protocols:
            raise InputError(f"protocol: {protocol!r} is not among this metric's protocols {list(self.protocols)}")
        return first_separable_layer(self.compute_table(), threshold, protocol)

    def plot(self, val: Mapping[str, Tensor] | None = None, ax: Any = None) -> Any:
        """Accuracy per layer, one line per protocol, with 0.5 (indistinguishable) marked.

        Args:
            val: a result of :meth:`compute` (``None``: compute it now).
            ax: a matplotlib axis to draw on (``None``: a new figure).

        Returns:
            ``(figure, axis)``.
        """
        import matplotlib.pyplot as plt

        values = dict(val) if val is not None else self.compute()
        figure, axis = (ax.get_figure(), ax) if ax is not None else plt.subplots()
        positions = list(range(len(self.layers)))
        for protocol in self.protocols:
            points = [float(values[f"{SEPARABILITY_PREFIX}{layer}.{protocol}"]) for layer in self.layers]
            axis.plot(positions, points, marker="o", label=protocol)
        axis.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        axis.set_xticks(positions, list(self.layers))
        axis.set_ylim(0.0, 1.05)
        axis.set_xlabel("layer")
        axis.set_ylabel("real-vs-fake accuracy (0.5 = indistinguishable)")
        axis.set_title(type(self).__name__)
        axis.legend()
        return figure, axis
