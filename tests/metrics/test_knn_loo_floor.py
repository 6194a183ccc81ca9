"""k-NN search at the matrix-product floor (issue 26, item 4): same neighbours, no full-row top-k per query.

Correctness only (the speed ratio against a plain ``torch.mm`` is measured in ``benchmarks/knn_loo.py``).
"""

from __future__ import annotations

import pytest
import torch
from sklearn.neighbors import NearestNeighbors
from torch import Tensor

from ganprobe.functional import neighbours
from ganprobe.functional.knn_loo import knn_loo_accuracy
from ganprobe.functional.neighbours import _CHUNK, _smallest_columns, knn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _brute_force(queries: Tensor, points: Tensor, k: int, exclude_self: bool) -> tuple[Tensor, Tensor]:
    """Float64 brute force, ties broken by the lower index (the contract of ``knn``)."""
    squared = (queries.double().unsqueeze(1) - points.double().unsqueeze(0)).square().sum(dim=2)
    if exclude_self:
        squared.fill_diagonal_(float("inf"))
    order = squared.sort(dim=1, stable=True).indices[:, :k]
    return squared.gather(1, order).sqrt(), order


def _points(n: int, dim: int, seed: int, dtype: torch.dtype = torch.float32, duplicates: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=generator, dtype=torch.float64) * 3 + 5
    if duplicates:
        x[-duplicates:] = x[:duplicates]  # exact copies: ties that only the lower-index rule resolves
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n", "dim", "k", "duplicates"), [(301, 7, 1, 0), (300, 16, 3, 40), (130, 5, 5, 0)])
@pytest.mark.parametrize("exclude_self", [True, False])
def test_knn_matches_float64_brute_force(
    n: int, dim: int, k: int, duplicates: int, exclude_self: bool, dtype: torch.dtype
) -> None:
    points = _points(n, dim, seed=n + dim, dtype=dtype, duplicates=duplicates)
    queries = points if exclude_self else _points(57, dim, seed=1, dtype=dtype)
    expected_distances, expected_indices = _brute_force(queries, points, k, exclude_self)
    for block_bytes in (4 * 1024, neighbours.DEFAULT_BLOCK_BYTES):  # many small blocks, and one
        distances, indices = knn(queries, points, k, exclude_self, block_bytes)
        assert torch.equal(indices, expected_indices)
        torch.testing.assert_close(distances, expected_distances, rtol=1e-12, atol=1e-12)


def test_knn_matches_scikit_learn() -> None:
    points = _points(700, 12, seed=3)
    _, indices = knn(points, points, 3, exclude_self=True, block_bytes=64 * 1024)
    reference = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(points.double().numpy()).kneighbors()[1]
    assert torch.equal(indices, torch.from_numpy(reference))


@pytest.mark.parametrize("count", [1, 3, 9, 40])
def test_smallest_columns_are_the_top_k(count: int) -> None:
    generator = torch.Generator().manual_seed(count)
    score = torch.randn(37, 10 * _CHUNK, generator=generator)  # distinct values: the set is unique
    expected = score.topk(count, dim=1, largest=False).indices.sort(dim=1).values
    assert torch.equal(_smallest_columns(score, count), expected)


def test_smallest_columns_with_all_candidates_in_one_chunk() -> None:
    score = torch.arange(4 * _CHUNK, dtype=torch.float32).flip(0).repeat(3, 1)
    expected = torch.arange(4 * _CHUNK - 9, 4 * _CHUNK).repeat(3, 1)
    assert torch.equal(_smallest_columns(score, 9), expected)


def test_no_full_row_top_k(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting, not timing: the candidate search never runs a top-k over a whole row of N scores."""
    widths: list[int] = []
    original = torch.Tensor.topk

    def recorded(self: Tensor, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        widths.append(int(self.shape[-1]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "topk", recorded)
    real, fake = _points(1000, 8, seed=4), _points(1000, 8, seed=5) + 0.5
    value = float(knn_loo_accuracy(real, fake, k=3))
    # Chunk minima (N / chunk wide), then the k + 8 chunks they name; never the 2,000-wide row.
    assert widths and max(widths) <= (3 + neighbours._RERANK_EXTRA) * _CHUNK < 2000
    monkeypatch.undo()
    pooled = torch.cat([real, fake])
    _, reference = _brute_force(pooled, pooled, 3, exclude_self=True)
    labels = torch.cat([torch.zeros(1000, dtype=torch.long), torch.ones(1000, dtype=torch.long)])
    expected = ((labels[reference].sum(dim=1) * 2 > 3).long() == labels).double().mean()
    assert value == float(expected)
