"""ganprobe's benchmark runner: every comparison in one run, one JSON, one table of times and ratios.

Sections (``--sections``, default all):

* ``extraction``: images/second from an image folder (decode -> resize -> backbone) against the bare backbone on
  preloaded tensors and torchmetrics' FID ``update()``; the backbone's FLOPs per image against a float32 matmul rate
  measured in the same run (``benchmarks/extraction.py``).
* ``evaluation``: ``ganprobe.Evaluator`` (all metrics) against torchmetrics' FID, KID and IS computed separately,
  and torch-fidelity with the same backbone as a custom extractor (``benchmarks/extraction.py``).
* ``fid_kid``, ``knn_loo``, ``separability``: metric computation on precomputed features against torchmetrics,
  torch-fidelity, clean-fid and scikit-learn (``benchmarks/competitors.py``).
* ``scaling``: time and peak memory against N for KNN-LOO, precision/recall, FID, KID (``benchmarks/scaling.py``).
* ``speed_options``: ``channels_last``, ``torch.compile``, bf16 autocast: speed and effect on FID
  (``benchmarks/speed_options.py``).
* ``backends``: eager PyTorch against ONNX Runtime end to end from a folder of PNGs, the backbone alone, decoding
  alone, the FLOP limit, and variants of the decode/inference overlap, at ``--backend-threads`` (default 2)
  (``benchmarks/backends.py``).

Every measurement runs in a fresh worker process with ``torch.set_num_threads(--threads)`` (and the same count in
the OMP/MKL/OpenBLAS variables), best of ``--repeats``; ratios compare sides of the same run. Competitors that are
not installed (``pip install -e .[bench]``) appear as "not installed" rows. The backbone is ``efficientnet-lite0``
with its shipped ImageNet weights; images are generated PNGs (crops of scikit-image's sample photographs).

Examples::

    python benchmarks/run.py --quick
    python benchmarks/run.py --json benchmarks/results/full.json --markdown
    python benchmarks/run.py --device cuda --threads 8 --sizes 1000 10000 50000 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECTIONS = ("extraction", "evaluation", "fid_kid", "knn_loo", "separability", "scaling", "speed_options", "backends")
DEFAULT_SIZES = (1000, 2000, 5000, 10000, 20000, 50000)
QUICK_SIZES = (1000, 2000, 5000)
# option: (full default, --quick default)
PRESETS = {
    "repeats": (3, 2),
    "images": (256, 48),
    "image_size": (192, 192),
    "batch_size": (32, 16),
    "fid_n": (2000, 1000),
    "fid_dim": (2048, 1280),
    "kid_n": (2000, 1000),
    "kid_subsets": (100, 100),
    "kid_subset_size": (1000, 500),
    "knn_sizes": ([2000, 10000], [2000]),
    "sep_n": (2000, 1000),
    "matmul_n": (4096, 2048),
    "backend_images": (512, 128),
    "backend_batch_size": (64, 64),
    "backend_rounds": (2, 1),
}
EXTRACTION_TARGET = 0.9
EVALUATION_TARGET = 3.0
KNN_TARGET = 100.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The runner's command line (``--quick`` fills every option not given with its quick preset)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="torch device of every ganprobe side (default: cpu)")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=None,
        help=f"scaling: total sample counts N (default {list(DEFAULT_SIZES)}, --quick {list(QUICK_SIZES)})",
    )
    parser.add_argument("--quick", action="store_true", help="small presets: the whole run in a few minutes")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to run")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads of every side (default: 1)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every measurement in this process (fast smoke test; memory figures not isolated)",
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="speed options: include torch.compile (default on, off with --quick: compiling takes "
        "minutes on a small CPU)",
    )
    for name, (full, quick) in PRESETS.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(full, list):
            parser.add_argument(flag, type=int, nargs="+", default=None, help=f"default {full}, --quick {quick}")
        else:
            parser.add_argument(flag, type=int, default=None, help=f"default {full}, --quick {quick}")
    parser.add_argument(
        "--backend-threads",
        type=int,
        default=2,
        help="backends: threads of every side (default 2: issue 15's target is 100 img/s on 2 cores)",
    )
    parser.add_argument(
        "--backend-extractors",
        nargs="+",
        default=["efficientnet-lite0", "random-inception-fid", "random-resnet50"],
        help="backends: extractors (default: efficientnet-lite0, random-inception-fid, random-resnet50)",
    )
    parser.add_argument(
        "--backend-variants",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="backends: also run the decode/inference overlap variants for the first extractor (default on)",
    )
    parser.add_argument("--knn-dim", type=int, default=512, help="KNN-LOO feature width (default: 512)")
    parser.add_argument("--sklearn-loo-max-n", type=int, default=2000, help="run sklearn LeaveOneOut up to this N")
    parser.add_argument("--sep-dim", type=int, default=256, help="separability feature width (default: 256)")
    parser.add_argument("--scaling-dim", type=int, default=512, help="scaling feature width (default: 512)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="results file (default: benchmarks/results/run[-quick].json)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as markdown")
    args = parser.parse_args(argv)
    for name, (full, quick) in PRESETS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.compile is None:
        args.compile = not args.quick
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if any(n < 8 or n % 2 for n in args.sizes):
        parser.error(f"--sizes: every N must be an even number >= 8, got {args.sizes}")
    if args.images < 10 or args.kid_subset_size > args.kid_n or args.threads < 1 or args.repeats < 1:
        parser.error("--images must be >= 10, --kid-subset-size <= --kid-n, --threads and --repeats >= 1")
    if args.backend_threads < 1 or args.backend_batch_size < 1 or args.backend_images < args.backend_batch_size:
        parser.error("--backend-threads and --backend-batch-size must be >= 1, --backend-images >= the batch size")
    if args.json is None:
        args.json = Path(__file__).parent / "results" / ("run-quick.json" if args.quick else "run.json")
    return args


COLUMNS = ("case", "side", "seconds", "ratio", "ratio means", "rate /s", "value", "ok", "peak MiB", "others %", "note")


def _cells(r: dict[str, Any]) -> list[str]:
    def number(x: float | None, digits: int = 3) -> str:
        if x is None:
            return "-"
        return f"{x:.{digits}f}" if x < 10 else f"{x:,.1f}"

    note = r["note"] if r["status"] == "ok" else r["status"] + (f"; {r['note']}" if r["note"] else "")
    return [
        r["case"],
        r["side"],
        number(r["seconds"]),
        "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
        r["ratio_label"],
        "-" if r["rate"] is None else f"{r['rate']:,.1f}",
        r["value"],
        {True: "✓", False: "✗", None: ""}[r["check"]],
        "-" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:,.0f}",
        "-" if r["others_cpu_share"] is None else f"{100 * r['others_cpu_share']:.0f}",
        note,
    ]


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each issue target: the measured figure and met / NOT met."""
    import backends

    lines = []
    for r in rows:
        if r["status"] != "ok":
            continue
        if r["section"] == "extraction" and r["side"].startswith("ganprobe"):
            verdict = "met" if r["ratio"] >= EXTRACTION_TARGET else "NOT met"
            lines.append(
                f"extraction from a folder at {r['ratio']:.0%} of the bare backbone's images/s "
                f"(target >= {EXTRACTION_TARGET:.0%}): {verdict}"
            )
        if r["section"] == "extraction" and r["side"].startswith("torchmetrics FID.update (decoded"):
            lines.append(f"torchmetrics FID.update from the same folder: {r['ratio']:.0%} of the bare backbone")
        if r["section"] == "evaluation" and r["side"].startswith("torchmetrics"):
            verdict = "met" if r["ratio"] >= EVALUATION_TARGET else "NOT met"
            lines.append(
                f"full evaluation: torchmetrics FID+KID+IS separately took {r['ratio']:.2f}x the Evaluator's "
                f"time (target >= {EVALUATION_TARGET:g}x): {verdict}"
            )
        if r["section"] == "evaluation" and r["side"].startswith("torch-fidelity"):
            lines.append(
                f"full evaluation: torch-fidelity (FID+KID+ISC, one pass) took {r['ratio']:.2f}x the "
                "Evaluator's time (all 9 metrics)"
            )
        if r["section"] == "knn_loo" and "LeaveOneOut" in r["side"]:
            verdict = "met" if r["ratio"] >= KNN_TARGET else "NOT met"
            lines.append(
                f"{r['case']}: sklearn LeaveOneOut {r['ratio']:.0f}x slower (target >= {KNN_TARGET:g}x): {verdict}"
            )
        if r["section"] in ("fid_kid", "separability") and r["ratio"] is not None and r["check"] is not None:
            if not r["side"].startswith("ganprobe"):
                lines.append(f"{r['case'].split(',')[0]}: {r['side']} {r['ratio']:.2f}x ganprobe's time")
        if r["section"] == "backends" and r["data"].get("mode") == "folder" and r["data"]["backend"] == "onnxruntime":
            d = r["data"]
            line = (
                f"{d['extractor']} end to end from a folder with ONNX Runtime: {d['images_per_second']:.1f} img/s, "
                f"{d['ratio_to_eager']:.2f}x eager, {d['flop_limit_share']:.0%} of the FLOP limit"
            )
            if d["extractor"] == "efficientnet-lite0":
                met = d["images_per_second"] >= backends.TARGET_RATE and d["ratio_to_eager"] >= backends.TARGET_RATIO
                line += f" (target >= {backends.TARGET_RATE:g} img/s and >= {backends.TARGET_RATIO:g}x eager): " + (
                    "met" if met else "NOT met"
                )
            lines.append(line)
        if r["section"] == "speed_options" and r["side"] != "float32":
            lines.append(
                f"speed option {r['side']}: {r['ratio']:.2f}x float32 speed, {r['value']}: {r['data']['verdict']}"
            )
    failed = [r for r in rows if r["check"] is False or r["status"].startswith("failed")]
    for r in failed:
        lines.append(f"CHECK FAILED: {r['section']} / {r['case']} / {r['side']}: {r['value']} {r['status']}")
    return lines


def print_report(payload: dict[str, Any], markdown: bool) -> None:
    """Rich tables (one per section), the target lines and the machine line; markdown tables on request."""
    import backends
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=250)
    rows = payload["rows"]
    for section in payload["sections"]:
        table = Table(title=section)
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("case", "side", "value", "note") else "right")
        for r in rows:
            if r["section"] == section:
                table.add_row(*_cells(r))
        console.print(table)
    for line in payload["targets"]:
        console.print("target: " + line)
    m = payload["machine"]
    console.print(
        f"machine: {m['cpu_model']}, {m['cpu_count']} CPUs, device {m['device']}, torch {m['torch']} "
        f"({m['torch_threads']} threads), torchmetrics {m['torchmetrics']}, torch-fidelity "
        f"{m.get('torch-fidelity', 'not installed')}, clean-fid {m.get('clean-fid', 'not installed')}, "
        f"scikit-learn {m['sklearn']}; {payload['seconds']:.0f} s in all"
    )
    if markdown:
        for section in payload["sections"]:
            lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
            lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows if r["section"] == section]
            print(f"\n**{section}**\n\n" + "\n".join(lines))
            if section == "backends":
                print("\n**backends, side by side**\n\n" + backends.summary_markdown(rows))


def run_sections(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every requested section; a section that raises becomes one "failed" row and the run goes on."""
    import backends
    import competitors
    import extraction
    import scaling
    import speed_options
    from measure import row

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ganprobe-bench-images-") as scratch:
        folders = backend_folders = None
        if {"extraction", "evaluation", "speed_options"} & set(args.sections):
            folders = extraction.make_image_folders(Path(scratch), args.images, args.image_size)
        if "backends" in args.sections:
            backend_folders = extraction.make_image_folders(
                Path(scratch) / "backends", args.backend_images, args.image_size, fakes=False
            )
        runners = {
            "extraction": lambda: extraction.section_extraction(args, folders),
            "evaluation": lambda: extraction.section_evaluation(args, folders),
            "fid_kid": lambda: competitors.section_fid_kid(args),
            "knn_loo": lambda: competitors.section_knn_loo(args),
            "separability": lambda: competitors.section_separability(args),
            "scaling": lambda: scaling.section_scaling(args),
            "speed_options": lambda: speed_options.section_speed_options(args, folders),
            "backends": lambda: backends.section_backends(args, backend_folders[0]),
        }
        for section in args.sections:
            print(f"[{section}]", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                rows += runners[section]()
            except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others' results
                message = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
                rows.append(row(section, "-", "-", status=f"failed: {message}"))
            print(f"[{section}] {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker SPEC``, one measurement); exit status 1 if a value check failed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raw = sys.argv[1:] if argv is None else argv
    if raw[:1] == ["--worker"]:
        from measure import worker_main

        print(json.dumps(worker_main(json.loads(raw[1]))))
        return 0
    args = parse_args(raw)
    import torch

    torch.set_num_threads(args.threads)
    import measure
    from measure import machine_description

    from ganprobe.utils.atomic_files import atomic_write

    measure.IN_PROCESS = args.in_process

    started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    machine = machine_description(args.threads, args.device)
    rows = run_sections(args)
    payload = {
        "benchmark": "ganprobe run.py",
        "started": started_at,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - started,
        "command": " ".join(["python", "benchmarks/run.py", *raw]),
        "machine": machine,
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "sections": list(args.sections),
        "rows": rows,
        "loadavg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    payload["targets"] = target_lines(rows)
    atomic_write(args.json, lambda handle: handle.write(json.dumps(payload, indent=2).encode() + b"\n"))
    print_report(payload, args.markdown)
    print(f"results: {args.json}", file=sys.stderr)
    return 1 if any(line.startswith("CHECK FAILED") for line in payload["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
