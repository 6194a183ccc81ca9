"""Execution backends end to end: eager PyTorch against ONNX Runtime, from a folder of PNGs to features.

Section ``backends`` of ``benchmarks/run.py``. For each extractor (``--backend-extractors``; default
``efficientnet-lite0`` with its shipped weights, and ``random-inception-fid`` and ``random-resnet50``: seeded random
weights, because speed does not depend on the weights' values and these two would otherwise need a download), at
``--backend-threads`` threads (default 2: issue 15's target is "100 img/s on 2 cores", while the suite's default is
1 thread per side) and batch ``--backend-batch-size`` (64), each in a fresh worker process, best of ``--repeats``:

* **end to end**: ``extract_features(extractor, folder, batch_size=64)`` on ``--backend-images`` PNGs (decode and
  preprocess in the default DataLoader workers, overlapping the backbone), eager (channels-last, today's torch
  default) and ONNX Runtime: images/second, the ratio ORT / eager, and the feature differences against eager
  (max ``|ort - eager|`` and that over max ``|eager|``: the relative measure of
  ``tests/extractors/test_onnx_backend.py``);
* **backbone only**: ``forward_preprocessed`` on preloaded preprocessed batches, both backends (the gap to the end
  to end rate is what decoding and batching cost);
* **decode + preprocess only**: iterating ``iter_folder_batches(..., preprocess=extractor.preprocessing)`` without
  the backbone, with 0 workers (in process: its serial cost) and with the default worker count, and that cost as a
  share of each end-to-end run's time;
* **FLOP limit**: FLOPs per image of the eager backbone up to the tapped layer (``FlopCounterMode``) against the
  float32 matmul rate measured in the same run at the same threads (the faster of ``torch.matmul`` and ONNX
  Runtime's ``MatMul`` on two ``--matmul-n`` square matrices): the images/second the machine's matmul rate would
  allow, and the share of it each row reaches.

For the first extractor, ``--backend-variants`` (on by default) also runs ONNX Runtime end to end in alternative
pipelines (decode workers; how decoded images reach the main process; images per ONNX Runtime run; one run per
batch with intra-op threads, with and without spinning, as before), each in ``--backend-rounds`` fresh workers taken
round-robin (best of all), so the choice of defaults rests on measurements made side by side. Every variant must
give the same features as the default pipeline.

CPU columns add the DataLoader workers' CPU time (``RUSAGE_CHILDREN``) to the worker's own; "others %" excludes
both. ONNX Runtime runs on the CPU only: with ``--device cuda`` only the torch rows (and decoding) run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from measure import best_of, row, run_worker
from torch import Tensor

DEFAULT_EXTRACTORS = ("efficientnet-lite0", "random-inception-fid", "random-resnet50")
TARGET_RATE = 100.0  # issue 15: efficientnet-lite0, float32, end to end, 2 cores
TARGET_RATIO = 3.0  # issue 15: at least 3x today's eager default
FEATURE_TOLERANCE = 1e-4  # max |ort - eager| / max |eager|, as tests/extractors/test_onnx_backend.py
# Alternative ONNX Runtime pipelines for the first extractor: label -> settings ({}: the package's defaults).
# "block_rows": images per ONNX Runtime run (the package's ``BLOCK_ROWS``; a huge value: one block per thread);
# "whole": one run per batch with ``ort_threads`` intra-op threads (default: the torch threads), as before;
# "per_image": decoded images cross from the worker one by one instead of as one stacked batch, as before.
VARIANTS: dict[str, dict[str, Any]] = {
    "default pipeline": {},
    "decode in the main process (0 workers)": {"workers": 0},
    "2 decode workers": {"workers": 2},
    "1 worker, images sent one by one (before)": {"per_image": True},
    "1 image per run": {"block_rows": 1},
    "8 images per run": {"block_rows": 8},
    "one block per thread (32 images per run)": {"block_rows": 1_000_000},
    "one run per batch with 2 intra-op threads (before)": {"whole": True},
    "same, ONNX Runtime spinning off": {"whole": True, "spinning": False},
    "everything as before (images one by one, one run with 2 intra-op threads)": {"per_image": True, "whole": True},
}


# --------------------------------------------------------------------------------------------------- timing


# --------------------------------------------------------------------------------------------------- variants


def _collate_per_image(items: list[Any]) -> list[Any]:
    """The collation before worker-side stacking: every decoded image crosses to the main process on its own."""
    return items


def _variant_runner(extractor: Any, settings: dict[str, Any]) -> Any:
    """An ONNX Runtime runner with a variant's blocks, intra-op threads and spinning."""
    import onnxruntime

    from ganprobe.extractors.onnx_backend import OnnxRuntimeRunner, session_options

    whole, spinning = bool(settings.get("whole")), settings.get("spinning")
    threads = settings.get("ort_threads") or (torch.get_num_threads() if whole else 1)

    class VariantRunner(OnnxRuntimeRunner):
        def blocks(self, rows: int) -> int:
            return 1 if whole else super().blocks(rows)

        def _new_session(self, graph: bytes) -> Any:
            options = session_options(threads)
            if spinning is not None:
                options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
            return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    return VariantRunner(extractor.name, extractor.weights_sha256)


# --------------------------------------------------------------------------------------------------- workers


def worker_matmul_onnx(spec: dict[str, Any]) -> dict[str, Any]:
    """ONNX Runtime's float32 ``MatMul`` of two ``n x n`` matrices at ``threads`` intra-op threads (``2 n^3`` FLOPs).

    On this project's CPU (an AMD EPYC, KVM guest) torch's MKL reaches about half the rate of ONNX Runtime's own
    kernels, so the FLOP limit uses the faster of the two.
    """
    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper

    n, threads = int(spec["n"]), int(spec["threads"])
    matrix = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "ABC"]
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"])], "matmul", matrix[:2], matrix[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"A": rng.standard_normal((n, n), dtype=np.float32), "B": rng.standard_normal((n, n), dtype=np.float32)}
    session.run(None, feeds)  # warm-up
    _, timing = best_of(lambda: session.run(None, feeds), torch.device("cpu"), int(spec["repeats"]))
    return {"n": n, "gflops": 2 * n**3 / timing["seconds"] / 1e9, **timing}


def worker_backend(spec: dict[str, Any]) -> dict[str, Any]:
    """One row: ``mode`` "folder" (end to end), "backbone" (preloaded) or "decode" (no backbone) for one backend."""
    if spec.get("onnx_dir"):
        os.environ["GANPROBE_ONNX_DIR"] = spec["onnx_dir"]  # exports of this run, shared by its workers
    from ganprobe.data import sources
    from ganprobe.extractors import onnx_backend
    from ganprobe.extractors.registry import get_extractor

    device = torch.device(spec["device"])
    mode, backend, settings = spec["mode"], spec["backend"], spec.get("variant") or {}
    folder, count, batch_size = Path(spec["folder"]), int(spec["images"]), int(spec["batch_size"])
    workers = settings.get("workers", spec.get("workers"))
    extractor = get_extractor(spec["extractor"], backend=backend).to(device)
    if backend == "onnxruntime" and {"whole", "ort_threads", "spinning"} & set(settings):
        extractor._onnx = _variant_runner(extractor, settings)
    collate, block_rows = sources._collate, onnx_backend.BLOCK_ROWS
    try:  # in-process runs (--in-process) share the modules: restore what a variant changes
        onnx_backend.BLOCK_ROWS = int(settings.get("block_rows", block_rows))
        if settings.get("per_image"):
            sources._collate = _collate_per_image
        return _measure(spec, extractor, mode, folder, count, batch_size, workers, device)
    finally:
        sources._collate, onnx_backend.BLOCK_ROWS = collate, block_rows


def _measure(
    spec: dict[str, Any],
    extractor: Any,
    mode: str,
    folder: Path,
    count: int,
    batch_size: int,
    workers: int | None,
    device: torch.device,
) -> dict[str, Any]:
    from extraction import _load_folder

    from ganprobe.data import sources
    from ganprobe.features.extract import extract_features

    layer = extractor.default_layer
    batches: list[Tensor] = []
    if mode != "decode":
        images = _load_folder(str(folder))[:count]
        batches = [extractor.preprocess(images[i : i + batch_size]) for i in range(0, count, batch_size)]
        extractor.forward_preprocessed(batches[0], [layer])  # warm-up: export or session, thread pools, kernels
    result: dict[str, Any] = {"mode": mode, "backend": extractor.active_backend, "images": count}
    if mode == "folder":

        def run() -> Tensor:
            return extract_features(extractor, folder, [layer], batch_size, count, num_workers=workers)[layer]

    elif mode == "backbone":

        def run() -> Tensor:
            return torch.cat([extractor.forward_preprocessed(batch, [layer])[layer] for batch in batches])

    else:

        def run() -> int:
            decoded = 0
            for batch in sources.iter_folder_batches(folder, batch_size, count, extractor.preprocessing, workers):
                decoded += len(batch.images)  # type: ignore[arg-type]
            return decoded

    output, result["timing"] = best_of(run, device, int(spec["repeats"]))
    if mode == "decode":
        assert output == count, (output, count)
    else:
        assert output.shape[0] == count, (tuple(output.shape), count)
        if spec.get("out"):
            torch.save(output.cpu(), spec["out"])
    if mode == "backbone" and spec["backend"] == "torch":
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            extractor.forward_preprocessed(batches[0][:1], [layer])
        result["flops_per_image"] = counter.get_total_flops()
    timing = result["timing"]
    result["images_per_second"] = count / timing["seconds"]
    result["cpu_ms_per_image"] = 1000 * (timing["cpu_seconds"] + timing["children_cpu_seconds"]) / count
    result["workers"] = sources.default_num_workers() if workers is None else workers
    return result


# --------------------------------------------------------------------------------------------------- section


def _differences(features: Tensor, reference: Tensor) -> tuple[float, float]:
    """max ``|features - reference|`` and that over max ``|reference|``."""
    difference = float((features.double() - reference.double()).abs().max())
    return difference, difference / max(float(reference.double().abs().max()), 1e-30)


def section_backends(args: Any, folder: Path) -> list[dict[str, Any]]:
    """Eager against ONNX Runtime end to end, backbone only, decoding alone, FLOP limit; variants of the pipeline."""
    threads, device = args.backend_threads, args.device
    torch_only = not device.startswith("cpu")
    rows: list[dict[str, Any]] = []
    spec = {"n": args.matmul_n, "repeats": 5, "device": device}
    rates = {"torch.matmul": run_worker({**spec, "module": "extraction", "function": "worker_matmul"}, threads)}
    if not torch_only:
        spec_onnx = {**spec, "module": "backends", "function": "worker_matmul_onnx"}
        rates["onnxruntime MatMul"] = run_worker(spec_onnx, threads)
    best = max(rates, key=lambda side: rates[side]["gflops"])
    for side, rate in rates.items():
        rows.append(
            row(
                "backends",
                f"float32 matmul {args.matmul_n} x {args.matmul_n}, {threads} threads",
                side,
                rate["seconds"],
                value=f"{rate['gflops']:.1f} GFLOP/s",
                note="the machine's matmul rate: the FLOP limit's basis" if side == best else "",
                others=rate["others_cpu_share"],
                data={**rate, "flop_limit_basis": side == best},
            )
        )
    matmul = rates[best]
    with tempfile.TemporaryDirectory(prefix="ganprobe-bench-backends-") as scratch:
        base = {
            "module": "backends",
            "function": "worker_backend",
            "folder": str(folder),
            "images": args.backend_images,
            "batch_size": args.backend_batch_size,
            "repeats": args.repeats,
            "device": device,
            "onnx_dir": str(Path(scratch) / "onnx"),
        }
        for index, name in enumerate(args.backend_extractors):
            rows += _extractor_rows(args, base, name, matmul, Path(scratch), torch_only, threads)
            if index == 0 and args.backend_variants and not torch_only:
                rows += _variant_rows(args, base, name, Path(scratch), threads)
    return rows


def _extractor_rows(
    args: Any, base: dict[str, Any], name: str, matmul: dict[str, Any], scratch: Path, torch_only: bool, threads: int
) -> list[dict[str, Any]]:
    case = f"{name}, {args.backend_images} PNGs of {args.image_size}px, batch {args.backend_batch_size}"
    case += f", {threads} threads"
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for mode in ("folder", "backbone"):
        for backend in ("torch", "onnxruntime"):
            if backend == "onnxruntime" and torch_only:
                continue
            out = scratch / f"{name}-{mode}-{backend}.pt"
            spec = {**base, "extractor": name, "mode": mode, "backend": backend, "out": str(out)}
            runs[mode, backend] = {**run_worker(spec, threads), "features": torch.load(out, weights_only=True)}
            if runs[mode, backend]["backend"] != backend:
                raise RuntimeError(f"{name}: asked for the {backend} backend, {runs[mode, backend]['backend']} ran")
    decode_spec = {**base, "extractor": name, "mode": "decode", "backend": "torch"}
    decode = {workers: run_worker({**decode_spec, "workers": workers}, threads) for workers in (0, None)}
    flops = runs["backbone", "torch"]["flops_per_image"]
    limit = matmul["gflops"] * 1e9 / flops  # images/second at the machine's matmul rate
    labels = {
        ("folder", "torch"): "eager torch (channels-last), end to end from the folder",
        ("folder", "onnxruntime"): "onnxruntime, end to end from the folder",
        ("backbone", "torch"): "eager torch (channels-last), backbone only (preloaded)",
        ("backbone", "onnxruntime"): "onnxruntime, backbone only (preloaded)",
    }
    rows = []
    for (mode, backend), label in labels.items():
        if (mode, backend) not in runs:
            rows.append(row("backends", case, label, status="skipped (ONNX Runtime runs on the CPU only)"))
            continue
        result, eager = runs[mode, backend], runs[mode, "torch"]
        rate = result["images_per_second"]
        absolute, relative = _differences(result["features"], eager["features"])
        seconds = result["timing"]["seconds"]
        decode_share = {w: result["images"] / d["images_per_second"] / seconds for w, d in decode.items()}
        rows.append(
            row(
                "backends",
                case,
                label,
                result["timing"]["seconds"],
                ratio=rate / eager["images_per_second"],
                ratio_label="rate / eager (same mode)",
                rate=rate,
                value="reference" if backend == "torch" else f"max |Δ| {absolute:.1e}, rel {relative:.1e}",
                check=None if backend == "torch" else relative <= FEATURE_TOLERANCE,
                note=f"{rate / limit:.0%} of the FLOP limit ({limit:,.0f} img/s); "
                f"{result['cpu_ms_per_image']:.1f} CPU ms/img"
                + (f"; {flops / 1e9:.2f} GFLOP/img" if (mode, backend) == ("backbone", "torch") else "")
                + (f"; decoding alone = {decode_share[0]:.0%} of this time" if mode == "folder" else ""),
                others=result["timing"]["others_cpu_share"],
                data={
                    "extractor": name,
                    "mode": mode,
                    "backend": backend,
                    "images_per_second": rate,
                    "ratio_to_eager": rate / eager["images_per_second"],
                    "max_abs_difference": absolute,
                    "max_relative_difference": relative,
                    "flops_per_image": flops,
                    "flop_limit_images_per_second": limit,
                    "flop_limit_share": rate / limit,
                    "cpu_ms_per_image": result["cpu_ms_per_image"],
                    "decode_share": {str(w): share for w, share in decode_share.items()},
                    "loadavg": result["timing"]["loadavg"],
                    "all_seconds": result["timing"]["all_seconds"],
                },
            )
        )
    folder_seconds = {b: runs["folder", b]["timing"]["seconds"] for (mode, b) in runs if mode == "folder"}
    for result in decode.values():
        count = result["images"]
        shares = {backend: count / result["images_per_second"] / seconds for backend, seconds in folder_seconds.items()}
        rows.append(
            row(
                "backends",
                case,
                f"decode + preprocess only, {result['workers']} worker{'s' if result['workers'] != 1 else ''}"
                + (" (in process)" if result["workers"] == 0 else " (the default)"),
                result["timing"]["seconds"],
                rate=result["images_per_second"],
                value=", ".join(f"{share:.0%} of {backend} end to end" for backend, share in shares.items()),
                note=f"{result['cpu_ms_per_image']:.1f} CPU ms/img (workers included)",
                others=result["timing"]["others_cpu_share"],
                data={
                    "extractor": name,
                    "mode": "decode",
                    "workers": result["workers"],
                    "images_per_second": result["images_per_second"],
                    "share_of_end_to_end": shares,
                    "cpu_ms_per_image": result["cpu_ms_per_image"],
                    "loadavg": result["timing"]["loadavg"],
                },
            )
        )
    return rows


def _variant_rows(args: Any, base: dict[str, Any], name: str, scratch: Path, threads: int) -> list[dict[str, Any]]:
    """ONNX Runtime end to end in each pipeline variant, ``--backend-rounds`` fresh workers each, round-robin."""
    case = f"{name}, onnxruntime end to end: pipeline variants, {threads} threads, best of {args.backend_rounds} rounds"
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in VARIANTS}
    features: dict[str, Tensor] = {}
    for _round in range(max(1, args.backend_rounds)):
        for label, settings in VARIANTS.items():
            out = scratch / f"variant-{len(features)}.pt"
            spec = {**base, "extractor": name, "mode": "folder", "backend": "onnxruntime", "out": str(out)}
            results[label].append(run_worker({**spec, "variant": settings}, threads))
            features[label] = torch.load(out, weights_only=True)
    best = {label: max(runs, key=lambda r: r["images_per_second"]) for label, runs in results.items()}
    reference = best["default pipeline"]["images_per_second"]
    rows = []
    for label, result in best.items():
        equal = torch.equal(features[label], features["default pipeline"])
        rate = result["images_per_second"]
        rows.append(
            row(
                "backends",
                case,
                label,
                result["timing"]["seconds"],
                ratio=rate / reference,
                ratio_label="rate / default pipeline",
                rate=rate,
                value="features identical" if equal else "features DIFFER",
                check=equal,
                note=f"{result['cpu_ms_per_image']:.1f} CPU ms/img; rounds "
                + " / ".join(f"{r['images_per_second']:.0f}" for r in results[label])
                + " img/s",
                others=result["timing"]["others_cpu_share"],
                data={
                    "extractor": name,
                    "mode": "variant",
                    "variant": VARIANTS[label],
                    "images_per_second": rate,
                    "rounds": [r["images_per_second"] for r in results[label]],
                    "cpu_ms_per_image": result["cpu_ms_per_image"],
                    "workers": result["workers"],
                    "loadavg": [r["timing"]["loadavg"] for r in results[label]],
                },
            )
        )
    return rows


# --------------------------------------------------------------------------------------------------- summary


def summary_markdown(rows: list[dict[str, Any]]) -> str:
    """The section's compact tables: eager and ONNX Runtime side by side per extractor, then the variants."""
    section = [r for r in rows if r["section"] == "backends" and r["status"] == "ok" and r["data"].get("extractor")]
    lines = [
        "| extractor | eager e2e img/s | ORT e2e img/s | ORT / eager e2e | eager backbone img/s | ORT backbone img/s "
        "| decode+preprocess img/s (0 / 1 worker) | decode share of eager / ORT e2e | GFLOP/img | FLOP-limit img/s "
        "| FLOP-limit share eager / ORT e2e | max abs Δ | max rel Δ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in dict.fromkeys(r["data"]["extractor"] for r in section):
        mine = [r for r in section if r["data"]["extractor"] == name]

        found = {(r["data"]["mode"], r["data"].get("backend")): r["data"] for r in mine}
        eager, ort = found.get(("folder", "torch")), found.get(("folder", "onnxruntime"))
        eager_bb, ort_bb = found.get(("backbone", "torch")), found.get(("backbone", "onnxruntime"))
        decodes = [r["data"] for r in mine if r["data"]["mode"] == "decode"]
        if eager is None or eager_bb is None:
            continue

        def rate(d: dict[str, Any] | None) -> str:
            return "-" if d is None else f"{d['images_per_second']:.1f}"

        zero = next((d for d in decodes if d["workers"] == 0), None)
        share = "-" if zero is None else " / ".join(f"{s:.0%}" for s in zero["share_of_end_to_end"].values())
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    rate(eager),
                    rate(ort),
                    "-" if ort is None else f"{ort['ratio_to_eager']:.2f}x",
                    rate(eager_bb),
                    rate(ort_bb),
                    " / ".join(rate(d) for d in decodes),
                    share,
                    f"{eager_bb['flops_per_image'] / 1e9:.2f}",
                    f"{eager['flop_limit_images_per_second']:,.0f}",
                    f"{eager['flop_limit_share']:.0%} / " + ("-" if ort is None else f"{ort['flop_limit_share']:.0%}"),
                    "-" if ort is None else f"{ort['max_abs_difference']:.1e}",
                    "-" if ort is None else f"{ort['max_relative_difference']:.1e}",
                ]
            )
            + " |"
        )
    variants = [r for r in section if r["data"]["mode"] == "variant"]
    if variants:
        lines += [
            "",
            "| ORT pipeline variant (" + variants[0]["data"]["extractor"] + ") | img/s | rate / default | rounds img/s "
            "| CPU ms/img | features |",
            "|---|---:|---:|---|---:|---|",
        ]
        for r in variants:
            d = r["data"]
            lines.append(
                f"| {r['side']} | {d['images_per_second']:.1f} | {r['ratio']:.2f}x | "
                + " / ".join(f"{x:.0f}" for x in d["rounds"])
                + f" | {d['cpu_ms_per_image']:.1f} | {r['value']} |"
            )
    return "\n".join(lines)
