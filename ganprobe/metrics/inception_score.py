"""``InceptionScore``: the Inception Score of generated samples, a torchmetrics metric
(its logic: :mod:`ganprobe.scorers.inception_score`)."""

from __future__ import annotations

from ganprobe.metrics.base import SingleLayerMetric
from ganprobe.scorers.inception_score import InceptionScorer

__all__ = ["InceptionScore"]


class InceptionScore(InceptionScorer, SingleLayerMetric):
    r"""Inception Score (Salimans et al. 2016) of generated samples, from an extractor's class logits.

    .. math:: \mathrm{IS} = \exp\big(\mathbb{E}_x\, \mathrm{KL}(p(y \mid x) \,\|\, p(y))\big)

    computed on ``splits`` parts of the (shuffled) generated samples; ``compute()`` returns the mean (``is``) and
    the unbiased standard deviation over the parts (``is_std``) (see :func:`ganprobe.functional.inception_score`).
    Higher is better: confident class predictions (sharp ``p(y|x)``) spread over many classes (flat ``p(y)``). The score
    ignores the real data entirely, so it cannot see memorisation or a mismatch with the training set.

    Which logits: the extractor's ``logits_layer``. For the FID Inception (``inception-fid``) that is the
    1008-way ``fc`` layer, and by default its bias is subtracted, giving ``pool3 @ fc.weight.T``: the
    "logits_unbiased" of torch-fidelity and torchmetrics and the matrix product of the original TensorFlow code
    (which never added the bias). All 1008 outputs enter the softmax, as in those references. Other extractors
    keep their bias by default (the classifier's own ``p(y|x)``).

    Numbers are comparable with published IS only with ``extractor="inception-fid"`` (official weights),
    unbiased logits, ``splits=10`` and 50,000 generated samples (IS grows with the split size);
    :attr:`comparable_with_published` checks everything but the sample count.

    ``update(x)`` / ``update(x, real=False)``: generated images (or, with ``extractor=None``, precomputed
    ``(N, C)`` logits, used as given). ``update(x, real=True)`` stores real samples for :meth:`compute_real`, the
    IS of the real data (a reference value); ``compute()`` never uses them.

    Args:
        splits: number of parts the generated samples are cut into.
        seed: the samples are shuffled with this seed before splitting (``None``: keep the update order, which
            gives a too-low IS if the generator's output is sorted by class).
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor`` with a
            ``logits_layer``, or ``None`` to ``update`` with precomputed logits.
        unbiased_logits: subtract the bias of the extractor's final linear layer (default: only for the FID
            Inception); ``True`` needs a logits layer that is an ``nn.Linear`` with a bias.
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: bad ``splits``/``seed``, an extractor without logits, ``unbiased_logits=True`` without a
            biased linear head; at ``compute``: no generated samples, fewer samples than ``splits``.

    Example:
        >>> import torch
        >>> metric = InceptionScore(splits=2, seed=None, extractor=None)  # keep the order: each half has all classes
        >>> metric.update(torch.eye(10).repeat(10, 1) * 100)
        >>> round(float(metric.compute()["is"]), 4)
        10.0
    """
