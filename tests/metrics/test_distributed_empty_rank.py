"""Every metric of the registry under torch.distributed when one rank holds no fake rows, or no real rows: the
synced value equals one process's on all rows (2 gloo processes, spawned)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from gloo_ranks import free_port

NUM_REAL, NUM_FAKE, WIDTH = 22, 19, 5
# Which rows each rank feeds: rank 1 holds no fake rows in one case and no real rows in the other.
CASES = {
    "no_fake_on_rank_1": {0: ((0, 12), (0, NUM_FAKE)), 1: ((12, NUM_REAL), (0, 0))},
    "no_real_on_rank_1": {0: ((0, NUM_REAL), (0, 8)), 1: ((0, 0), (8, NUM_FAKE))},
}


def _data() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "real": torch.randn(NUM_REAL, WIDTH, generator=generator, dtype=torch.float64),
        "fake": torch.randn(NUM_FAKE, WIDTH, generator=generator, dtype=torch.float64) * 1.3 + 0.2,
    }


def _metrics() -> dict[str, Any]:
    """One instance of every metric of the registry, on precomputed features."""
    from ganprobe.metrics.registry import metric_classes

    options: dict[str, dict[str, Any]] = {
        "kid": {"subset_size": 6, "num_subsets": 4},
        "inception_score": {"splits": 2},
        "precision_recall": {"k": 2},
        "density_coverage": {"k": 2},
        "knn_loo": {"k": 1},
        "layer_separability": {"layers": ["features"], "folds": 2},
    }
    return {name: cls(extractor=None, **options.get(name, {})) for name, cls in metric_classes().items()}


def _values(rows: tuple[tuple[int, int], tuple[int, int]]) -> dict[str, Any]:
    data = _data()
    results = {}
    for name, metric in _metrics().items():
        (real_start, real_stop), (fake_start, fake_stop) = rows
        if real_stop > real_start and metric.uses_real:
            metric.update(data["real"][real_start:real_stop], real=True)
        if fake_stop > fake_start:
            metric.update(data["fake"][fake_start:fake_stop], real=False)
        value = metric.compute()
        items = value.items() if isinstance(value, dict) else [("value", value)]
        results[name] = {key: float(item) for key, item in items}
    return results


def _worker(rank: int, port: int, queue: Any) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        got = {}
        for case, ranks in CASES.items():
            try:
                got[case] = _values(ranks[rank])
            except Exception as exc:  # noqa: BLE001 - reported to the test, which names it
                got[case] = f"{type(exc).__name__}: {exc}"
                break  # the group is out of step after a failed collective
        queue.put((rank, got))
    finally:
        dist.destroy_process_group()


def test_every_metric_with_one_rank_holding_no_rows_of_a_set(one_torch_thread: None) -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    processes = [ctx.Process(target=_worker, args=(rank, port, queue)) for rank in range(2)]
    for process in processes:
        process.start()
    expected = _values(((0, NUM_REAL), (0, NUM_FAKE)))  # one process, every row, while the workers start
    got = dict(queue.get(timeout=180) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    for rank in (0, 1):
        for case in CASES:
            result = got[rank].get(case)
            assert isinstance(result, dict), (rank, case, result)
            assert result.keys() == expected.keys()
            for name, values in expected.items():
                assert result[name] == pytest.approx(values, rel=1e-9, abs=1e-12), (rank, case, name)
