"""Benchmark ganprobe's FID and KID against torchmetrics, and its one-pass Evaluator against standalone metrics.

Three comparisons, each side measured in a *fresh subprocess* (its own imports, allocator and thread pools) after
a warm-up call, with ``torch.set_num_threads(--threads)`` applied identically to every side (and the same count in
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS``, which scikit-learn and numpy obey):

1. **FID compute at D = 2048** on seeded precomputed float32 features (N real + N fake; correlated, anisotropic
   Gaussians, the fakes with a different spectrum and a small shift). Sides:

   * **torchmetrics**: ``FrechetInceptionDistance`` fed the features through an identity ``feature`` module (as in
     ``tests/metrics/test_fid.py``); its ``update`` accumulates float64 sums, its ``compute`` turns them into
     covariances
     and takes ``eigvals(S1 @ S2)``.
   * **ganprobe FID**: ``FID(extractor=None)`` updated with the same features (float64 running sums), then
     ``compute()`` (covariances from the sums, then symmetric eigendecompositions).
   * **ganprobe FID, keep_features=True**: the metric also keeping the rows; its ``compute()`` takes the
     ``N x N`` Gram route when that is cheaper (fewer samples than about ``D``; ``fid_route``), else the sums.
   * **ganprobe fid_from_features**: the functional form, which starts from the raw features, so its time
     *includes* the covariances (or, on the Gram route, the centred Gram products) that the metrics build during
     ``update``.

   Targets: >= 2x torchmetrics' ``compute``; where ``N < D``, >= 3x for the two sides that have the rows at hand
   (issue 26; the sums-only metric cannot take the Gram route, its line is for information).

   ``compute`` is timed separately from ``update`` (best of ``--repeats``; torchmetrics' cached result is cleared
   between repeats). Every ganprobe value must agree with torchmetrics' to ``1e-5`` relative, else exit status 1.
2. **KID at D = 2048**: N real + N fake seeded float64 features, ``--kid-subsets`` subsets of ``--kid-subset-size``.
   ganprobe's ``kid`` (and the ``KID`` metric's ``compute``) against torchmetrics' ``KernelInceptionDistance``
   ``compute``, run after ``torch.manual_seed(seed)`` so that it draws exactly ganprobe's subsets (see
   ``tests/metrics/test_kid_cmmd.py``). Mean and std must agree to ``1e-6`` relative, else exit status 1. The
   features are
   float64 because torchmetrics computes its kernels in the features' dtype: on float32 features it would not be
   the same computation. The full run adds, for information only, torchmetrics on the same features cast to
   float32 (its speed on Inception's native dtype, and how far that drifts from the float64 value).
3. **One pass for all metrics**: ``extractor="random-resnet18"`` (seeded random weights, no download) on seeded
   random ``uint8`` images. An ``Evaluator`` with all 9 metrics against each metric run standalone (``FID``,
   ``KID``, ``InceptionScore``, ``PrecisionRecall``, ``DensityCoverage``, ``CMMD``, ``Memorization``,
   ``KNNLOOAccuracy``, ``LayerSeparability``), each ``update()``-ed batch by batch with the same images, so each
   runs its own extraction (``InceptionScore`` gets only the fakes, as in the Evaluator). Both sides share the
   batching (``--batch-size``) and metric options, and scikit-learn is imported before the clock starts (the
   separability protocols import it lazily). The backbone's forward passes are counted by wrapping
   ``extractor.forward_preprocessed`` (which also times them: "backbone s"; "extraction s" adds preprocessing and
   the metrics' updates): the Evaluator must make exactly one per batch (else exit status 1), and every metric
   value must be the same on both sides (else exit status 1; FID may differ by float64 round-off, since the
   Evaluator feeds each set at once and the standalone metrics batch by batch).

Each timed call also records the share of the machine's CPU used by *other* processes (``/proc/stat``), and the
FID/KID compute calls their peak resident memory above the inputs (as in ``benchmarks/knn_loo.py``, whose
measurement helpers this script reuses). Benchmarks are ratios measured in the same run on the same machine, never
timed unit tests.

Examples::

    python benchmarks/scores.py --quick
    python benchmarks/scores.py --json benchmarks/results/scores.json --markdown
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from ganprobe.metrics.registry import metric_names

SEED = 0
FID_SIZES = (2000,)
QUICK_FID_SIZES = (1000,)
QUICK_IMAGES = 32
QUICK_BATCH_SIZE = 16
DIM = 2048
FID_TOLERANCE = 1e-5
KID_TOLERANCE = 1e-6
# The Evaluator feeds each metric one concatenated set, standalone metrics get batch by batch: FID's float64 running
# sums then differ in summation order (round-off), every other value is bit-identical.
ONE_PASS_TOLERANCE = 1e-6
FID_TARGET = 2.0
FID_GRAM_TARGET = 3.0  # at N < D, for the sides that have the rows (issue 26)
FID_SIDES = ("torchmetrics", "ganprobe-metric", "ganprobe-metric-kept", "ganprobe-functional")
KID_TARGET = 5.0
ONE_PASS_METRICS = tuple(metric_names())  # every metric the Evaluator runs, in report order


def _load_knn_loo() -> ModuleType:
    """The sibling ``benchmarks/knn_loo.py``, for its measurement helpers (CPU watch, peak RSS, atomic JSON)."""
    path = Path(__file__).with_name("knn_loo.py")
    spec = importlib.util.spec_from_file_location("_ganprobe_benchmark_knn_loo", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the shared benchmark helpers from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HELPERS = _load_knn_loo()
CpuWatch = _HELPERS.CpuWatch
write_json_atomic = _HELPERS.write_json_atomic


# --------------------------------------------------------------------------------------------------- data


def make_features(n: int, dim: int, dtype: torch.dtype, seed: int = SEED) -> tuple[Tensor, Tensor]:
    """Seeded ``(real, fake)``, ``n`` rows each: correlated anisotropic Gaussians, the fakes differently spread.

    ``real = (z * s) @ M`` and ``fake = (z' * flip(s)) @ M + 0.05`` with per-dimension scales ``s`` in
    ``[0.5, 1.5)`` and a fixed mixing ``M = I + 0.3 G / sqrt(D)``, so the covariances are full (non-diagonal).
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + n * 7 + dim)
    scales = torch.rand(dim, generator=generator, dtype=torch.float64) + 0.5
    mixing = torch.eye(dim, dtype=torch.float64)
    mixing += 0.3 / math.sqrt(dim) * torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    real = (torch.randn(n, dim, generator=generator, dtype=torch.float64) * scales) @ mixing
    fake = (torch.randn(n, dim, generator=generator, dtype=torch.float64) * scales.flip(0)) @ mixing + 0.05
    return real.to(dtype), fake.to(dtype)


def make_images(count: int, size: int, seed: int) -> Tensor:
    """Seeded random ``uint8`` NCHW RGB images."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, size, size), generator=generator, dtype=torch.uint8)


class IdentityFeature(nn.Module):
    """A torchmetrics "feature extractor" that returns the precomputed features it is given."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


# ------------------------------------------------------------------------------------------------ measure


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory a block adds on top of the process (CPU: ``VmHWM`` reset, as ``knn_loo.py``; CUDA: allocator)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_bytes = 0
        self.method = ""

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.method = "cuda max_memory_allocated above inputs"
        else:
            self._base = _HELPERS._status_kib("VmRSS") or 0
            if _HELPERS._reset_peak_rss():
                self.method = "peak RSS above inputs (VmHWM reset)"
            else:
                self._base = _HELPERS._ru_maxrss_kib()
                self.method = "ru_maxrss growth above inputs (may under-report)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) - self._base
        elif self.method.startswith("peak RSS"):
            peak = ((_HELPERS._status_kib("VmHWM") or 0) - self._base) * 1024
        else:
            peak = (_HELPERS._ru_maxrss_kib() - self._base) * 1024
        self.peak_bytes = max(0, peak)


def timed(call: Callable[[], Any], device: torch.device, repeats: int) -> tuple[Any, dict[str, Any]]:
    """Run ``call`` ``repeats`` times; the last result and the best run's wall/CPU time and others' CPU share."""
    watches = []
    result = None
    for _ in range(repeats):
        _sync(device)
        with CpuWatch() as watch:
            result = call()
            _sync(device)
        watches.append(watch)
    best = min(watches, key=lambda w: w.wall)
    return result, {
        "seconds": best.wall,
        "all_seconds": [w.wall for w in watches],
        "cpu_seconds": best.cpu,
        "children_cpu_seconds": best.children,
        "others_cpu_share": best.others_share,
        "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "repeats": repeats,
    }


def _clear_cache(metric: Any) -> None:
    """Forget a torchmetrics ``Metric``'s cached ``compute()`` result, so a repeat computes again."""
    metric._computed = None


# ------------------------------------------------------------------------------------------------ workers


def worker_fid(spec: dict[str, Any]) -> dict[str, Any]:
    """One side of the FID comparison: update and compute times, the value, the compute's peak memory."""
    device = torch.device(spec["device"])
    side, repeats = spec["side"], spec["repeats"]
    real, fake = (x.to(device) for x in make_features(spec["n"], spec["dim"], torch.float32))
    warm_real, warm_fake = (x.to(device) for x in make_features(256, 64, torch.float32))

    def build_and_update(first: Tensor, second: Tensor) -> Any:
        if side == "torchmetrics":
            from torchmetrics.image.fid import FrechetInceptionDistance

            metric = FrechetInceptionDistance(feature=IdentityFeature(first.shape[1])).to(device)
        else:
            from ganprobe.metrics.fid import FID

            metric = FID(extractor=None, keep_features=side == "ganprobe-metric-kept").to(device)
        metric.update(first, real=True)
        metric.update(second, real=False)
        return metric

    result: dict[str, Any] = {"side": side, "n": spec["n"], "dim": spec["dim"]}
    if side == "ganprobe-functional":
        from ganprobe.functional.frechet import fid_from_features

        float(fid_from_features(warm_real, warm_fake))  # warm-up (thread pools, LAPACK workspaces)
        with PeakMemory(device) as memory:
            value, result["compute"] = timed(lambda: fid_from_features(real, fake), device, repeats)
        result["update"] = None
    else:
        warm = build_and_update(warm_real, warm_fake)
        float(warm.compute())  # warm-up
        metric, result["update"] = timed(lambda: build_and_update(real, fake), device, repeats)

        def compute() -> Tensor:
            _clear_cache(metric)
            return metric.compute()

        with PeakMemory(device) as memory:
            value, result["compute"] = timed(compute, device, repeats)
    result.update(value=float(value), peak_bytes=memory.peak_bytes, memory_method=memory.method)
    result["torch_threads"] = torch.get_num_threads()
    return result


def worker_kid(spec: dict[str, Any]) -> dict[str, Any]:
    """One side of the KID comparison: compute time, ``(mean, std)``, the compute's peak memory."""
    device = torch.device(spec["device"])
    side, repeats, seed = spec["side"], spec["repeats"], spec["seed"]
    subsets, size = spec["subsets"], spec["subset_size"]
    dtype = torch.float32 if side == "torchmetrics-float32" else torch.float64
    real, fake = (x.to(device) for x in make_features(spec["n"], spec["dim"], torch.float64))
    real, fake = real.to(dtype), fake.to(dtype)
    warm_real, warm_fake = (x.to(device, dtype) for x in make_features(128, 64, torch.float64))

    if side == "ganprobe-functional":
        from ganprobe.functional.mmd import kid

        def run(first: Tensor, second: Tensor, count: int, rows: int) -> tuple[Tensor, Tensor]:
            return kid(first, second, count, rows, seed=seed)

    else:

        def run(first: Tensor, second: Tensor, count: int, rows: int) -> tuple[Tensor, Tensor]:
            if side == "ganprobe-metric":
                from ganprobe.metrics.kid import KID

                metric = KID(num_subsets=count, subset_size=rows, seed=seed, extractor=None).to(device)
                metric.update(first, real=True)
                metric.update(second, real=False)
                values = metric.compute()
                return values["kid"], values["kid_std"]
            from torchmetrics.image.kid import KernelInceptionDistance

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
                metric = KernelInceptionDistance(
                    feature=IdentityFeature(first.shape[1]), subsets=count, subset_size=rows
                ).to(device)
            metric.update(first, real=True)
            metric.update(second, real=False)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # torchmetrics draws its subsets from the global CPU generator
                return metric.compute()

    run(warm_real, warm_fake, 3, 64)  # warm-up
    with PeakMemory(device) as memory:
        (mean, std), result = timed(lambda: run(real, fake, subsets, size), device, repeats)
    result = {"side": side, "n": spec["n"], "dim": spec["dim"], "subsets": subsets, "subset_size": size, **result}
    result.update(
        mean=float(mean),
        std=float(std),
        dtype=str(dtype).removeprefix("torch."),
        peak_bytes=memory.peak_bytes,
        memory_method=memory.method,
        torch_threads=torch.get_num_threads(),
    )
    return result


def _flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """``{"name.path": float}`` of a metric result (tensors, numbers, tuples, dicts)."""
    if isinstance(value, Tensor):
        if value.numel() == 1:
            return {prefix: float(value)}
        return {f"{prefix}[{index}]": float(item) for index, item in enumerate(value.flatten())}
    if isinstance(value, (int, float)):
        return {prefix: float(value)}
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (tuple, list)):
        items = enumerate(value)
    else:
        raise TypeError(f"{prefix}: cannot flatten a {type(value).__name__}")
    flat: dict[str, float] = {}
    for key, item in items:
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


SKLEARN_MODULES = (
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.exceptions",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.preprocessing",
    "sklearn.svm",
)


def worker_one_pass(spec: dict[str, Any]) -> dict[str, Any]:
    """The Evaluator (all metrics from one pass) or every metric standalone: forward passes, times, values."""
    from ganprobe.extractors.registry import get_extractor
    from ganprobe.metrics.registry import metric_classes
    from ganprobe.run.evaluator import Evaluator

    # The separability protocols import scikit-learn on first use (seconds): not part of either side's cost.
    for module in SKLEARN_MODULES:
        importlib.import_module(module)
    device = torch.device(spec["device"])
    side, count, batch_size, seed = spec["side"], spec["images"], spec["batch_size"], spec["seed"]
    real_images = make_images(count, spec["image_size"], seed=seed * 2 + 1)
    fake_images = make_images(count, spec["image_size"], seed=seed * 2 + 2)
    extractor = get_extractor("random-resnet18").to(device)
    options = {"kid": {"subset_size": spec["kid_subset_size"], "num_subsets": spec["kid_subsets"]}}
    extractor(real_images[:2], layers=extractor.layers)  # warm-up: thread pools, convolution kernels

    passes, backbone_seconds = 0, 0.0
    original = extractor.forward_preprocessed

    def counting(*args: Any, **kwargs: Any) -> dict[str, Tensor]:
        nonlocal passes, backbone_seconds
        passes += 1
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _sync(device)
            backbone_seconds += time.perf_counter() - start

    extractor.forward_preprocessed = counting  # type: ignore[method-assign]
    batches = 2 * math.ceil(count / batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # FID: N <= D (rank-deficient covariance) at these sizes
        if side == "evaluator":
            with CpuWatch() as build:
                evaluator = Evaluator(extractor, metrics=list(ONE_PASS_METRICS), seed=seed, settings=options)
            with CpuWatch() as extract:
                evaluator.add(real_images, real=True, batch_size=batch_size)
                evaluator.add(fake_images, real=False, batch_size=batch_size)
                _sync(device)
            with CpuWatch() as compute:
                values = evaluator.compute()
                _sync(device)
        else:
            with CpuWatch() as build:
                metrics = {}
                classes = metric_classes()
                for name in ONE_PASS_METRICS:
                    kwargs = dict(options.get(name, {}))
                    if classes[name].seeded:
                        kwargs["seed"] = seed
                    metrics[name] = classes[name](extractor=extractor, **kwargs).to(device)
            with CpuWatch() as extract:
                for metric in metrics.values():
                    for images, real in ((real_images, True), (fake_images, False)):
                        if real and not metric.uses_real:
                            continue
                        for start in range(0, count, batch_size):
                            metric.update(images[start : start + batch_size], real=real)
                _sync(device)
            with CpuWatch() as compute:
                values = {name: metric.compute() for name, metric in metrics.items()}
                _sync(device)

    def seconds(watch: Any) -> dict[str, Any]:
        return {"seconds": watch.wall, "cpu_seconds": watch.cpu, "others_cpu_share": watch.others_share}

    return {
        "side": side,
        "images_per_set": count,
        "image_size": spec["image_size"],
        "batch_size": batch_size,
        "metrics": list(ONE_PASS_METRICS),
        "forward_passes": passes,
        "backbone_seconds": backbone_seconds,
        "batches": batches,
        "build": seconds(build),
        "extract": seconds(extract),
        "compute": seconds(compute),
        "values": _flatten(values),
        "torch_threads": torch.get_num_threads(),
    }


WORKERS = {"fid": worker_fid, "kid": worker_kid, "one_pass": worker_one_pass}


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one side of one comparison in a fresh interpreter (its own imports, allocator, thread pools)."""
    label = f"{spec['case']} {spec['side']}" + (f" N={spec['n']:,}" if "n" in spec else "")
    print(f"{label} ...", file=sys.stderr, flush=True)
    # torch.set_num_threads covers torch's own pools; these cover scikit-learn's OpenMP and numpy's BLAS as well.
    threads = str(spec["threads"])
    environment = {**os.environ, **{name: threads for name in THREAD_VARIABLES}}
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"worker {label} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------- report


def machine_description(threads: int) -> dict[str, Any]:
    """``knn_loo.py``'s description (CPU, versions, load) plus torchmetrics and the threads every side used."""
    import torchmetrics
    import torchvision

    machine = _HELPERS.machine_description()
    machine.update(torchmetrics=torchmetrics.__version__, torchvision=torchvision.__version__, torch_threads=threads)
    return machine


def _relative(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference) if reference else abs(value)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def _fmt_share(*watches: dict[str, Any] | None) -> str:
    """Worst share of the machine's CPU taken by other processes during any timed call of the row."""
    shares = [w["others_cpu_share"] for w in watches if w and w.get("others_cpu_share") is not None]
    return "-" if not shares else f"{100 * max(shares):.0f}"


def _fmt_mib(measurement: dict[str, Any]) -> str:
    return f"{measurement['peak_bytes'] / 2**20:,.0f}"


FID_COLUMNS = (
    "N",
    "D",
    "side",
    "update s",
    "compute s",
    "torchmetrics / this (compute)",
    "update + compute s",
    "FID",
    "rel. diff",
    "compute peak MiB",
    "others' CPU %",
)
KID_COLUMNS = (
    "N",
    "D",
    "subsets",
    "side",
    "dtype",
    "compute s",
    "torchmetrics / this",
    "KID mean",
    "KID std",
    "rel. diff mean / std",
    "peak MiB",
    "others' CPU %",
)
ONE_PASS_COLUMNS = (
    "images",
    "side",
    "forward passes",
    "batches",
    "backbone s",
    "extraction s",
    "compute s",
    "total s",
    "standalone / this (extraction)",
    "standalone / this (total)",
    "values",
    "others' CPU %",
)
FID_LABELS = {
    "torchmetrics": "torchmetrics FrechetInceptionDistance",
    "ganprobe-metric": "ganprobe FID (metric)",
    "ganprobe-metric-kept": "ganprobe FID (metric, keep_features)",
    "ganprobe-functional": "ganprobe fid_from_features",
}
KID_LABELS = {
    "torchmetrics": "torchmetrics KernelInceptionDistance",
    "ganprobe-functional": "ganprobe kid",
    "ganprobe-metric": "ganprobe KID (metric)",
    "torchmetrics-float32": "torchmetrics, float32 features (info)",
}


def fid_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for group in results:
        reference = group["sides"]["torchmetrics"]
        for side, m in group["sides"].items():
            update = m["update"]["seconds"] if m["update"] else None
            total = m["compute"]["seconds"] + (update or 0.0)
            reference_total = reference["compute"]["seconds"] + reference["update"]["seconds"]
            speedup = reference["compute"]["seconds"] / m["compute"]["seconds"]
            diff = "-" if side == "torchmetrics" else f"{_relative(m['value'], reference['value']):.1e}"
            ok = side != "torchmetrics" and _relative(m["value"], reference["value"]) <= FID_TOLERANCE
            rows.append(
                [
                    f"{group['n']:,}",
                    str(group["dim"]),
                    FID_LABELS[side],
                    _fmt_seconds(update),
                    _fmt_seconds(m["compute"]["seconds"]),
                    f"{speedup:.2f}x" + (f" (total {reference_total / total:.2f}x)" if side != "torchmetrics" else ""),
                    _fmt_seconds(total),
                    f"{m['value']:.6f}",
                    diff + (" ✓" if ok else ""),
                    _fmt_mib(m),
                    _fmt_share(m["update"], m["compute"]),
                ]
            )
    return rows


def kid_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    reference = result["sides"]["torchmetrics"]
    for side, m in result["sides"].items():
        checked = side.startswith("ganprobe")
        if side == "torchmetrics":
            diff = "-"
        else:
            diff = f"{_relative(m['mean'], reference['mean']):.1e} / {_relative(m['std'], reference['std']):.1e}"
            if checked and max(_relative(m["mean"], reference["mean"]), _relative(m["std"], reference["std"])) <= (
                KID_TOLERANCE
            ):
                diff += " ✓"
        rows.append(
            [
                f"{m['n']:,}",
                str(m["dim"]),
                f"{m['subsets']} x {m['subset_size']:,}",
                KID_LABELS[side],
                m["dtype"],
                _fmt_seconds(m["seconds"]),
                f"{reference['seconds'] / m['seconds']:.2f}x",
                f"{m['mean']:.8f}",
                f"{m['std']:.8f}",
                diff,
                _fmt_mib(m),
                _fmt_share(m),
            ]
        )
    return rows


def one_pass_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    standalone = result["sides"]["standalone"]
    base_extract = standalone["extract"]["seconds"]
    base_total = base_extract + standalone["compute"]["seconds"]
    for side, m in result["sides"].items():
        total = m["extract"]["seconds"] + m["compute"]["seconds"]
        passes = str(m["forward_passes"])
        if side == "evaluator":
            passes += " ✓" if m["forward_passes"] == m["batches"] else " ✗"
        rows.append(
            [
                f"{m['images_per_set']} + {m['images_per_set']} @ {m['image_size']}px",
                "Evaluator (9 metrics, one pass)" if side == "evaluator" else "9 metrics standalone",
                passes,
                str(m["batches"]),
                _fmt_seconds(m["backbone_seconds"]),
                _fmt_seconds(m["extract"]["seconds"]),
                _fmt_seconds(m["compute"]["seconds"]),
                _fmt_seconds(total),
                f"{base_extract / m['extract']['seconds']:.2f}x",
                f"{base_total / total:.2f}x",
                "-" if side == "standalone" else ("identical ✓" if result["values_match"] else "DIFFER ✗"),
                _fmt_share(m["extract"], m["compute"]),
            ]
        )
    return rows


def markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def target_lines(payload: dict[str, Any]) -> list[str]:
    """One line per target: met or not, with the measured figure."""
    lines = []
    for group in payload["fid"]:
        sides = group["sides"]
        reference = sides["torchmetrics"]["compute"]["seconds"]
        for side in FID_SIDES[1:]:
            if side not in sides:
                continue
            ratio = reference / sides[side]["compute"]["seconds"]
            gram = group["n"] < group["dim"] and side != "ganprobe-metric"
            target = FID_GRAM_TARGET if gram else FID_TARGET
            verdict = "met" if ratio >= target else "NOT met"
            lines.append(
                f"FID compute, N={group['n']:,}, {FID_LABELS[side]}: {ratio:.2f}x torchmetrics "
                f"(target >= {target:g}x): {verdict}"
            )
    if payload["kid"] is None:
        return lines
    kid = payload["kid"]["sides"]
    ratio = kid["torchmetrics"]["seconds"] / kid["ganprobe-functional"]["seconds"]
    verdict = "met" if ratio >= KID_TARGET else "NOT met"
    lines.append(f"KID compute, ganprobe kid: {ratio:.1f}x torchmetrics (target >= {KID_TARGET:g}x): {verdict}")
    one_pass = payload["one_pass"]["sides"]
    evaluator = one_pass["evaluator"]
    verdict = "met" if evaluator["forward_passes"] == evaluator["batches"] else "NOT met"
    lines.append(
        f"One pass: the Evaluator made {evaluator['forward_passes']} forward passes for {evaluator['batches']} "
        f"batches (standalone metrics: {one_pass['standalone']['forward_passes']}): {verdict}"
    )
    return lines


def print_report(payload: dict[str, Any], markdown: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # keep the tables on one line per row in logs
    tables = [
        ("FID at D=2048 (compute timed apart from update)", FID_COLUMNS, fid_rows(payload["fid"])),
    ]
    if payload["kid"] is not None:
        tables.append(("KID at D=2048", KID_COLUMNS, kid_rows(payload["kid"])))
        tables.append(
            ("One pass for all metrics (random-resnet18)", ONE_PASS_COLUMNS, one_pass_rows(payload["one_pass"]))
        )
    for title, columns, rows in tables:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, justify="left" if column in ("side", "images") else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    machine = payload["machine"]
    idle_share = max(0, (machine["cpu_count"] or 1) - machine["torch_threads"]) / (machine["cpu_count"] or 1)
    console.print(
        f"Every side ran in a fresh process after a warm-up, with torch.set_num_threads({machine['torch_threads']}); "
        f"FID/KID: best of {payload['settings']['repeats']} (torchmetrics KID: best of "
        f"{payload['settings']['torchmetrics_kid_repeats']}); one pass: one run per side. ✓: FID within "
        f"{FID_TOLERANCE:g} and KID mean and std within {KID_TOLERANCE:g} relative of torchmetrics; Evaluator values "
        f"identical to the standalone metrics' (within {ONE_PASS_TOLERANCE:g}). Others' CPU %: the largest share of "
        "the machine's CPU used by other processes during a timed call of the row (/proc/stat); with "
        f"{machine['torch_threads']} thread(s) on {machine['cpu_count']} CPUs, other processes can take up to "
        f"{100 * idle_share:.0f} % without taking a core from this benchmark (caches and memory bandwidth are "
        "still shared)."
    )
    for line in target_lines(payload):
        console.print("target: " + line)
    console.print(
        f"machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), torchmetrics {machine['torchmetrics']}, torchvision "
        f"{machine['torchvision']}, scikit-learn {machine['sklearn']}, Python {machine['python']}"
    )
    if machine.get("loadavg_at_start") is not None:
        load = machine["loadavg_at_start"]
        console.print(f"load average at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)")
    if markdown:
        for title, columns, rows in tables:
            print(f"\n**{title}**\n\n{markdown_table(columns, rows)}")


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time ganprobe's FID and KID against torchmetrics, and its one-pass Evaluator against every "
        "metric run standalone (same run, same machine).",
    )
    parser.add_argument(
        "--fid-sizes",
        type=int,
        nargs="+",
        default=list(FID_SIZES),
        help=f"FID: rows per class N (default: {list(FID_SIZES)}; --quick: {list(QUICK_FID_SIZES)})",
    )
    parser.add_argument("--kid-n", type=int, default=2000, help="KID: rows per class (default: 2000)")
    parser.add_argument("--kid-subsets", type=int, default=100, help="KID: number of subsets (default: 100)")
    parser.add_argument("--kid-subset-size", type=int, default=1000, help="KID: rows per subset (default: 1000)")
    parser.add_argument(
        "--kid-float32",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="KID: also time torchmetrics on float32 features, for information (default: on, off with --quick)",
    )
    parser.add_argument("--images", type=int, default=64, help="one pass: real and fake images each (default: 64)")
    parser.add_argument("--image-size", type=int, default=64, help="one pass: image side in pixels (default: 64)")
    parser.add_argument("--batch-size", type=int, default=32, help="one pass: images per batch (default: 32)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for every side (default: 1)")
    parser.add_argument(
        "--fid-only", action="store_true", help="only the FID comparison (no KID, no one-pass evaluation)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="FID/KID: best of this many runs (default: 3)")
    parser.add_argument(
        "--torchmetrics-kid-repeats", type=int, default=1, help="KID: torchmetrics' runs, it is slow (default: 1)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for every side (default: cpu)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"FID at N={list(QUICK_FID_SIZES)}, best of 2, no float32 KID row, one pass on {QUICK_IMAGES} + "
        f"{QUICK_IMAGES} images in batches of {QUICK_BATCH_SIZE} (overrides those options)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the results here (atomic)")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as markdown")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.fid_sizes = list(QUICK_FID_SIZES)
        args.repeats = min(args.repeats, 2)
        args.images, args.batch_size = QUICK_IMAGES, QUICK_BATCH_SIZE
    if args.kid_float32 is None:
        args.kid_float32 = not args.quick
    if any(n < 2 for n in args.fid_sizes):
        parser.error(f"--fid-sizes: every N must be >= 2, got {args.fid_sizes}")
    if not 2 <= args.kid_subset_size <= args.kid_n or args.kid_subsets < 1:
        parser.error("--kid-subset-size must be between 2 and --kid-n, and --kid-subsets >= 1")
    if args.images < 10 or args.batch_size < 1 or args.image_size < 8:
        parser.error("--images must be >= 10 (Inception Score's 10 splits), --batch-size >= 1, --image-size >= 8")
    if args.threads < 1 or args.repeats < 1 or args.torchmetrics_kid_repeats < 1:
        parser.error("--threads, --repeats and --torchmetrics-kid-repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker is not None:
        spec = json.loads(args.worker)
        torch.set_num_threads(spec["threads"])
        print(json.dumps(WORKERS[spec["case"]](spec)))
        return 0

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    machine = machine_description(args.threads)
    command = " ".join(["python", *sys.argv]) if argv is None else " ".join(["python", __file__, *argv])
    common = {"threads": args.threads, "device": args.device, "seed": SEED}
    failures: list[str] = []

    fid_results = []
    for n in args.fid_sizes:
        group: dict[str, Any] = {"n": n, "dim": DIM, "sides": {}}
        for side in FID_SIDES:
            spec = {"case": "fid", "side": side, "n": n, "dim": DIM, "repeats": args.repeats, **common}
            group["sides"][side] = run_worker(spec)
        reference = group["sides"]["torchmetrics"]["value"]
        for side in FID_SIDES[1:]:
            value = group["sides"][side]["value"]
            if _relative(value, reference) > FID_TOLERANCE:
                failures.append(f"FID N={n}: {FID_LABELS[side]} {value!r} vs torchmetrics {reference!r}")
        fid_results.append(group)

    kid_result, one_pass = (None, None) if args.fid_only else _kid_and_one_pass(args, common, failures)
    payload = {
        "benchmark": "scores",
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "device": args.device,
        "settings": {
            "threads": args.threads,
            "repeats": args.repeats,
            "torchmetrics_kid_repeats": args.torchmetrics_kid_repeats,
            "kid_n": args.kid_n,
            "kid_subsets": args.kid_subsets,
            "kid_subset_size": args.kid_subset_size,
            "images": args.images,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "one_pass_kid_subset_size": max(2, args.images // 2),
            "quick": args.quick,
            "fid_only": args.fid_only,
        },
        "fid": fid_results,
        "kid": kid_result,
        "one_pass": one_pass,
        "loadavg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "failures": failures,
    }
    payload["targets"] = target_lines(payload)
    print_report(payload, args.markdown)
    if args.json is not None:
        write_json_atomic(args.json, payload)
    if failures:
        print("CHECK FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def _kid_and_one_pass(
    args: argparse.Namespace, common: dict[str, Any], failures: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The KID and one-pass comparisons of :func:`main` (skipped with ``--fid-only``); appends to ``failures``."""
    kid_sides = ["torchmetrics", "ganprobe-functional", "ganprobe-metric"]
    if args.kid_float32:
        kid_sides.append("torchmetrics-float32")
    kid_result: dict[str, Any] = {"sides": {}}
    for side in kid_sides:
        repeats = args.torchmetrics_kid_repeats if side.startswith("torchmetrics") else args.repeats
        spec = {"case": "kid", "side": side, "n": args.kid_n, "dim": DIM, "repeats": repeats, **common}
        spec.update(subsets=args.kid_subsets, subset_size=args.kid_subset_size)
        kid_result["sides"][side] = run_worker(spec)
    reference_kid = kid_result["sides"]["torchmetrics"]
    for side in ("ganprobe-functional", "ganprobe-metric"):
        ours = kid_result["sides"][side]
        for key in ("mean", "std"):
            if _relative(ours[key], reference_kid[key]) > KID_TOLERANCE:
                failures.append(f"KID {key}: {KID_LABELS[side]} {ours[key]!r} vs torchmetrics {reference_kid[key]!r}")

    one_pass: dict[str, Any] = {"sides": {}}
    kid_subset = max(2, args.images // 2)
    for side in ("standalone", "evaluator"):
        spec = {
            "case": "one_pass",
            "side": side,
            "images": args.images,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "kid_subset_size": kid_subset,
            "kid_subsets": 100,
            **common,
        }
        one_pass["sides"][side] = run_worker(spec)
    evaluator, standalone = one_pass["sides"]["evaluator"], one_pass["sides"]["standalone"]
    if evaluator["forward_passes"] != evaluator["batches"]:
        failures.append(f"one pass: {evaluator['forward_passes']} forward passes for {evaluator['batches']} batches")
    differences = {
        key: _relative(evaluator["values"].get(key, math.nan), value) for key, value in standalone["values"].items()
    }
    bad = {key: diff for key, diff in differences.items() if not diff <= ONE_PASS_TOLERANCE}
    if set(evaluator["values"]) != set(standalone["values"]) or bad:
        failures.append(f"one pass: Evaluator values differ from the standalone metrics': {bad}")
    one_pass["values_match"] = not bad and set(evaluator["values"]) == set(standalone["values"])
    one_pass["max_relative_difference"] = max(differences.values(), default=0.0)
    return kid_result, one_pass


if __name__ == "__main__":
    sys.exit(main())
