"""Pixel copy check: is a fake a copy of a real image, allowing a small shift and a lossy re-encoding?

A network's features move under a one-pixel shift about as far as from one image to another (a 28 px MNIST digit
shifted by one pixel is rarely its own nearest neighbour in ``lenet-mnist`` space), so the feature-space copy ratio
of :mod:`ganprobe.functional.memorization` misses shifted copies. This check compares the images themselves, as
small grey thumbnails (:func:`copy_thumbnails`, at most 64 x 64, taken from the extractor's preprocessed input):

- every thumbnail is cropped by ``max_shift`` pixels on each side; a fake is compared with a real under each of the
  ``(2 max_shift + 1)^2`` relative shifts of its crop, and the smallest distance counts;
- each crop is centred (its mean subtracted) and scaled to unit length, so a change of brightness or contrast, or a
  JPEG re-encoding, moves it little;
- the *pixel copy ratio* is, as in feature space, the fake's shift-tolerant distance to its nearest real over that
  real's shift-tolerant distance to its nearest other real; near 0: a copy.

For speed the shift-tolerant distances are computed to the ``candidates`` nearest reals of the unshifted crop (an
exact search) rather than to every real: a copy shifted by a pixel of a thumbnail stays among its original's
nearest unshifted neighbours (``benchmarks/memorization_calibration.py`` measures how often copies are found).
Every row's result depends only on that row and the reals, never on the batch or block size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES, check_features, knn

# The thumbnails' largest side (pixels), the largest relative shift tried, and the candidates checked per row.
THUMBNAIL_SIZE = 64
MAX_SHIFT = 1
CANDIDATES = 64
# Rows whose shifted crops are compared with their candidates at once (bounds the (rows, shifts, candidates, D)
# float64 products to about 100 MiB at 64 px).
_ROWS = 32


def copy_thumbnails(batch: Tensor, size: int = THUMBNAIL_SIZE) -> Tensor:
    """Grey square thumbnails of a batch of images, flattened: what the pixel copy check compares.

    Args:
        batch: ``(N, C, H, W)`` images (any value range: the check centres and scales every crop).
        size: the thumbnails' side when the images are larger (they are never enlarged).

    Returns:
        ``(N, side * side)`` float32, ``side = min(size, H, W)``: the channel mean, resized with antialiasing.
    """
    if not isinstance(batch, Tensor) or batch.ndim != 4:
        shape = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        raise InputError(f"thumbnails need a batch of images (N, C, H, W), got {shape}")
    grey = batch.float().mean(dim=1, keepdim=True)
    side = min(size, grey.shape[2], grey.shape[3])
    if grey.shape[2:] != (side, side):
        grey = torch.nn.functional.interpolate(grey, size=(side, side), mode="bilinear", antialias=True)
    return grey.flatten(1).contiguous()


def thumbnail_side(thumbnails: Tensor, argument: str) -> int:
    """The side of flattened square thumbnails, ``(N, side * side)``; raises :class:`InputError` if not square."""
    side = int(round(thumbnails.shape[1] ** 0.5))
    if side * side != thumbnails.shape[1] or side < 2 * MAX_SHIFT + 2:
        raise InputError(f"{argument}: expected flattened square thumbnails (N, side * side), got {thumbnails.shape}")
    return side


def _crops(thumbnails: Tensor, side: int, max_shift: int, shifts: list[tuple[int, int]]) -> Tensor:
    """``(N, len(shifts), D)`` float64 crops, each centred and at unit length."""
    images = thumbnails.double().reshape(-1, side, side)
    inner = side - 2 * max_shift
    views = [images[:, max_shift + dy : max_shift + dy + inner, max_shift + dx : max_shift + dx + inner]
             for dy, dx in shifts]  # fmt: skip
    crops = torch.stack(views, dim=1).flatten(2)
    crops = crops - crops.mean(dim=2, keepdim=True)
    return torch.nn.functional.normalize(crops, dim=2)


def _coarse(crops: Tensor, inner: int) -> Tensor:
    """Crops ``(N, inner * inner)`` averaged over 2 x 2 pixels, centred and at unit length, as float32."""
    images = crops.reshape(-1, 1, inner, inner).float()
    coarse = torch.nn.functional.avg_pool2d(images, 2, ceil_mode=True).flatten(1)
    return torch.nn.functional.normalize(coarse - coarse.mean(dim=1, keepdim=True), dim=1)


def _shift_list(max_shift: int) -> list[tuple[int, int]]:
    """Every relative shift, the unshifted one first."""
    others = [(dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)]
    return [(0, 0)] + [shift for shift in others if shift != (0, 0)]


def shifted_neighbours(
    queries: Tensor,
    points: Tensor,
    k: int,
    exclude_self: bool = False,
    max_shift: int = MAX_SHIFT,
    candidates: int = CANDIDATES,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: Any = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest points of every query under the shift-tolerant thumbnail distance.

    Args:
        queries: ``(M, side * side)`` thumbnails (:func:`copy_thumbnails`).
        points: ``(N, side * side)`` thumbnails of the same side.
        k: neighbours per query.
        exclude_self: ``queries`` are ``points`` (same rows): a row is not its own neighbour.
        max_shift: largest relative shift tried, in thumbnail pixels.
        candidates: nearest unshifted neighbours among which the shift-tolerant ones are sought (at least ``k``).
        block_bytes, process_group: as in :func:`ganprobe.functional.neighbours.knn`.

    Returns:
        ``(distances, indices)``, each ``(M, k)``: float64 Euclidean distances between unit-length centred crops
        (0 to 2), ascending (ties: the lower index), and int64 rows of ``points``.
    """
    side = thumbnail_side(points, "points")
    if queries.shape[1] != points.shape[1]:
        raise InputError(f"queries and points differ in width: {queries.shape[1]} vs {points.shape[1]}")
    available = points.shape[0] - (1 if exclude_self else 0)
    if not 1 <= k <= available:
        raise InputError(f"k: must be between 1 and {available}, got {k}")
    shifts = _shift_list(max_shift)
    point_crops = _crops(points, side, max_shift, shifts[:1])[:, 0]
    # candidates: nearest neighbours at half resolution, where a shift of a pixel is half a pixel and moves little
    inner = side - 2 * max_shift
    point_coarse = _coarse(point_crops, inner)
    query_coarse = point_coarse if exclude_self else _coarse(_crops(queries, side, max_shift, shifts[:1])[:, 0], inner)
    wanted = min(max(candidates, k), available)
    every_point = wanted == available  # no fewer candidates than points: compare with all, no search, no gather
    if not every_point:
        _, candidate_rows = knn(
            query_coarse, point_coarse, wanted, exclude_self=exclude_self, block_bytes=block_bytes,
            process_group=process_group,
        )  # fmt: skip
    distances, indices = [], []
    for start in range(0, queries.shape[0], _ROWS):
        shifted = _crops(queries[start : start + _ROWS], side, max_shift, shifts)  # (R, S, D)
        # |a - b|^2 = 2 - 2 a.b for unit vectors; the largest product over the shifts is the smallest distance.
        if every_point:
            products = torch.einsum("rsd,cd->rsc", shifted, point_crops).amax(dim=1)
            rows = torch.arange(points.shape[0], device=products.device).expand(products.shape[0], -1)
            if exclude_self:  # a row is not its own neighbour: drop the diagonal
                keep = rows != torch.arange(start, start + products.shape[0], device=rows.device)[:, None]
                products, rows = products[keep].view(products.shape[0], -1), rows[keep].view(products.shape[0], -1)
        else:
            rows = candidate_rows[start : start + _ROWS]
            products = torch.einsum("rsd,rcd->rsc", shifted, point_crops[rows]).amax(dim=1)
        distance = (2 - 2 * products).clamp_min(0).sqrt()
        # ascending distance, ties by the lower index: sort by index first, then stably by distance
        by_index = rows.argsort(dim=1)
        rows, distance = rows.gather(1, by_index), distance.gather(1, by_index)
        order = distance.argsort(dim=1, stable=True)[:, :k]
        distances.append(distance.gather(1, order))
        indices.append(rows.gather(1, order))
    return torch.cat(distances), torch.cat(indices)


@dataclass(frozen=True)
class PixelCopyResult:
    """Per-fake nearest real thumbnail and pixel copy ratio.

    Attributes:
        distance: ``(M,)`` float64 shift-tolerant distance to the nearest real.
        real_index: ``(M,)`` int64 row of that real.
        ratio: ``(M,)`` float64, ``distance`` over that real's distance to its nearest other real (0 for an exact
            copy, ``inf`` where that spacing is 0 but the distance is not).
    """

    distance: Tensor
    real_index: Tensor
    ratio: Tensor


def pixel_copy_details(
    real: Tensor,
    fake: Tensor,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: Any = None,
) -> PixelCopyResult:
    """Nearest real and pixel copy ratio of every fake thumbnail.

    Args:
        real: ``(N, side * side)`` thumbnails of the real images, ``N >= 2``.
        fake: ``(M, side * side)`` thumbnails of the generated images.
        block_bytes, process_group: as in :func:`ganprobe.functional.neighbours.knn`.

    Returns:
        A :class:`PixelCopyResult`.
    """
    check_features(real, "real thumbnails", min_rows=2)
    check_features(fake, "fake thumbnails", min_rows=1)
    fake = fake.to(real.device)
    distance, index = shifted_neighbours(fake, real, 1, block_bytes=block_bytes, process_group=process_group)
    spacing, _ = shifted_neighbours(real, real, 1, True, block_bytes=block_bytes, process_group=process_group)
    distance, index = distance[:, 0], index[:, 0]
    spacing = spacing[index, 0]
    ratio = torch.where(distance == 0, torch.zeros_like(distance), distance / spacing)
    return PixelCopyResult(distance, index, ratio)


def pixel_leave_one_out_ratios(
    real: Tensor, block_bytes: int = DEFAULT_BLOCK_BYTES, process_group: Any = None
) -> Tensor:
    """Pixel copy ratio of every real thumbnail against the other reals, as if it were a fresh sample.

    Args:
        real: ``(N, side * side)`` thumbnails, ``N >= 3``.
        block_bytes, process_group: as in :func:`ganprobe.functional.neighbours.knn`.

    Returns:
        ``(N,)`` float64 ratios (see :func:`ganprobe.functional.memorization.leave_one_out_ratios`).
    """
    check_features(real, "real thumbnails", min_rows=3)
    distance, index = shifted_neighbours(real, real, 2, True, block_bytes=block_bytes, process_group=process_group)
    neighbour = index[:, 0]
    rows = torch.arange(real.shape[0], device=real.device)
    spacing = torch.where(index[neighbour, 0] == rows, distance[neighbour, 1], distance[neighbour, 0])
    return torch.where(distance[:, 0] == 0, torch.zeros_like(spacing), distance[:, 0] / spacing)


# The pixel threshold is this share of the leave-one-out quantile: copies sit far below it (shifted copies near 0,
# JPEG q=90 re-encodings at most ~0.13 on MNIST), honest images rarely get near it, so the pixel check adds almost
# no false flags to the feature check's (``benchmarks/memorization_calibration.py`` measures both).
PIXEL_MARGIN = 0.5


def pixel_leave_one_out_threshold(
    real: Tensor,
    rate: float = 0.001,
    margin: float = PIXEL_MARGIN,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    process_group: Any = None,
) -> float:
    """The pixel copy threshold calibrated on the real thumbnails: ``margin`` times the ``rate`` quantile (lower
    order statistic) of their positive leave-one-out ratios.

    Args:
        real: ``(N, side * side)`` thumbnails, ``N >= 3``.
        rate: the share of fresh reals the leave-one-out quantile would flag (default 0.001).
        margin: the share of that quantile used (default :data:`PIXEL_MARGIN`).
        block_bytes, process_group: as in :func:`ganprobe.functional.neighbours.knn`.

    Returns:
        A positive float (``inf`` when every real thumbnail duplicates another).
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise InputError(f"rate: must be a number in (0, 1), got {rate!r}")
    ratios = pixel_leave_one_out_ratios(real, block_bytes, process_group)
    positive = ratios[ratios > 0]
    if positive.numel() == 0:
        return float("inf")
    return margin * float(torch.quantile(positive.cpu(), rate, interpolation="lower"))
