"""Both metrics under torch.distributed (2 CPU processes, gloo): synced results equal one process on all data."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganprobe import (
    CMMD,
    FID,
    KID,
    DensityCoverage,
    InceptionScore,
    KNNLOOAccuracy,
    LayerSeparability,
    Memorization,
    PrecisionRecall,
)


def make_data() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "real_a": torch.randn(41, 6, generator=gen),
        "fake_a": torch.randn(37, 6, generator=gen) + 0.5,
        "real_b": torch.randn(41, 3, generator=gen),
        "fake_b": torch.randn(37, 3, generator=gen) * 2,
    }


def compute_all(shards: list[tuple[int, int]], data: dict[str, torch.Tensor]) -> tuple:
    knn = KNNLOOAccuracy(k=3, extractor=None)
    sep = LayerSeparability(extractor=None, layers=["a", "b"], seed=1)
    scores = {
        "fid": FID(extractor=None, feature_dim=6),
        "kid": KID(extractor=None, subset_size=20, num_subsets=5),
        "pr": PrecisionRecall(extractor=None),
        "dc": DensityCoverage(extractor=None),
        "cmmd": CMMD(extractor=None),
        "memorization": Memorization(extractor=None),
    }
    inception = InceptionScore(extractor=None, splits=2)
    for real_slice, fake_slice in shards:
        for metric in (knn, *scores.values()):
            metric.update(data["real_a"][slice(*real_slice)], real=True)
            metric.update(data["fake_a"][slice(*fake_slice)], real=False)
        inception.update(data["fake_a"][slice(*fake_slice)], real=False)
        sep.update({"a": data["real_a"][slice(*real_slice)], "b": data["real_b"][slice(*real_slice)]}, real=True)
        sep.update({"a": data["fake_a"][slice(*fake_slice)], "b": data["fake_b"][slice(*fake_slice)]}, real=False)
    separability = {layer: {p: float(v) for p, v in s.items()} for layer, s in sep.compute().items()}
    values = {name: torch.as_tensor(metric.compute()).tolist() for name, metric in scores.items()}
    values["is"] = torch.stack(inception.compute()).tolist()
    return float(knn.compute()), knn.compute_details(num_permutations=100), separability, values


# Uneven contiguous shards, so the gathered order equals the single-process order.
RANK_SHARDS = {0: [((0, 20), (0, 25))], 1: [((20, 41), (25, 37))]}


def _worker(rank: int, port: int, queue: mp.Queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        queue.put((rank, compute_all(RANK_SHARDS[rank], make_data())))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_results_equal_single_process() -> None:
    expected = compute_all([((0, 41), (0, 37))], make_data())
    ctx = mp.get_context("spawn")
    port = free_port()
    queue = ctx.Queue()
    processes = [ctx.Process(target=_worker, args=(rank, port, queue)) for rank in range(2)]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert results[0][:3] == results[1][:3] == expected[:3]
    for name, value in expected[3].items():  # float sums may differ in the last bits with the summation order
        assert results[0][3][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert results[1][3][name] == results[0][3][name], name
