"""Exact k-nearest-neighbour search in bounded memory (the shared core of 1-NN LOO, PRDC and memorisation).

Squared Euclidean distances are computed a block of rows at a time with one matrix product
(``|a|^2 + |b|^2 - 2 a.b``), so memory is ``O(block_rows * N)`` instead of ``O(N^2)``. The matrix-product form can
misorder candidates that differ by round-off, so each row keeps ``k + extra`` candidates and they are re-ranked by
exact float64 differences ``sum((a - b)^2)``; equal distances are broken by the lower index. The result is the
exact neighbour list that a float64 brute-force search gives, at float32 matrix-product speed.

Each query row's result depends only on that row and the points, never on which other rows are searched with it,
so the query rows can be split: ``rows=(start, stop)`` searches one shard, and ``process_group=`` splits the rows
over ``torch.distributed`` ranks and all-gathers them (see :mod:`ganprobe.utils.distributed`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.utils.distributed import (
    ProcessGroup,
    check_rows,
    gather_rows,
    rank_and_world_size,
    shard_range,
    shard_sizes,
)

# Rows per block are chosen so one block of distances takes about this many bytes.
DEFAULT_BLOCK_BYTES = 256 * 2**20
_RERANK_EXTRA = 8
# Rows re-ranked at once: keeps the (rows, k + extra, D) float64 differences cache-sized (about 2 MiB at D = 512).
_RERANK_ROWS = 64
# Candidate selection reads each score row as chunks of this many columns: the minimum of every chunk (one
# vectorised pass), then a top-k over those minima and over the few chunks they name, instead of a top-k over the
# whole row (which costs several times the matrix product's own memory traffic on CPU).
_CHUNK = 64


def check_features(features: Tensor, argument: str, min_rows: int = 1) -> Tensor:
    """Validate a ``(N, D)`` floating feature matrix: rank, size, and finite values (one host sync).

    Raises:
        InputError: naming ``argument`` and what is wrong.
    """
    if not isinstance(features, Tensor):
        raise InputError(f"{argument}: expected a torch.Tensor of shape (N, D), got {type(features).__name__}")
    if features.ndim != 2:
        raise InputError(f"{argument}: expected shape (N, D), got {tuple(features.shape)}")
    if features.shape[0] < min_rows:
        raise InputError(f"{argument}: needs at least {min_rows} samples, got {features.shape[0]}")
    if not features.is_floating_point():
        raise InputError(f"{argument}: expected floating-point features, got dtype {features.dtype}")
    if not bool(torch.isfinite(features).all()):
        raise InputError(f"{argument}: contains NaN or infinite values")
    return features


def check_feature_pair(real: Tensor, fake: Tensor, min_real: int = 1, min_fake: int = 1) -> None:
    """Validate real and fake ``(N, D)`` features (:func:`check_features`) of one width.

    Raises:
        InputError: naming ``real`` or ``fake`` and what is wrong, or the two widths.
    """
    check_features(real, "real", min_rows=min_real)
    check_features(fake, "fake", min_rows=min_fake)
    if real.shape[1] != fake.shape[1]:
        raise InputError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")


def block_rows(num_columns: int, block_bytes: int = DEFAULT_BLOCK_BYTES, itemsize: int = 4) -> int:
    """How many rows of an ``(rows, num_columns)`` distance block fit in ``block_bytes``."""
    return max(1, min(num_columns, block_bytes // max(1, num_columns * itemsize)))


def _exact_sq_dist(queries: Tensor, candidates: Tensor) -> Tensor:
    """``queries``: (B, D), ``candidates``: (B, C, D) -> (B, C) float64 squared distances."""
    # In place on one float64 copy: the same values as ``(c - q).square()``, one pass fewer over the block.
    diff = candidates.to(torch.float64, copy=True)
    return diff.sub_(queries.double().unsqueeze(1)).square_().sum(dim=2)


def _exact_row(query: Tensor, points: Tensor, k: int, own_index: int | None) -> tuple[Tensor, Tensor]:
    """Exact float64 search of one query over all points: ``(indices, squared distances)``, ties -> lower index."""
    squared = (points.double() - query.double()).square().sum(dim=1)
    if own_index is not None:
        squared[own_index] = float("inf")
    order = squared.sort(stable=True).indices[:k]
    return order, squared[order]


def _centred(features: Tensor, centre: Tensor, dtype: torch.dtype, block_bytes: int) -> Tensor:
    """``features - centre`` in ``dtype``, converted a chunk of rows at a time (no full float64 copy)."""
    out = torch.empty(features.shape, dtype=dtype, device=features.device)
    chunk = max(1, block_bytes // (8 * max(1, features.shape[1])))
    for start in range(0, features.shape[0], chunk):
        out[start : start + chunk] = features[start : start + chunk].double() - centre
    return out


def _mean_rows(features: Tensor, block_bytes: int) -> Tensor:
    """Float64 mean of the rows, summed a chunk at a time (deterministic, no full float64 copy)."""
    total = torch.zeros(features.shape[1], dtype=torch.float64, device=features.device)
    chunk = max(1, block_bytes // (8 * max(1, features.shape[1])))
    for start in range(0, features.shape[0], chunk):
        total += features[start : start + chunk].double().sum(dim=0)
    return total / features.shape[0]


def _scaled_points(features: Tensor, centre: Tensor, dtype: torch.dtype, block_bytes: int) -> Tensor:
    """``[-2 (x - centre), |x - centre|^2]`` rows in ``dtype``, padded with rows ``[0, huge]`` to whole chunks.

    The padding rows score far above any real point, so they are never selected; a chunk of rows is converted at
    a time (no full float64 copy).
    """
    num, dim = features.shape
    padded = -(-num // _CHUNK) * _CHUNK
    out = torch.zeros(padded, dim + 1, dtype=dtype, device=features.device)
    chunk = max(1, min(block_bytes, 2**24) // (8 * max(1, dim)))  # float64 temporaries of at most 16 MiB
    for first in range(0, num, chunk):
        last = min(first + chunk, num)
        centred = (features[first:last].double() - centre).to(dtype)
        out[first:last, dim] = centred.square().sum(dim=1)
        torch.mul(centred, -2.0, out=out[first:last, :dim])
    out[num:, dim] = torch.finfo(dtype).max / 4
    return out


def _smallest_columns(score: Tensor, count: int) -> Tensor:
    """Column indices (ascending) of the ``count`` smallest entries of each row of ``score`` (ties: any).

    The ``count`` smallest entries of a row lie in the ``count`` chunks with the smallest minima (a chunk left out
    has a minimum at least that of ``count`` chunks kept, each holding an entry that small), so only those chunks
    are searched.
    """
    num_rows, width = score.shape
    num_chunks = width // _CHUNK
    if num_chunks <= count or width % _CHUNK:
        return score.topk(count, dim=1, largest=False).indices.sort(dim=1).values
    minima = score.view(num_rows, num_chunks, _CHUNK).amin(dim=2)
    chunks = minima.topk(count, dim=1, largest=False).indices
    columns = (chunks.unsqueeze(2) * _CHUNK + torch.arange(_CHUNK, device=score.device)).flatten(1)
    best = score.gather(1, columns).topk(count, dim=1, largest=False).indices
    return columns.gather(1, best).sort(dim=1).values


def knn(
    queries: Tensor,
    points: Tensor,
    k: int,
    exclude_self: bool = False,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    rows: tuple[int, int] | None = None,
    process_group: ProcessGroup | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest ``points`` of each query row, exactly.

    Args:
        queries: ``(M, D)``; when ``exclude_self`` it must be ``points`` itself (row ``i`` is point ``i``).
        points: ``(N, D)``, same device.
        k: neighbours per query (``k <= N``, or ``k <= N - 1`` with ``exclude_self``).
        exclude_self: leave-one-out: a point is never its own neighbour (duplicates of it still count).
        block_bytes: memory budget of one block of the distance matrix.
        rows: search only query rows ``[start, stop)`` (one shard; the result has ``stop - start`` rows).
        process_group: shard the query rows over this ``torch.distributed`` group (e.g. ``dist.group.WORLD``):
            each rank searches its :func:`~ganprobe.utils.distributed.shard_range` and the rows are all-gathered, so
            every
            rank returns all ``M`` rows. Every rank must pass the same ``queries`` and ``points``. ``None``: no
            sharding. Not combinable with ``rows``.

    Returns:
        ``(distances, indices)``: ``(M, k)`` Euclidean distances (float64, ascending) and ``(M, k)`` int64
        indices into ``points``; ties are broken by the lower index. The rows do not depend on ``rows``,
        ``process_group`` or ``block_bytes``.
    """
    n_points = points.shape[0]
    available = n_points - 1 if exclude_self else n_points
    if not 1 <= k <= available:
        raise InputError(f"k: must be between 1 and {available} for {n_points} points, got {k}")
    if rows is not None and process_group is not None:
        raise InputError("rows: give either rows=(start, stop) or process_group, not both")
    if exclude_self and queries.shape[0] != n_points:
        raise InputError(f"queries: with exclude_self they must be the points, got {queries.shape[0]} vs {n_points}")
    if process_group is None:
        start, stop = check_rows(rows, queries.shape[0])
        return _search(queries, points, k, exclude_self, block_bytes, start, stop)
    rank, world_size = rank_and_world_size(process_group)
    start, stop = shard_range(queries.shape[0], rank, world_size)
    distances, indices = _search(queries, points, k, exclude_self, block_bytes, start, stop)
    if world_size == 1:
        return distances, indices
    sizes = shard_sizes(queries.shape[0], world_size)
    return gather_rows(distances, sizes, process_group), gather_rows(indices, sizes, process_group)


def _search(
    queries: Tensor, points: Tensor, k: int, exclude_self: bool, block_bytes: int, start: int, stop: int
) -> tuple[Tensor, Tensor]:
    """:func:`knn` of query rows ``[start, stop)`` (validated arguments): ``(stop - start, k)`` results."""
    n_points = points.shape[0]
    available = n_points - 1 if exclude_self else n_points
    num_candidates = min(available, k + _RERANK_EXTRA)
    if stop <= start:
        empty = torch.empty(0, k, dtype=torch.float64, device=points.device)
        return empty, torch.empty(0, k, dtype=torch.long, device=points.device)
    # float64 inputs stay float64; anything else searches in float32 and re-ranks in float64. Centring first
    # (distances do not change) keeps a large common offset from swamping the float32 expansion's precision.
    search_dtype = torch.float64 if points.dtype == torch.float64 else torch.float32
    centre = _mean_rows(points, block_bytes)
    work = _scaled_points(points, centre, search_dtype, block_bytes)
    dim = points.shape[1]
    if not exclude_self:
        work_queries = _centred(queries[start:stop], centre, search_dtype, block_bytes)
    rows = block_rows(work.shape[0], block_bytes, work.element_size())
    # One reusable block buffer: score = |b|^2 - 2 a.b (the row's own |a|^2 is a constant, so this orders each row
    # like the squared distance), written by one plain matrix product: [a, 1] . [-2 b, |b|^2].
    scores = torch.empty(min(rows, stop - start), work.shape[0], dtype=work.dtype, device=work.device)
    query_buffer = torch.ones(min(rows, stop - start), dim + 1, dtype=work.dtype, device=work.device)
    out_dist, out_index = [], []
    for offset in range(0, stop - start, rows):
        count = min(rows, stop - start - offset)
        block = query_buffer[:count]
        if exclude_self:  # the points' rows, unscaled: -0.5 * (-2 b) is exact in binary floating point
            torch.mul(work[start + offset : start + offset + count, :dim], -0.5, out=block[:, :dim])
        else:
            block[:, :dim] = work_queries[offset : offset + count]
        score = scores[:count]
        torch.mm(block, work.T, out=score)
        if exclude_self:
            diagonal = torch.arange(count, device=block.device)
            score[diagonal, diagonal + start + offset] = float("inf")
        candidates = _smallest_columns(score, num_candidates)
        for sub in range(0, block.shape[0], _RERANK_ROWS):
            index = candidates[sub : sub + _RERANK_ROWS]
            first = start + offset + sub
            # Re-rank exactly: candidates in index order, then stably by exact distance (ties -> lower index).
            exact = _exact_sq_dist(queries[first : first + index.shape[0]], points[index])
            if exclude_self:
                own = torch.arange(first, first + index.shape[0], device=index.device).unsqueeze(1)
                exact = exact.masked_fill(index == own, float("inf"))
            order = exact.sort(dim=1, stable=True).indices
            chosen, chosen_sq = index.gather(1, order[:, :k]), exact.gather(1, order[:, :k])
            if num_candidates < available:
                # More points may tie with the k-th than the candidate window holds (duplicates, mode collapse):
                # those rows are redone exactly over all points so the lower-index rule holds.
                window_last = exact.gather(1, order[:, -1:]).squeeze(1)
                for row in torch.nonzero(window_last <= chosen_sq[:, -1]).flatten().tolist():
                    chosen[row], chosen_sq[row] = _exact_row(
                        queries[first + row], points, k, first + row if exclude_self else None
                    )
            out_index.append(chosen)
            out_dist.append(chosen_sq.clamp_min(0).sqrt())
    return torch.cat(out_dist), torch.cat(out_index)
