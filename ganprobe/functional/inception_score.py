"""Inception Score from class logits (Salimans et al. 2016, "Improved Techniques for Training GANs").

.. math:: \\mathrm{IS} = \\exp\\big(\\mathbb{E}_x\\, \\mathrm{KL}(p(y \\mid x) \\,\\|\\, p(y))\\big)

``p(y | x)`` is the softmax of one generated sample's logits and ``p(y)`` the mean of ``p(y | x)`` over the
samples of a split. The score ranges from 1 (every sample gets the same class distribution, or the classifier is
unsure about all of them) to the number of classes (confident predictions spread evenly over all classes).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.neighbours import check_features


def inception_score(logits: Tensor, splits: int = 10, seed: int | None = None) -> tuple[Tensor, Tensor]:
    r"""Inception Score of generated samples from their class logits: mean and standard deviation over splits.

    The rows (optionally shuffled) are cut into ``splits`` contiguous parts; part ``s`` holds rows
    ``[s N // splits, (s + 1) N // splits)``, as in the original code and torch-fidelity. For each part
    :math:`\exp\big(\frac{1}{|S|}\sum_{x \in S} \mathrm{KL}(p(y|x) \,\|\, \bar p_S(y))\big)` is computed with
    :math:`\bar p_S = \frac{1}{|S|}\sum_{x \in S} p(y|x)`, in float64.

    Agreement with the references:

    * torchmetrics ``InceptionScore`` shuffles with the global RNG (``torch.randperm``) and cuts with
      ``torch.chunk``. ``seed=s`` draws the same permutation that torchmetrics draws after ``torch.manual_seed(s)``
      (both use a CPU Mersenne-Twister seeded with ``s``), so the two agree to float round-off whenever
      ``splits`` divides ``N`` (otherwise ``torch.chunk`` makes unequal parts, sometimes fewer than ``splits``).
    * The standard deviation is the unbiased one (``ddof=1``), as torchmetrics reports; torch-fidelity and the
      original code report the population one (``ddof=0``), smaller by :math:`\sqrt{(S-1)/S}`.

    Args:
        logits: ``(N, C)`` class logits of ``N`` generated samples (unnormalised; any real dtype, finite).
        splits: number of parts (``1 <= splits <= N``); published numbers use 10 parts of 5000 samples.
        seed: ``None`` keeps the given order; an integer shuffles the rows with a CPU generator seeded with it.

    Returns:
        ``(mean, std)``: scalar float64 tensors on the logits' device. With ``splits=1`` the std is ``nan``
        (the unbiased std of one value), as in torchmetrics.

    Raises:
        InputError: ``logits`` not a finite floating ``(N, C)`` tensor, ``splits`` out of range, a bad ``seed``.

    Example:
        >>> import torch
        >>> logits = torch.eye(10).repeat(10, 1) * 100  # confident, evenly spread over 10 classes
        >>> mean, std = inception_score(logits, splits=2)
        >>> round(float(mean), 4)
        10.0
    """
    check_features(logits, "logits", min_rows=1)
    if isinstance(splits, bool) or not isinstance(splits, int) or not 1 <= splits <= logits.shape[0]:
        raise InputError(f"splits: must be an integer from 1 to the sample count {logits.shape[0]}, got {splits!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"seed: expected None (no shuffle) or an integer, got {seed!r}")
    num_samples = logits.shape[0]
    if seed is not None:
        order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
        logits = logits[order.to(logits.device)]
    log_prob = logits.double().log_softmax(dim=1)
    prob = log_prob.exp()
    scores = []
    for part in range(splits):
        start, stop = part * num_samples // splits, (part + 1) * num_samples // splits
        part_prob, part_log_prob = prob[start:stop], log_prob[start:stop]
        marginal = part_prob.mean(dim=0, keepdim=True)
        # xlogy: a class whose probability underflows to 0 in every row of the part adds 0, not 0 * log 0 = nan.
        kl = (part_prob * part_log_prob).sum(dim=1) - torch.special.xlogy(part_prob, marginal).sum(dim=1)
        scores.append(kl.mean().exp())
    values = torch.stack(scores)
    if splits == 1:  # torch.std would warn about zero degrees of freedom; the value is the same nan
        return values[0], torch.full_like(values[0], float("nan"))
    return values.mean(), values.std()
