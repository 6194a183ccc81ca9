"""``Memorization``: generated samples suspiciously close to a training sample, a torchmetrics metric
(its logic: :mod:`ganprobe.scorers.memorization`)."""

from __future__ import annotations

from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.scorers.memorization import MemorizationScorer

__all__ = ["Memorization"]


class Memorization(MemorizationScorer, SingleLayerMetric):
    r"""Fraction of generated samples that look like copies of real (training) samples, and which ones.

    For each fake ``f_j`` with nearest real sample ``r*`` (Euclidean, in the feature space), the copy ratio is

    .. math:: \rho_j = \frac{d(f_j, r^*)}{\min_{i \ne r^*} d(r^*, r_i)}

    A ratio well below 1 means the fake is closer to a training image than training images are to each other:
    a likely (near-)copy. ``compute()`` returns the fraction of fakes with :math:`\rho_j <` ``threshold`` (a
    scalar float64 tensor in ``[0, 1]``; lower is better, 0 = nothing suspicious). :meth:`most_suspicious` lists
    the lowest-ratio pairs with their indices and, for folder inputs, file paths, so they can be inspected.
    The default threshold is *calibrated* for the feature space, so that fresh real images (not in the real set)
    are flagged at most 0.1 % of the time: the offline-measured value of the extractor's layer where there is one
    (published, checksum-verified weights and default pipeline; see
    :data:`~ganprobe.metrics.declarations.memorization.CALIBRATED_THRESHOLDS`), else
    :func:`~ganprobe.functional.memorization.leave_one_out_threshold` of the real samples. :meth:`copy_threshold`
    says which value was used and why.

    Features move under a one-pixel shift about as far as from one image to another, so with an extractor the
    images are also compared as small grey thumbnails of the extractor's input, tolerating a shift of one thumbnail
    pixel (:mod:`ganprobe.functional.pixel_copies`): a fake whose *pixel* copy ratio is below half the
    leave-one-out threshold of the real thumbnails (:meth:`pixel_threshold`) counts as a copy too. ``pixels=False``
    turns that off; precomputed features (``extractor=None``) have no pixels to compare.

    Real samples should be the generator's *training* images: a copy of an image it never saw is not memorisation.

    ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``) when the metric has an
    extractor, else precomputed ``(N, D)`` features. Rows are numbered in update order. ``update_from(folder,
    real)`` also records each row's file (in :func:`ganprobe.data.list_images` order); :meth:`set_paths` names
    the files of samples given in other ways. Under DDP, automatically recorded paths are per process and are
    left out of the records unless :meth:`set_paths` gives them in the gathered order.

    Args:
        threshold: copy ratios strictly below it count as suspicious (positive); ``None`` (default): calibrated
            for the feature space (see above).
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None`` to
            ``update`` with precomputed features.
        layer: the extractor layer to embed with (default: the extractor's pooled features).
        pixels: also run the pixel copy check (default ``True``; only with an extractor).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        block_bytes: memory budget of one block of the distance matrix.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: a bad ``threshold``; at ``update``: wrong shapes, dtypes, widths; at ``compute``: a missing
            class, NaN/Inf features, fewer than 2 real samples.

    Example:
        >>> import torch
        >>> generator = torch.Generator().manual_seed(0)
        >>> real = torch.randn(200, 32, generator=generator)
        >>> metric = Memorization(extractor=None, threshold=0.5)
        >>> metric.update(real, real=True)
        >>> fresh = torch.randn(95, 32, generator=generator)
        >>> metric.update(torch.cat([real[:5], fresh]), real=False)  # 5 copies among 100 fakes
        >>> float(metric.compute())
        0.05
        >>> [record.real_index for record in metric.most_suspicious(3)]
        [0, 1, 2]
    """
