"""``LayerSeparability``: how separable real and fake samples are at each tapped layer, by several protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ganprobe.distributed import metric_process_group
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import DEFAULT_EXTRACTOR
from ganprobe.functional.separability import PROTOCOLS, first_separable_layer, layer_separability
from ganprobe.metrics.base import FeatureMetric


class LayerSeparability(FeatureMetric):
    """Per-layer real-vs-fake separability: ``{layer: {protocol: accuracy}}``, 0.5 = indistinguishable, 1 = separable.

    A fake that fools the last layer may already be obvious at block 1: this metric walks the extractor's blocks
    and measures, at each, how well real and fake features can be told apart. Protocols (see
    :mod:`ganprobe.functional.separability` for the exact definitions):

    * ``linear_probe``: standardised logistic regression, held-out accuracy under seeded stratified k-fold CV
      (default 5 folds). The number to trust.
    * ``knn_loo``: k-NN leave-one-out accuracy in the full feature space.
    * ``pca2_svm``: the campus-DCGAN study's protocol, exactly: PCA-2, RBF SVM (C=1, gamma=0.5), training accuracy.
    * ``pca2_kmeans``: PCA-2, 2-means (seeded), accuracy under the better label assignment.

    ``update(x, real)``: images when the metric has an extractor (every layer comes from one forward pass), else a
    ``{layer: (N, D)}`` dict of precomputed features. The protocols run on the CPU (scikit-learn) except
    ``knn_loo``, which runs on the metric's device. Under DDP the states sync and every rank returns the
    single-process result; the ``knn_loo`` neighbour search is sharded over the ranks (each searches its rows).

    Args:
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None``.
        layers: layers to compare (default: the extractor's blocks, e.g. ``layer1``..``layer4`` for ResNets);
            required with ``extractor=None``.
        protocols: any of ``linear_probe``, ``knn_loo``, ``pca2_svm``, ``pca2_kmeans`` (default: all).
        folds: cross-validation folds of ``linear_probe``.
        seed: seed of the folds and of k-means (``seed=2`` reproduces the campus study's k-means).
        k: neighbours of ``knn_loo``.
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        kwargs: torchmetrics ``Metric`` options.

    Example:
        >>> import torch
        >>> metric = LayerSeparability(extractor=None, layers=["a", "b"], protocols=["knn_loo"])
        >>> same = torch.randn(40, 8)
        >>> metric.update({"a": same[:20], "b": torch.randn(20, 4)}, real=True)
        >>> metric.update({"a": same[20:], "b": torch.randn(20, 4) + 9}, real=False)
        >>> {layer: round(float(s["knn_loo"]), 1) > 0.9 for layer, s in metric.compute().items()}
        {'a': False, 'b': True}
    """

    higher_is_better = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layers: Sequence[str] | None = None,
        protocols: Sequence[str] = PROTOCOLS,
        folds: int = 5,
        seed: int = 0,
        k: int = 1,
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

    def compute(self) -> dict[str, dict[str, Tensor]]:
        """``{layer: {protocol: accuracy}}`` with scalar float64 tensors, layers in network order."""
        real, fake = self.stored_features()
        group = metric_process_group(self)  # under DDP: each rank searches its share of the knn_loo rows
        results = layer_separability(real, fake, self.protocols, self.folds, self.seed, self.k, group)
        return {
            layer: {name: torch.tensor(value, dtype=torch.float64) for name, value in scores.items()}
            for layer, scores in results.items()
        }

    def first_separable_layer(self, threshold: float = 0.75, protocol: str = "linear_probe") -> str | None:
        """The first layer whose ``protocol`` accuracy reaches ``threshold`` ("where do fakes become obvious?")."""
        if protocol not in self.protocols:
            raise InputError(f"protocol: {protocol!r} is not among this metric's protocols {list(self.protocols)}")
        return first_separable_layer(self.compute(), threshold, protocol)
