"""Memorisation check: is a generated sample closer to a training sample than training samples are to each other?

For each fake ``f_j`` let ``r*`` be its nearest real sample. The *copy ratio* is

.. math:: \\rho_j = \\frac{d(f_j, r^*)}{\\min_{i \\ne r^*} d(r^*, r_i)}

the fake's distance to ``r*`` over ``r*``'s distance to its own nearest other real sample (Euclidean, in a feature
space). A fake drawn independently from the real distribution typically lands about as far from ``r*`` as the
real neighbours of ``r*`` do (ratio around 1 or more, rarely far below); a copy or near-copy of a training image
has a ratio near 0. The same comparison underlies the "authenticity" of Alaa et al. (2022), "How Faithful is your
Synthetic Data?" (ICML), which flags ratios below 1; ganprobe flags ratios below 0.5 by default, a stricter cut
that independent samples rarely reach in feature spaces of more than a few dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ganprobe.defaults import setting
from ganprobe.errors import InputError
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES, check_features, knn

DEFAULT_COPY_THRESHOLD = setting("memorization", "threshold")


@dataclass(frozen=True)
class MemorizationResult:
    """Per-fake nearest real sample and copy ratio (all tensors on the inputs' device).

    Attributes:
        distance: ``(M,)`` float64, each fake's distance to its nearest real sample.
        real_index: ``(M,)`` int64, index of that real sample (ties: the lower index).
        real_spacing: ``(M,)`` float64, that real sample's distance to its nearest *other* real sample.
        ratio: ``(M,)`` float64, ``distance / real_spacing``; where ``real_spacing`` is 0 (a duplicated real),
            0 for an exact copy (``distance`` 0) and ``inf`` otherwise.
        num_real: the number of real samples searched.
    """

    distance: Tensor
    real_index: Tensor
    real_spacing: Tensor
    ratio: Tensor
    num_real: int


@dataclass(frozen=True)
class SuspectedCopy:
    """One generated sample and the training sample it may copy.

    Attributes:
        fake_index: row of the fake among the generated samples (update order).
        real_index: row of its nearest real sample among the real samples (update order).
        distance: Euclidean feature distance between the two.
        ratio: the copy ratio (``distance`` over the real's distance to its nearest other real); near 0: a copy.
        fake_path, real_path: the image files, when known (folder inputs), else ``None``.
    """

    fake_index: int
    real_index: int
    distance: float
    ratio: float
    fake_path: str | None = None
    real_path: str | None = None


def memorization_details(
    real: Tensor, fake: Tensor, block_bytes: int = DEFAULT_BLOCK_BYTES, process_group: Any = None
) -> MemorizationResult:
    """Nearest real sample and copy ratio of every fake (exact k-NN in bounded memory).

    Args:
        real: ``(N, D)`` features of the real (training) images, ``N >= 2``.
        fake: ``(M, D)`` features of generated images, same width.
        block_bytes: memory budget of one block of the distance matrix.
        process_group: under ``torch.distributed``, split the neighbour searches across the group's ranks (each
            searches its share of the rows; results gathered, identical to one process).

    Returns:
        A :class:`MemorizationResult`.

    Raises:
        InputError: non-finite or mis-shaped features, different widths, fewer than 2 real samples.
    """
    check_features(real, "real", min_rows=2)
    check_features(fake, "fake", min_rows=1)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    fake = fake.to(real.device, real.dtype)
    distance, index = knn(fake, real, 1, block_bytes=block_bytes, process_group=process_group)
    spacing_all, _ = knn(real, real, 1, exclude_self=True, block_bytes=block_bytes, process_group=process_group)
    distance, index = distance[:, 0], index[:, 0]
    spacing = spacing_all[index, 0]
    # x / 0 is inf for x > 0; an exact copy of a duplicated real (0 / 0) is a copy: ratio 0.
    ratio = torch.where(distance == 0, torch.zeros_like(distance), distance / spacing)
    return MemorizationResult(distance, index, spacing, ratio, num_real=real.shape[0])


def memorization_fraction(
    real: Tensor, fake: Tensor, threshold: float = DEFAULT_COPY_THRESHOLD, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Tensor:
    """Fraction of fakes whose copy ratio is below ``threshold``: likely copies of training samples.

    Args:
        real, fake, block_bytes: as in :func:`memorization_details`.
        threshold: ratios strictly below it count (default 0.5; Alaa et al.'s authenticity uses 1).

    Returns:
        A scalar float64 tensor in ``[0, 1]``; lower is better (0: no fake is suspiciously close to a real).

    Example:
        >>> import torch
        >>> real = torch.randn(100, 32, generator=torch.Generator().manual_seed(0))
        >>> float(memorization_fraction(real, real[:10] + 1e-4))
        1.0
    """
    _check_threshold(threshold)
    return (memorization_details(real, fake, block_bytes).ratio < threshold).double().mean()


def most_suspicious(
    result: MemorizationResult,
    n: int = 10,
    real_paths: Sequence[str | None] | None = None,
    fake_paths: Sequence[str | None] | None = None,
) -> list[SuspectedCopy]:
    """The ``n`` fakes with the lowest copy ratios, lowest first (ties: the lower fake index first).

    Args:
        result: from :func:`memorization_details`.
        n: how many records (fewer if there are fewer fakes).
        real_paths, fake_paths: image file per real / fake row (``None`` where unknown), for the records.

    Returns:
        A list of :class:`SuspectedCopy`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n: must be a positive integer, got {n!r}")
    num_fake = result.ratio.shape[0]
    for name, paths, rows in (("real_paths", real_paths, result.num_real), ("fake_paths", fake_paths, num_fake)):
        if paths is not None and len(paths) != rows:
            raise InputError(f"{name}: has {len(paths)} entries for {rows} samples")
    order = result.ratio.cpu().sort(stable=True).indices[:n].tolist()
    real_index = result.real_index.cpu().tolist()
    distance, ratio = result.distance.cpu().tolist(), result.ratio.cpu().tolist()
    records = []
    for fake_index in order:
        real_row = real_index[fake_index]
        records.append(
            SuspectedCopy(
                fake_index=fake_index,
                real_index=real_row,
                distance=distance[fake_index],
                ratio=ratio[fake_index],
                fake_path=None if fake_paths is None else fake_paths[fake_index],
                real_path=None if real_paths is None else real_paths[real_row],
            )
        )
    return records


def _check_threshold(threshold: float) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise InputError(f"threshold: must be a positive number, got {threshold!r}")
