"""``KNNLOOAccuracy``: k-nearest-neighbour leave-one-out two-sample accuracy, a torchmetrics metric
(its logic: :mod:`ganprobe.scorers.knn_loo`)."""

from __future__ import annotations

from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.scorers.knn_loo import KNNLOOScorer, separation_words

__all__ = ["KNNLOOAccuracy", "separation_words"]


class KNNLOOAccuracy(KNNLOOScorer, SingleLayerMetric):
    r"""k-NN leave-one-out accuracy of telling real from fake samples in a feature space.

    Pool the real and fake features, classify each sample by the majority label of its ``k`` nearest other
    samples (Euclidean), and return the fraction classified correctly:

    .. math:: \mathrm{acc} = \frac{1}{N_r + N_f} \sum_i [\, \mathrm{vote}_k(i) = y_i \,]

    With equally many real and fake samples, 0.5 means indistinguishable and 1.0 fully separated (lower is better
    for a generator, down to 0.5; values well below 0.5 mean fakes sit on top of reals, e.g. memorised copies).
    The search is exact and runs in blocks of rows, so memory stays bounded for large N; it runs on the
    metric's device. Under DDP each rank searches its own shard of the rows and the results are gathered (see
    ``docs/distributed.md``): every rank returns the single-process result. Distance ties are broken by the lower
    index in the pooled ``[real, fake]`` order; ``k`` must be odd so the two-class vote cannot tie.

    ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``) when the metric has an
    extractor, else precomputed ``(N, D)`` features. ``compute()`` returns a scalar float64 tensor;
    :meth:`compute_details` adds per-class accuracies and a permutation-test p-value.

    Per class: ``update(x, real, labels=y)`` with ``y`` an integer ``(N,)`` tensor of class indices, one per row (in
    every update or in none), keeps the labels as ``cat``-synced states; :meth:`compute_per_class` then returns
    this metric on each class's reals against its fakes, one record per class with its counts and values, or a
    reason below the headline sample-size rule (see :mod:`ganprobe.scorers.per_class`);
    :meth:`compute_per_class_dict` flattens them for ``self.log_dict`` (``val/<value>/<class>``).

    Args:
        k: odd number of neighbours.
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None`` to
            ``update`` with precomputed features.
        layer: the extractor layer to embed with (default: the extractor's pooled features).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        block_bytes: memory budget of one block of the distance matrix.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: even or non-positive ``k``; at ``update``: wrong shapes, dtypes, widths; at ``compute``: a
            missing class, NaN/Inf features, too few samples.

    Example:
        >>> import torch
        >>> metric = KNNLOOAccuracy(extractor=None)
        >>> metric.update(torch.randn(100, 16), real=True)
        >>> metric.update(torch.randn(100, 16) + 5, real=False)
        >>> float(metric.compute())
        1.0
    """
