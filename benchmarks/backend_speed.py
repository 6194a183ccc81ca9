"""Execution backends side by side: eager torch vs ONNX Runtime, end to end from a folder of PNGs, on N threads.

For each extractor: features from a folder of 192 px crops of scikit-image's photos, as the other sections use
(`extract_features`: decode in a DataLoader worker, resize, backbone), the backbone alone on preloaded preprocessed
tensors, and decode + preprocess alone; FLOPs per image
(`FlopCounterMode`) against a float32 matmul rate measured in the same run (the FLOP limit); and the largest
relative feature difference of ONNX Runtime vs eager. Best of `--repeats` after a warm-up pass.

    python benchmarks/backend_speed.py                    # 2 threads, 256 PNGs of 192 px
    python benchmarks/backend_speed.py --threads 8 --images 2048 --json benchmarks/results/backends.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from extraction import make_image_folders, worker_matmul  # benchmarks/ (this script's folder)
from torch.utils.flop_counter import FlopCounterMode

from ganprobe.data.sources import iter_folder_batches
from ganprobe.extractors import get_extractor
from ganprobe.features import extract_features

EXTRACTORS = ["efficientnet-lite0", "random-inception-fid", "random-resnet50"]


def best(run: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, folder: Path, count: int, batch: int, repeats: int, rate: float) -> list[dict]:
    """The rows of one extractor: both backends, end to end and backbone only, plus decode alone."""
    eager = get_extractor(name, backend="torch")
    layer = eager.default_layer
    size = eager.preprocessing.size
    probe = eager.preprocess(torch.zeros(1, 3, *size, dtype=torch.uint8))  # the backbone's own input
    with FlopCounterMode(display=False) as counter:
        eager.forward_preprocessed(probe, layer)
    flops = counter.get_total_flops()
    limit = rate * 1e9 / flops
    preloaded = torch.cat([b.images for b in iter_folder_batches(folder, batch, None, eager.preprocessing, 0)])
    rows, features = [], {}
    for backend in ("torch", "onnxruntime"):
        extractor = eager if backend == "torch" else get_extractor(name, backend=backend)

        def end_to_end(extractor=extractor) -> dict:  # noqa: ANN001 - bound per backend
            return extract_features(extractor, folder, [layer], batch_size=batch)

        def backbone(extractor=extractor) -> None:  # noqa: ANN001
            for start in range(0, count, batch):
                extractor.forward_preprocessed(preloaded[start : start + batch], layer)

        features[backend] = end_to_end()[layer]
        for mode, run in (("end to end from PNGs", end_to_end), ("backbone only (preloaded)", backbone)):
            seconds = best(run, repeats)
            rows.append({"extractor": name, "backend": backend, "mode": mode, "img_per_s": count / seconds,
                         "flop_share": count / seconds / limit})  # fmt: skip
    difference = float((features["onnxruntime"] - features["torch"]).abs().max() / features["torch"].abs().max())
    for row in rows:
        row["feature_difference"] = difference if row["backend"] == "onnxruntime" else 0.0
        row["gflop_per_image"] = flops / 1e9
    for workers in (0, 1):
        seconds = best(lambda w=workers: list(iter_folder_batches(folder, batch, None, eager.preprocessing, w)), 1)
        rows.append({"extractor": name, "backend": "-", "mode": f"decode + preprocess only, {workers} worker(s)",
                     "img_per_s": count / seconds, "flop_share": None, "feature_difference": None,
                     "gflop_per_image": flops / 1e9})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--extractors", nargs="+", default=EXTRACTORS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rate = worker_matmul({"device": "cpu", "n": 4096, "repeats": 5})["gflops"]
    print(f"threads {args.threads}, float32 matmul {rate:.1f} GFLOP/s, load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as directory:
        folder, _ = make_image_folders(Path(directory), args.images, args.size)  # the real folder: photo crops
        rows = [row for name in args.extractors for row in measure(name, folder, args.images, args.batch_size,
                                                                     args.repeats, rate)]  # fmt: skip
    print("| extractor | backend | mode | img/s | vs eager | share of FLOP limit | features vs eager (max rel) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        eager = next((r for r in rows if r["extractor"] == row["extractor"] and r["mode"] == row["mode"]
                      and r["backend"] == "torch"), None)  # fmt: skip
        ratio = f"{row['img_per_s'] / eager['img_per_s']:.2f}x" if eager and row["backend"] != "-" else "-"
        share = f"{row['flop_share']:.0%}" if row["flop_share"] is not None else "-"
        diff = f"{row['feature_difference']:.1e}" if row["feature_difference"] is not None else "-"
        print(f"| {row['extractor']} ({row['gflop_per_image']:.2f} GFLOP) | {row['backend']} | {row['mode']} | "
              f"{row['img_per_s']:.1f} | {ratio} | {share} | {diff} |")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"threads": args.threads, "gflops": rate, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
