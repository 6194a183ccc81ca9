"""Scaling curves: time and peak memory against the sample count N for KNN-LOO, precision/recall, FID and KID.

Every (metric, N) point runs in its own worker process, so the peak memory (the kernel's ``VmHWM``, reset after
the inputs are built and a warm-up call is done; CUDA: the allocator's peak) is that call's alone. N is the total
row count, N/2 real + N/2 fake seeded float32 features (``benchmarks/knn_loo.py``'s data) in ``--scaling-dim``
dimensions.

What to expect: KNN-LOO and precision/recall compare every point with every point, so their time grows as N^2;
their memory does not, because the distances are computed in blocks of at most ``block_bytes`` (256 MiB by
default, ``ganprobe/functional/neighbours.py``): the full N x N float32 matrix is shown next to the measured peak.
FID is O(N D^2) for the covariances plus O(D^3) for the matrix functions (linear in N); KID draws a fixed number
of fixed-size subsets, so its time is flat in N once N/2 exceeds the subset size.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import knn_loo as knn_bench
import torch
from measure import PeakMemory, best_of, row, run_worker

METRICS = ("knn_loo", "precision_recall", "fid", "kid")
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def _call(metric: str, real: torch.Tensor, fake: torch.Tensor) -> Any:
    if metric == "knn_loo":
        from ganprobe.functional.knn_loo import knn_loo_accuracy

        return float(knn_loo_accuracy(real, fake, k=1))
    if metric == "precision_recall":
        from ganprobe.functional.prdc import precision_recall

        return tuple(float(v) for v in precision_recall(real, fake, k=3))
    if metric == "fid":
        from ganprobe.functional.frechet import fid_from_features

        return float(fid_from_features(real, fake))
    from ganprobe.functional.mmd import kid

    size = min(KID_SUBSET_SIZE, real.shape[0], fake.shape[0])
    return tuple(float(v) for v in kid(real, fake, num_subsets=KID_SUBSETS, subset_size=size, seed=0))


def worker_scaling(spec: dict[str, Any]) -> dict[str, Any]:
    """One (metric, N) point: best-of time, peak memory above the inputs, the value."""
    device = torch.device(spec["device"])
    metric, n, dim = spec["metric"], spec["n"], spec["dim"]
    real, fake = (x.to(device) for x in knn_bench.make_features(n, dim))
    warm_real, warm_fake = (x.to(device) for x in knn_bench.make_features(64, min(dim, 32)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FID: N <= D (rank-deficient covariances) at the smallest sizes
        _call(metric, warm_real, warm_fake)
        repeats = 2 if n <= 10_000 else 1
        with PeakMemory(device) as memory:
            value, timing = best_of(lambda: _call(metric, real, fake), device, repeats)
    return {
        "metric": metric,
        "n": n,
        "dim": dim,
        "value": value,
        "peak_bytes": memory.peak_bytes,
        "memory_method": memory.method,
        **timing,
    }


def _format_value(value: Any) -> str:
    if isinstance(value, list):
        return " / ".join(f"{v:.4g}" for v in value)
    return f"{value:.4g}"


def section_scaling(args: Any) -> list[dict[str, Any]]:
    """Time and peak memory at every N of ``args.sizes`` for each metric, with the measured growth exponent."""
    rows = []
    for metric in METRICS:
        points = []
        for n in args.sizes:
            spec = {
                "module": "scaling",
                "function": "worker_scaling",
                "metric": metric,
                "n": n,
                "dim": args.scaling_dim,
                "device": args.device,
            }
            result = run_worker(spec, args.threads)
            points.append(result)
            note = ""
            if len(points) >= 2 and points[-2]["seconds"] > 0.05:
                previous = points[-2]
                exponent = math.log(result["seconds"] / previous["seconds"]) / math.log(n / previous["n"])
                note = f"time ~ N^{exponent:.2f} from N={previous['n']:,}"
            full_matrix = n * n * 4
            if metric in ("knn_loo", "precision_recall"):
                note += f"{'; ' if note else ''}full N x N float32 = {full_matrix / 2**20:,.0f} MiB"
            rows.append(
                row(
                    "scaling",
                    f"{metric}, N={n:,}, D={args.scaling_dim}",
                    f"ganprobe {metric}",
                    result["seconds"],
                    value=_format_value(result["value"]),
                    rate=n / result["seconds"],
                    peak_bytes=result["peak_bytes"],
                    note=note,
                    others=result["others_cpu_share"],
                    data={"n": n, "memory_method": result["memory_method"], "full_matrix_bytes": full_matrix},
                )
            )
    return rows
