"""One GPU benchmark run, ready for a machine with one GPU: each case timed against a baseline in the same run.

Cases (full sizes on ``--device cuda``; ``--quick`` shrinks every size to a smoke test):

* ``extraction``: FID-50k-sized extraction, ``random-inception-fid`` (the FID Inception network with seeded random
  weights: the published weights need a download, and the time does not depend on the weights values) at batch 256,
  float32, channels-last, from uint8 images in host memory (``--image-size`` pixels, resized to 299 on the device)
  through :func:`ganprobe.extract_features`. Baseline: the bare network's forward on batches already preprocessed on
  the device (the floor the data path adds to).
* ``extraction_compiled``: the same with ``torch.compile`` on; baseline: the eager extraction. The first batches
  (both batch shapes) run before the timing; their time is recorded as ``first_call_seconds`` (the compilation).
* ``knn_loo``: :func:`ganprobe.functional.knn_loo_accuracy` on 50k real + 50k fake features; baseline: the
  float32 ``torch.mm`` of every pair in blocks of the same size, nothing else (the arithmetic floor).
* ``fid``: :func:`ganprobe.functional.fid_from_features` on 50k + 50k features; baseline: torchmetrics'
  ``FrechetInceptionDistance`` on the same features (a pass-through feature module), or, without torchmetrics,
  the two covariance matrices alone (``torch.cov``).
* ``evaluate``: :func:`ganprobe.evaluate` end to end on 10k + 10k images (every metric the extractor supports except
  ``layer_separability``, whose scikit-learn probes run on the CPU; ``--evaluate-metrics`` to change); baseline: the
  extraction stages of the same run (its ``timings``), so the ratio is what the metrics and the report add.

Every number is a ratio to its baseline measured in this run; seconds are kept for reference. One JSON file
(``--json``) holds the machine, the settings and every case. Without a GPU, ``--device cuda`` writes a record with
``"status": "skipped"`` and exits 0. Everything is built offline: random weights, synthetic images in memory.

Examples::

    python benchmarks/gpu.py --device cuda --json benchmarks/results/gpu.json
    python benchmarks/gpu.py --device cpu --quick --json /tmp/gpu-quick.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

CASES = ("extraction", "extraction_compiled", "knn_loo", "fid", "evaluate")
# setting: (full, --quick)
PRESETS: dict[str, tuple[int, int]] = {
    "extract_n": (50_000, 4),
    "baseline_n": (10_000, 4),
    "batch_size": (256, 2),
    "image_size": (64, 32),
    "knn_n": (50_000, 400),
    "knn_dim": (2048, 64),
    "fid_n": (50_000, 400),
    "fid_dim": (2048, 64),
    "evaluate_n": (10_000, 6),
}
EVALUATE_METRICS = ("fid", "kid", "is", "precision_recall", "density_coverage", "cmmd", "memorization", "knn_loo")
# --quick: metrics whose work on a few rows is small (FID's half-sample noise runs ten 2048-wide eigendecompositions,
# tens of seconds on a busy 2-core CPU).
QUICK_EVALUATE_METRICS = ("kid", "precision_recall", "knn_loo")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's command line: the device, the preset, each size, and the JSON path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of every case")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="what to run (default: all)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic images and features")
    parser.add_argument(
        "--compile", choices=("auto", "on", "off"), default="auto",
        help="time the torch.compile case: auto (default) runs it except with --quick on a CPU, where compiling "
        "alone takes about a minute",
    )  # fmt: skip
    parser.add_argument(
        "--evaluate-metrics", nargs="+", default=None,
        help=f"metrics of the evaluate case (default: {' '.join(EVALUATE_METRICS)}; quick: "
        f"{' '.join(QUICK_EVALUATE_METRICS)})",
    )  # fmt: skip
    for name, (full, quick) in PRESETS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=None, help=f"default {full}, quick {quick}"
        )
    args = parser.parse_args(argv)
    if args.evaluate_metrics is None:
        args.evaluate_metrics = list(QUICK_EVALUATE_METRICS if args.quick else EVALUATE_METRICS)
    for name, (full, quick) in PRESETS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        elif getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive count, got {getattr(args, name)}")
    return args


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs asynchronously: a time without it measures the queueing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Wall seconds of one call of ``function`` (device work included) and its result."""
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return time.perf_counter() - start, result


def row(
    case: str, seconds: float, baseline: str, baseline_seconds: float, count: int, baseline_count: int, **extra: Any
) -> dict[str, Any]:
    """One case: its time and its baseline's, both per item, and their ratio (``> 1``: the case is slower)."""
    per_item, baseline_per_item = seconds / count, baseline_seconds / baseline_count
    return {
        "case": case,
        "status": "ok",
        "seconds": seconds,
        "count": count,
        "per_second": count / seconds if seconds > 0 else None,
        "baseline": baseline,
        "baseline_seconds": baseline_seconds,
        "baseline_count": baseline_count,
        "ratio": per_item / baseline_per_item if baseline_per_item > 0 else None,
        **extra,
    }


def skipped(case: str, reason: str) -> dict[str, Any]:
    """A case that did not run, and why."""
    return {"case": case, "status": "skipped", "reason": reason, "ratio": None}


def images(count: int, size: int, seed: int) -> torch.Tensor:
    """``count`` random uint8 RGB images ``(N, 3, size, size)`` in host memory, as a generator's samples would be."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)


def extractor_for(device: torch.device, compile: bool) -> Any:
    """The FID Inception network with seeded random weights, float32, channels-last, eager PyTorch, on ``device``."""
    from ganprobe.extractors.registry import get_extractor

    extractor = get_extractor("random-inception-fid", channels_last=True, compile=compile, backend="torch")
    return extractor.to(device)


def extraction_seconds(extractor: Any, source: torch.Tensor, batch_size: int) -> float:
    """Seconds of :func:`ganprobe.extract_features` over ``source`` at its default layer (after a warm-up over
    both batch shapes, the full one and the remainder's, so the timing holds no first-call work)."""
    from ganprobe.features.extract import extract_features

    device = extractor.device
    layer = extractor.default_layer
    remainder = source.shape[0] % batch_size
    warm_up = source[: batch_size + remainder] if remainder else source[:batch_size]
    extract_features(extractor, warm_up, layer, batch_size)
    seconds, _ = timed(lambda: extract_features(extractor, source, layer, batch_size), device)
    return seconds


def bare_forward_seconds(extractor: Any, count: int, batch_size: int, seed: int) -> float:
    """Seconds of the network's forward alone over ``count`` images already preprocessed on the device."""
    device = extractor.device
    batch = extractor.preprocess(images(batch_size, 299, seed).to(device))
    batch = batch.contiguous(memory_format=torch.channels_last)
    batches = math.ceil(count / batch_size)
    with torch.no_grad():
        extractor.model(batch)

        def run() -> None:
            for _ in range(batches):
                extractor.model(batch)

        seconds, _ = timed(run, device)
    return seconds * count / (batches * batch_size)


def extraction_cases(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Eager extraction against the bare forward, and compiled extraction against eager."""
    source = images(args.extract_n, args.image_size, args.seed)
    eager = extractor_for(device, compile=False)
    rows, eager_seconds = [], None
    if "extraction" in args.cases or "extraction_compiled" in args.cases:
        eager_seconds = extraction_seconds(eager, source, args.batch_size)
    if "extraction" in args.cases:
        floor = bare_forward_seconds(eager, args.baseline_n, args.batch_size, args.seed + 1)
        rows.append(
            row(
                "extraction", eager_seconds, "bare forward on preprocessed device batches", floor, args.extract_n,
                args.baseline_n, batch_size=args.batch_size, execution=eager.execution,
            )
        )  # fmt: skip
    if "extraction_compiled" in args.cases:
        compile_on = args.compile == "on" or (args.compile == "auto" and not (args.quick and device.type == "cpu"))
        if not compile_on:
            rows.append(skipped("extraction_compiled", "--quick on a CPU: compiling alone takes about a minute"))
        else:
            compiled = extractor_for(device, compile=True)
            first_call, _ = timed(lambda: compiled(source[: args.batch_size].to(device)), device)
            seconds = extraction_seconds(compiled, source, args.batch_size)
            rows.append(
                row(
                    "extraction_compiled", seconds, "eager extraction (extraction case)", eager_seconds, args.extract_n,
                    args.extract_n, first_call_seconds=first_call, execution=compiled.execution,
                )
            )  # fmt: skip
    return rows


def features(count: int, dim: int, seed: int, device: torch.device, shift: float = 0.0) -> torch.Tensor:
    """``(count, dim)`` float32 Gaussian features on ``device`` (``shift`` added to every value)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(count, dim, generator=generator) + shift).to(device)


def mm_floor_seconds(real: torch.Tensor, fake: torch.Tensor, block_rows: int) -> float:
    """Seconds of ``X @ X.T`` over the pooled rows in ``block_rows`` blocks, nothing kept: the arithmetic floor of
    an exact 1-NN search."""
    pooled = torch.cat([real, fake])

    def run() -> None:
        for start in range(0, pooled.shape[0], block_rows):
            torch.mm(pooled[start : start + block_rows], pooled.T)

    run_seconds, _ = timed(run, pooled.device)
    return run_seconds


def knn_loo_case(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """KNN-LOO accuracy on ``knn_n`` + ``knn_n`` features against the blocked ``torch.mm`` floor."""
    from ganprobe.functional.knn_loo import knn_loo_accuracy

    real = features(args.knn_n, args.knn_dim, args.seed, device)
    fake = features(args.knn_n, args.knn_dim, args.seed + 1, device, shift=0.1)
    knn_loo_accuracy(real[:64], fake[:64])  # warm-up: kernels, allocator
    seconds, accuracy = timed(lambda: knn_loo_accuracy(real, fake), device)
    block_rows = max(1, min(2 * args.knn_n, 8192))
    mm_floor_seconds(real[:64], fake[:64], block_rows)
    floor = mm_floor_seconds(real, fake, block_rows)
    return row(
        "knn_loo", seconds, f"float32 torch.mm of every pair, {block_rows}-row blocks", floor, 2 * args.knn_n,
        2 * args.knn_n, dim=args.knn_dim, value=float(accuracy),
    )  # fmt: skip


class _PassThrough(torch.nn.Module):
    """torchmetrics' FID feature module for features computed already: returns its input."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchmetrics_fid(real: torch.Tensor, fake: torch.Tensor) -> Callable[[], float] | None:
    """torchmetrics' FID (update and compute) on the given features, or ``None`` when torchmetrics is missing."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError:
        return None

    def run() -> float:
        metric = FrechetInceptionDistance(feature=_PassThrough(real.shape[1])).to(real.device)
        metric.update(real, real=True)
        metric.update(fake, real=False)
        return float(metric.compute())

    return run


def fid_case(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """ganprobe's FID on ``fid_n`` + ``fid_n`` features against torchmetrics' (or the covariances alone)."""
    from ganprobe.functional.frechet import fid_from_features

    real = features(args.fid_n, args.fid_dim, args.seed + 2, device)
    fake = features(args.fid_n, args.fid_dim, args.seed + 3, device, shift=0.1)
    fid_from_features(real[:256], fake[:256])  # warm-up: kernels, solver workspaces
    seconds, value = timed(lambda: fid_from_features(real, fake), device)
    reference = torchmetrics_fid(real, fake)
    if reference is not None:
        reference()
        baseline_seconds, baseline_value = timed(reference, device)
        baseline = "torchmetrics FrechetInceptionDistance, update and compute on the same features"
    else:
        baseline_seconds, _ = timed(lambda: (torch.cov(real.T.double()), torch.cov(fake.T.double())), device)
        baseline, baseline_value = "the two covariance matrices alone (torch.cov, float64)", None
    return row(
        "fid", seconds, baseline, baseline_seconds, 2 * args.fid_n, 2 * args.fid_n, dim=args.fid_dim,
        value=float(value), baseline_value=baseline_value,
    )  # fmt: skip


def evaluate_case(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """:func:`ganprobe.evaluate` on ``evaluate_n`` + ``evaluate_n`` images against their extraction alone."""
    from ganprobe.run.pipeline import evaluate

    extractor = extractor_for(device, compile=False)
    real = images(args.evaluate_n, args.image_size, args.seed + 4)
    fake = images(args.evaluate_n, args.image_size, args.seed + 5)
    settings: dict[str, dict[str, Any]] = {}
    if "kid" in args.evaluate_metrics:
        settings["kid"] = {"subset_size": min(1000, args.evaluate_n)}
    if "is" in args.evaluate_metrics:
        settings["is"] = {"splits": min(10, args.evaluate_n)}

    def run() -> Any:
        return evaluate(
            fake, real, extractor=extractor, metrics=args.evaluate_metrics, batch_size=args.batch_size,
            device=device, settings=settings, seed=args.seed,
        )  # fmt: skip

    extraction_seconds(extractor, real[: args.batch_size], args.batch_size)  # warm-up: kernels, allocator
    seconds, result = timed(run, device)
    # The baseline is the extraction inside this very run (the evaluation's own stage timings).
    extraction = result.timings["extract_real"] + result.timings["extract_fake"]
    values = {record.key: record.value for record in result.records}
    return row(
        "evaluate", seconds, "extraction of the same images alone (stage timings of this run)", extraction,
        2 * args.evaluate_n, 2 * args.evaluate_n, metrics=list(args.evaluate_metrics), values=values,
        timings=dict(result.timings),
    )  # fmt: skip


def machine(device: torch.device) -> dict[str, Any]:
    """The device, the host and the versions the run used."""
    description: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        description["gpu"] = torch.cuda.get_device_name(device)
        description["cuda"] = torch.version.cuda
        description["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return description


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested case on ``args.device``; a ``"skipped"`` record without a usable GPU."""
    device = torch.device(args.device)
    settings = {name: getattr(args, name) for name in PRESETS} | {
        "quick": args.quick,
        "cases": args.cases,
        "evaluate_metrics": args.evaluate_metrics,
        "compile": args.compile,
    }
    if device.type == "cuda" and not torch.cuda.is_available():
        return {"status": "skipped", "reason": "no GPU: skipped (torch.cuda.is_available() is False)",
                "machine": machine(torch.device("cpu")), "settings": settings, "cases": []}  # fmt: skip
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    print("extraction ...", file=sys.stderr, flush=True)
    rows += extraction_cases(args, device)
    for case, function in (("knn_loo", knn_loo_case), ("fid", fid_case), ("evaluate", evaluate_case)):
        if case in args.cases:
            print(f"{case} ...", file=sys.stderr, flush=True)
            rows.append(function(args, device))
    return {
        "status": "ok",
        "machine": machine(device),
        "settings": settings,
        "total_seconds": time.perf_counter() - started,
        "cases": rows,
    }


def print_table(payload: dict[str, Any]) -> None:
    """The cases as a markdown table (or the reason nothing ran)."""
    if payload["status"] != "ok":
        print(payload["reason"])
        return
    print("| case | items | seconds | per second | baseline | baseline s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for case in payload["cases"]:
        if case["status"] != "ok":
            print(f"| {case['case']} | - | - | - | skipped: {case['reason']} | - | - |")
            continue
        print(
            f"| {case['case']} | {case['count']} | {case['seconds']:.2f} | {case['per_second']:.0f} | "
            f"{case['baseline']} | {case['baseline_seconds']:.2f} | {case['ratio']:.2f}x |"
        )
    print(f"total {payload['total_seconds']:.0f} s on {payload['machine'].get('gpu', payload['machine']['device'])}")


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; exit 0 (also when no GPU is present)."""
    args = parse_args(argv)
    payload = run(args)
    print_table(payload)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
