"""``LayerSeparability``: how separable real and fake samples are at each tapped layer, a torchmetrics metric
(its logic: :mod:`ganprobe.scorers.layer_separability`)."""

from __future__ import annotations

from ganprobe.metrics.base import FeatureMetric
from ganprobe.scorers.layer_separability import LayerSeparabilityScorer

__all__ = ["LayerSeparability"]


class LayerSeparability(LayerSeparabilityScorer, FeatureMetric):
    """Per-layer real-vs-fake separability: one accuracy per layer and protocol, 0.5 = indistinguishable, 1 = separable.

    A fake that fools the last layer may already be obvious at block 1: this metric walks the extractor's blocks
    and measures, at each, how well real and fake features can be told apart. Protocols (see
    :mod:`ganprobe.functional.separability` for the exact definitions):

    * ``linear_probe``: standardised logistic regression, held-out accuracy under seeded stratified k-fold CV
      (default 5 folds). The number to trust.
    * ``knn_loo``: k-NN leave-one-out accuracy in the full feature space.
    * ``pca2_svm``: the campus-DCGAN study's protocol, exactly: PCA-2, RBF SVM (C=1, gamma=0.5), training accuracy.
    * ``pca2_kmeans``: PCA-2, 2-means (seeded), accuracy under the better label assignment.

    ``update(x, real)``: images when the metric has an extractor (every layer comes from one forward pass), else a
    ``{layer: (N, D)}`` dict of precomputed features. ``compute()`` returns a flat dict keyed
    ``separability.<layer>.<protocol>`` (the JSON report's and the gates' names); :meth:`compute_table` gives the
    same numbers as ``{layer: {protocol: accuracy}}``; :meth:`plot` draws accuracy per layer, one line per protocol.
    The protocols run on the CPU (scikit-learn) except ``knn_loo``, which runs on the metric's device. Under DDP
    the states sync and every rank returns the
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
        >>> {layer: float(s["knn_loo"]) > 0.9 for layer, s in metric.compute_table().items()}
        {'a': False, 'b': True}
        >>> sorted(metric.compute())
        ['separability.a.knn_loo', 'separability.b.knn_loo']
    """
