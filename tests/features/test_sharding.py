"""Row sharding of the k-NN metrics in one process: shards concatenated == unsharded, for many shard counts.

``rows=(start, stop)`` runs one shard directly. The ``process_group=`` path is run with ranks simulated by threads
(the collectives of :mod:`ganprobe.utils.distributed` swapped for in-process exchanges), so shard counts above 2 and
empty shards (more ranks than rows) are covered without spawning processes; tests/metrics/test_ddp.py runs real gloo.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import ganprobe.utils.distributed as distributed
from ganprobe import KNNLOOAccuracy
from ganprobe.errors import InputError
from ganprobe.functional.knn_loo import knn_loo_details, knn_loo_neighbours
from ganprobe.functional.neighbours import knn
from ganprobe.functional.prdc import _ball_tests, kth_neighbour_distances, prdc_details
from ganprobe.utils.distributed import check_rows, metric_process_group, shard_range, shard_sizes

# importlib: ``ganprobe.functional.prdc`` as an attribute is the function of that name, not the module.
knn_loo_module = importlib.import_module("ganprobe.functional.knn_loo")
neighbours_module = importlib.import_module("ganprobe.functional.neighbours")
prdc_module = importlib.import_module("ganprobe.functional.prdc")
SHARD_COUNTS = (1, 2, 3, 7, 64)  # 64 > every row count below: empty shards


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Single-threaded torch: the simulated ranks are threads themselves."""


def make_features(rows: int, width: int = 5, seed: int = 0, duplicates: int = 6) -> Tensor:
    """Gaussian rows with a few exact duplicates (distance ties exercise the lower-index rule)."""
    features = torch.randn(rows, width, generator=torch.Generator().manual_seed(seed))
    features[-duplicates:] = features[0]
    return features


def brute_force(queries: Tensor, points: Tensor, k: int, exclude_self: bool) -> tuple[Tensor, Tensor]:
    """Independent float64 reference: full distance matrix, stable sort (ties -> lower index)."""
    squared = (queries.double()[:, None, :] - points.double()[None, :, :]).square().sum(dim=2)
    if exclude_self:
        squared.fill_diagonal_(float("inf"))
    order = np.argsort(squared.numpy(), axis=1, kind="stable")[:, :k]
    indices = torch.from_numpy(order)
    return squared.gather(1, indices).sqrt(), indices


def test_shards_tile_rows_like_numpy_array_split() -> None:
    for rows in (0, 1, 5, 17, 64):
        for world_size in SHARD_COUNTS:
            expected = [len(part) for part in np.array_split(np.arange(rows), world_size)]
            assert shard_sizes(rows, world_size) == expected
            ranges = [shard_range(rows, rank, world_size) for rank in range(world_size)]
            assert [stop - start for start, stop in ranges] == expected
            assert [start for start, _ in ranges] == list(np.cumsum([0, *expected[:-1]]))
    with pytest.raises(InputError, match="rank"):
        shard_range(5, 3, 3)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_knn_row_shards_concatenate_to_the_unsharded_search(exclude_self: bool) -> None:
    points = make_features(61)
    queries = points if exclude_self else make_features(23, seed=1, duplicates=0)
    queries[3] = points[0]  # a query on top of a duplicated point: tied candidates
    k = 4
    full_dist, full_index = knn(queries, points, k, exclude_self)
    ref_dist, ref_index = brute_force(queries, points, k, exclude_self)
    assert torch.equal(full_index, ref_index)
    torch.testing.assert_close(full_dist, ref_dist, rtol=1e-12, atol=1e-12)
    for world_size in SHARD_COUNTS:
        # Small blocks: shard and block boundaries fall in different places.
        parts = [
            knn(queries, points, k, exclude_self, block_bytes=61 * 4 * 3, rows=shard_range(len(queries), r, world_size))
            for r in range(world_size)
        ]
        assert torch.equal(torch.cat([index for _, index in parts]), full_index), world_size
        assert torch.equal(torch.cat([dist for dist, _ in parts]), full_dist), world_size


def test_knn_loo_and_radii_row_shards_concatenate() -> None:
    real, fake = make_features(40), make_features(33, seed=2) + 0.3
    labels, full = knn_loo_neighbours(real, fake, k=3)
    radii = kth_neighbour_distances(real, 5)
    for world_size in (2, 5, 80):
        parts = [knn_loo_neighbours(real, fake, 3, rows=shard_range(73, r, world_size))[1] for r in range(world_size)]
        assert torch.equal(torch.cat(parts), full)
        radius_parts = [
            kth_neighbour_distances(real, 5, rows=shard_range(40, r, world_size)) for r in range(world_size)
        ]
        assert torch.equal(torch.cat(radius_parts), radii)
    assert labels.tolist() == [0] * 40 + [1] * 33


def test_ball_test_shards_combine_to_the_unsharded_pass() -> None:
    real, fake = make_features(50).double(), make_features(45, seed=3).double() * 1.2
    real_radii, fake_radii = kth_neighbour_distances(real, 3), kth_neighbour_distances(fake, 3)
    balls, covered, recalled = _ball_tests(real, fake, real_radii, fake_radii, block_bytes=50 * 8 * 4)
    # Independent reference: the full distance matrix.
    distance = torch.cdist(fake, real)
    assert torch.equal(balls, (distance <= real_radii[None, :]).sum(dim=1))
    assert torch.equal(covered, (distance <= real_radii[None, :]).any(dim=0))
    assert torch.equal(recalled, (distance <= fake_radii[:, None]).any(dim=0))
    for world_size in (2, 3, 7, 64):
        shards = [
            _ball_tests(real, fake, real_radii, fake_radii, 50 * 8 * 4, shard_range(45, r, world_size))
            for r in range(world_size)
        ]
        assert torch.equal(torch.cat([part[0] for part in shards]), balls)
        assert torch.equal(torch.stack([part[1] for part in shards]).any(dim=0), covered)
        assert torch.equal(torch.stack([part[2] for part in shards]).any(dim=0), recalled)


def test_bad_rows_are_rejected() -> None:
    points = make_features(10)
    for rows in ((0, 11), (5, 4), (-1, 3), (0,), (0.0, 3)):
        with pytest.raises(InputError, match="rows"):
            knn(points, points, 2, rows=rows)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="either rows"):
        knn(points, points, 2, rows=(0, 5), process_group=object())
    assert check_rows(None, 7) == (0, 7)


class ThreadRanks:
    """``world_size`` simulated ranks: one thread each, with in-process stand-ins for the collectives."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self._barrier = threading.Barrier(world_size, timeout=60)
        self._slots: list[Any] = [None] * world_size
        self._local = threading.local()
        self.searched: list[list[tuple[int, int, int]]] = [[] for _ in range(world_size)]
        self.ball_rows: list[list[tuple[int, int]]] = [[] for _ in range(world_size)]

    def rank_and_world_size(self, process_group: Any = None) -> tuple[int, int]:
        return self._local.rank, self.world_size

    def _exchange(self, value: Tensor) -> list[Tensor]:
        self._slots[self._local.rank] = value
        self._barrier.wait()
        values = list(self._slots)
        self._barrier.wait()
        return values

    def gather_rows(self, local: Tensor, sizes: list[int], process_group: Any = None) -> Tensor:
        parts = self._exchange(local)
        assert [part.shape[0] for part in parts] == sizes
        return torch.cat(parts)

    def all_reduce_any(self, local: Tensor, process_group: Any = None) -> Tensor:
        return torch.stack(self._exchange(local)).any(dim=0)

    def all_reduce_sum(self, local: Tensor, process_group: Any = None) -> Tensor:
        return torch.stack(self._exchange(local)).sum(dim=0)

    def run(self, function: Callable[[], Any]) -> list[Any]:
        results: list[Any] = [None] * self.world_size
        errors: list[BaseException] = []

        def target(rank: int) -> None:
            self._local.rank = rank
            try:
                results[rank] = function()
            except BaseException as error:  # re-raised in the test thread
                errors.append(error)
                self._barrier.abort()

        threads = [threading.Thread(target=target, args=(rank,)) for rank in range(self.world_size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


@pytest.fixture
def thread_ranks(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], ThreadRanks]:
    def install(world_size: int) -> ThreadRanks:
        ranks = ThreadRanks(world_size)
        for module in (neighbours_module, prdc_module, knn_loo_module):
            for name in ("rank_and_world_size", "gather_rows", "all_reduce_any", "all_reduce_sum"):
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, getattr(ranks, name))
        search = neighbours_module._search

        def recording_search(queries: Tensor, points: Tensor, *args: Any) -> tuple[Tensor, Tensor]:
            start, stop = args[-2:]
            ranks.searched[ranks.rank_and_world_size()[0]].append((queries.shape[0], start, stop))
            return search(queries, points, *args)

        monkeypatch.setattr(neighbours_module, "_search", recording_search)
        ball_tests = prdc_module._ball_tests

        def recording_ball_tests(*args: Any) -> tuple[Tensor, Tensor, Tensor]:
            ranks.ball_rows[ranks.rank_and_world_size()[0]].append(args[5])
            return ball_tests(*args)

        monkeypatch.setattr(prdc_module, "_ball_tests", recording_ball_tests)
        return ranks

    return install


@pytest.mark.parametrize("world_size", [2, 3, 64])
def test_process_group_path_matches_one_process(world_size: int, thread_ranks: Callable[[int], ThreadRanks]) -> None:
    real, fake = make_features(41), make_features(37, seed=4) + 0.4
    expected_prdc = prdc_details(real, fake, k=3)
    expected_loo = knn_loo_details(real, fake, k=3, num_permutations=300, seed=5)
    ranks = thread_ranks(world_size)
    group = object()  # any non-None group: the collectives are simulated

    def one_rank() -> tuple[Any, ...]:
        return prdc_details(real, fake, 3, process_group=group), knn_loo_details(
            real, fake, 3, 300, 5, process_group=group
        )

    for details, loo in ranks.run(one_rank):
        assert torch.equal(details.fake_balls, expected_prdc.fake_balls)
        assert torch.equal(details.real_covered, expected_prdc.real_covered)
        assert torch.equal(details.real_recalled, expected_prdc.real_recalled)
        assert loo == expected_loo
    # Each rank searched exactly its shard of every search (real radii, fake radii, pooled KNN-LOO rows) and ran
    # the ball tests of its shard of fakes.
    for rank, calls in enumerate(ranks.searched):
        assert calls == [(n, *shard_range(n, rank, world_size)) for n in (41, 37, 78)]
        assert ranks.ball_rows[rank] == [shard_range(37, rank, world_size)]


def test_metric_computes_locally_outside_ddp() -> None:
    metric = KNNLOOAccuracy(k=1, extractor=None)
    metric.update(make_features(20), real=True)
    metric.update(make_features(20, seed=1) + 3, real=False)
    assert metric_process_group(metric) is None
    assert not distributed.is_distributed()
    assert distributed.rank_and_world_size() == (0, 1)
    local = torch.arange(6.0).reshape(3, 2)
    assert distributed.all_gather_variable(local) is local
    assert float(metric.compute()) == float(knn_loo_details(make_features(20), make_features(20, seed=1) + 3).accuracy)
