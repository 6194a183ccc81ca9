"""Per-rank time of KNN-LOO and PRDC compute: 1 process vs 2 gloo processes (1 torch thread each)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganprobe.functional.knn_loo import knn_loo_details
from ganprobe.functional.prdc import prdc_details

N, D = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, 512


def data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(N, D, generator=gen), torch.randn(N, D, generator=gen) * 1.1 + 0.1


def timed(fn):
    if dist.is_initialized():
        dist.barrier()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


WORK = {"cpu": 0.0}


def _instrument() -> None:
    """Add up the CPU time spent in the row workers (the sharded part), excluding waits in collectives."""
    import importlib

    for module_name, name in (
        ("ganprobe.functional.neighbours", "_search"),
        ("ganprobe.functional.prdc", "_ball_tests"),
    ):
        module = importlib.import_module(module_name)
        inner = getattr(module, name)

        def wrapper(*args, _inner=inner):
            start = time.process_time()
            try:
                return _inner(*args)
            finally:
                WORK["cpu"] += time.process_time() - start

        setattr(module, name, wrapper)


def run(group) -> dict:
    _instrument()
    real, fake = data()
    WORK["cpu"] = 0.0
    loo, loo_wall, loo_cpu = timed(lambda: knn_loo_details(real, fake, k=1, num_permutations=200, process_group=group))
    loo_work = WORK["cpu"]
    WORK["cpu"] = 0.0
    pr, pr_wall, pr_cpu = timed(lambda: prdc_details(real, fake, k=5, process_group=group).values())
    return {
        "knn_loo": [loo_wall, loo_cpu, loo_work, loo.accuracy, loo.p_value],
        "prdc": [pr_wall, pr_cpu, WORK["cpu"], {k: float(v) for k, v in pr.items()}],
    }


def worker(rank: int, port: int, queue) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    queue.put((rank, run(dist.group.WORLD)))
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    single = run(None)
    print("1 process:", json.dumps(single), flush=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get() for _ in procs)
    for p in procs:
        p.join()
    for rank, res in sorted(results.items()):
        print(f"rank {rank}:", json.dumps(res), flush=True)
    for name in ("knn_loo", "prdc"):
        same = all(res[name][3:] == single[name][3:] for res in results.values())
        work = max(res[name][2] for res in results.values())
        wall = max(res[name][0] for res in results.values())
        cpu = max(res[name][1] for res in results.values())
        print(
            f"{name}: single wall {single[name][0]:.1f}s cpu {single[name][1]:.1f}s | 2 ranks wall {wall:.1f}s "
            f"cpu/rank {cpu:.1f}s | wall ratio {single[name][0] / wall:.2f} cpu ratio {single[name][1] / cpu:.2f}"
            f" | row-work cpu single {single[name][2]:.1f}s per rank {work:.1f}s ratio {single[name][2] / work:.2f}"
            f" | identical results: {same}"
        )
