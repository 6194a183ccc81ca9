"""Every metric under torch.distributed (2 CPU processes, gloo): synced results equal one process on all data,
and the k-NN metrics split their work: each rank computes only its shard of the rows.

One spawned run holds every check (starting a process group costs ~10 s per process here).
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import torch
import torch.distributed as dist
from gloo_ranks import run_on_two_ranks

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
from ganprobe.functional.neighbours import knn
from ganprobe.utils.distributed import all_gather_variable, gather_rows, shard_range

NUM_REAL, NUM_FAKE = 41, 37
# The metric being computed, for the log of which rows each rank computes (see _record_row_work).
PHASE = ["update"]


def make_data() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    data = {
        "real_a": torch.randn(NUM_REAL, 6, generator=gen),
        "fake_a": torch.randn(NUM_FAKE, 6, generator=gen) + 0.5,
        "real_b": torch.randn(NUM_REAL, 3, generator=gen),
        "fake_b": torch.randn(NUM_FAKE, 3, generator=gen) * 2,
    }
    data["fake_a"][:3] = data["real_a"][:3]  # exact copies: distance ties and memorised samples
    return data


def plain(value: torch.Tensor | dict[str, torch.Tensor]) -> float | dict[str, float]:
    """A ``compute()`` result (a 0-d tensor, or a flat dict of them) as plain Python floats."""
    if isinstance(value, dict):
        assert all(item.ndim == 0 for item in value.values())
        return {key: item.item() for key, item in value.items()}
    assert value.ndim == 0
    return value.item()


def compute_all(shards: list[tuple[tuple[int, int], tuple[int, int]]], data: dict[str, torch.Tensor]) -> dict:
    """Feed this process's slices to every metric and return every result as plain Python values."""
    sep = LayerSeparability(extractor=None, layers=["a", "b"], seed=1)
    scores = {
        "knn": KNNLOOAccuracy(k=3, extractor=None),
        "pr": PrecisionRecall(extractor=None),
        "dc": DensityCoverage(extractor=None),
        "memorization": Memorization(extractor=None),
        "fid": FID(extractor=None, feature_dim=6),
        "kid": KID(extractor=None, subset_size=20, num_subsets=5),
        "cmmd": CMMD(extractor=None),
    }
    inception = InceptionScore(extractor=None, splits=2)
    for real_slice, fake_slice in shards:
        for metric in scores.values():
            metric.update(data["real_a"][slice(*real_slice)], real=True)
            metric.update(data["fake_a"][slice(*fake_slice)], real=False)
        inception.update(data["fake_a"][slice(*fake_slice)], real=False)
        sep.update({"a": data["real_a"][slice(*real_slice)], "b": data["real_b"][slice(*real_slice)]}, real=True)
        sep.update({"a": data["fake_a"][slice(*fake_slice)], "b": data["fake_b"][slice(*fake_slice)]}, real=False)
    exact = {}
    for name in ("knn", "pr", "dc", "memorization"):
        PHASE[0] = name
        exact[name] = plain(scores[name].compute())
    PHASE[0] = "knn"
    exact["knn_details"] = scores["knn"].compute_details(num_permutations=200)
    for name in ("pr", "dc"):
        PHASE[0] = name
        details = scores[name].compute_details()
        recalled = None if details.real_recalled is None else details.real_recalled.tolist()
        exact[f"{name}_details"] = (details.fake_balls.tolist(), details.real_covered.tolist(), recalled)
    PHASE[0] = "other"
    memorized = scores["memorization"].compute_details()
    exact["memorization_details"] = (memorized.real_index.tolist(), memorized.ratio.tolist())
    PHASE[0] = "separability"
    exact["separability"] = plain(sep.compute())
    exact["separability_table"] = {
        layer: {p: float(v) for p, v in s.items()} for layer, s in sep.compute_table().items()
    }
    PHASE[0] = "other"
    # Sums in a different order (per-rank partial sums) may differ in the last bits.
    close = {name: plain(scores[name].compute()) for name in ("fid", "kid", "cmmd")}
    close["is"] = plain(inception.compute())
    return {"exact": exact, "close": close}


# Uneven contiguous shards (rank 0 in two batches), so the gathered order equals the single-process order.
RANK_SHARDS = {0: [((0, 12), (0, 10)), ((12, 20), (10, 25))], 1: [((20, NUM_REAL), (25, NUM_FAKE))]}


def _record_row_work(log: list[tuple[str, str, int, int, int]]) -> None:
    """Wrap the row workers of the k-NN search and the PRDC ball tests to log which rows this rank computes."""
    neighbours = importlib.import_module("ganprobe.functional.neighbours")
    prdc = importlib.import_module("ganprobe.functional.prdc")
    search, ball_tests = neighbours._search, prdc._ball_tests

    def recording_search(queries: torch.Tensor, *args: Any) -> Any:
        log.append((PHASE[0], "search", queries.shape[0], *args[-2:]))
        return search(queries, *args)

    def recording_ball_tests(real: torch.Tensor, fake: torch.Tensor, *args: Any) -> Any:
        log.append((PHASE[0], "balls", fake.shape[0], *(args[3] or (0, fake.shape[0]))))
        return ball_tests(real, fake, *args)

    neighbours._search, prdc._ball_tests = recording_search, recording_ball_tests


def _collective_checks(rank: int) -> dict:
    """The gather helpers with uneven and empty parts, and a k-NN with more ranks than query rows."""
    gathered = gather_rows(torch.arange(3 * rank, dtype=torch.long).reshape(-1, 1) + 10 * rank, [0, 3])
    flags = all_gather_variable(torch.tensor([True, False][: 2 - rank]))
    points = make_data()["real_a"]
    one_query = knn(points[:1], points, 3, process_group=dist.group.WORLD)
    return {"gathered": gathered.tolist(), "flags": flags.tolist(), "one_query": [t.tolist() for t in one_query]}


def _rank_work(rank: int) -> tuple[dict, list, dict]:
    """One gloo rank: every metric on its shard (logging the k-NN work it does), then the collective checks."""
    log: list[tuple[str, str, int, int, int]] = []
    _record_row_work(log)
    results = compute_all(RANK_SHARDS[rank], make_data())
    PHASE[0] = "collectives"
    return results, log, _collective_checks(rank)


def test_two_process_results_equal_single_process_with_sharded_work(one_torch_thread: None) -> None:
    outputs, expected = run_on_two_ranks(
        _rank_work, while_waiting=lambda: compute_all([((0, NUM_REAL), (0, NUM_FAKE))], make_data()), timeout=120
    )

    for rank, (results, log, checks) in outputs.items():
        # k-NN metrics, per-sample details and separability: identical on both ranks and to one process.
        assert results["exact"] == expected["exact"], rank
        for name, value in expected["close"].items():
            assert results["close"][name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
            assert results["close"][name] == outputs[0][0]["close"][name], name

        # The work is split: every k-NN search and ball test of the sharded metrics ran on this rank's half only.
        pooled = NUM_REAL + NUM_FAKE
        expected_work = {
            "knn": [("search", pooled)] * 2,  # compute() and compute_details()
            "pr": [("search", NUM_REAL), ("search", NUM_FAKE), ("balls", NUM_FAKE)] * 2,
            "dc": [("search", NUM_REAL), ("balls", NUM_FAKE)] * 2,
            # the knn_loo protocol at layers "a" and "b" (compute_table() reuses compute()'s cached result)
            "separability": [("search", pooled)] * 2,
        }
        for name, work in expected_work.items():
            done = [entry[1:] for entry in log if entry[0] == name]
            assert done == [(kind, n, *shard_range(n, rank, 2)) for kind, n in work], name

        assert checks["gathered"] == [[10], [11], [12]]
        assert checks["flags"] == [True, False, True]
        points = make_data()["real_a"]
        assert checks["one_query"] == [t.tolist() for t in knn(points[:1], points, 3)]
