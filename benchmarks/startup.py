"""Start-up time of the ``ganprobe`` command: help texts, ``ganprobe extractors`` and two small evaluations against
``import torch``.

Every case is a fresh ``python`` process, run ``--repeats`` times after one warm-up run (which fills the OS file
cache); the table keeps the best and the median wall time. The baseline, ``python -c "import torch"``, runs in the
same session, so the ratios compare like with like on whatever machine and load this runs. Each case also runs once
under ``python -X importtime`` to record which heavy packages it imported. "others %" is the largest share of the
machine's CPU that *other* processes used during a timed run (``/proc/stat``): above a few percent the timings are
inflated by contention. This script imports no torch itself.

The two evaluations (the small runs of a CI gate) compare 64 generated with 64 real images (random 32x32 PNGs
written to a temporary folder, ``--images`` to change) on the default extractor:

* ``evaluate --metrics fid, warm cache``: the warm-up run fills the feature cache, every timed run reads it.
  Target: within 1.5x of ``import torch``.
* ``evaluate, cold, --no-cache``: every default metric, features extracted on every run. Target: within 3x.

Both use a temporary ``GANPROBE_CACHE_DIR`` (feature cache and ONNX exports: the warm-up run exports the backbone
once, as any first run on a machine does).

``--source DIR`` times another checkout (the cases run in it, and it is put first on ``PYTHONPATH``), e.g. the
commit before a change.

Examples::

    python benchmarks/startup.py
    python benchmarks/startup.py --repeats 9 --markdown --json benchmarks/results/startup.json
    python benchmarks/startup.py --source ../ganprobe-old --markdown
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from cpu_time import busy_seconds, children_cpu_seconds, others_share

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import torch"
EVALUATE_WARM = "ganprobe evaluate --metrics fid, warm cache"
EVALUATE_COLD = "ganprobe evaluate, cold, --no-cache"
# (case name, arguments after the interpreter); {fake}, {real} and {cache} are filled in by measure()
CASES = (
    ("python (interpreter alone)", ["-c", "pass"]),
    (BASELINE, ["-c", "import torch"]),
    ("ganprobe --help", ["-m", "ganprobe", "--help"]),
    ("ganprobe evaluate --help", ["-m", "ganprobe", "evaluate", "--help"]),
    ("ganprobe stats --help", ["-m", "ganprobe", "stats", "--help"]),
    ("ganprobe extractors", ["-m", "ganprobe", "extractors"]),
    (EVALUATE_WARM, ["-m", "ganprobe", "evaluate", "{fake}", "{real}", "--metrics", "fid", "--quiet", "--cache-dir",
                     "{cache}"]),
    (EVALUATE_COLD, ["-m", "ganprobe", "evaluate", "{fake}", "{real}", "--no-cache", "--quiet"]),
)  # fmt: skip
# The cases that must not import torch (exit 1 if one does), and the ratio to ``import torch`` each evaluation aims at.
TORCH_FREE = ("ganprobe --help", "ganprobe evaluate --help", "ganprobe stats --help", "ganprobe extractors")
TARGETS = {EVALUATE_WARM: 1.5, EVALUATE_COLD: 3.0}
HEAVY = (
    "torch",
    "torchvision",
    "torchmetrics",
    "numpy",
    "scipy",
    "sklearn",
    "PIL",
    "matplotlib",
    "onnx",
    "onnxruntime",
)


def write_images(folder: Path, count: int, seed: int) -> None:
    """``count`` random 32x32 RGB PNGs (stored, uncompressed zlib level 0), written without numpy or PIL."""
    folder.mkdir(parents=True, exist_ok=True)
    state = seed * 2654435761 % 2**32 or 1
    for index in range(count):
        rows = bytearray()
        for _ in range(32):
            rows.append(0)  # PNG filter type "none"
            for _ in range(32 * 3):
                state = state * 1103515245 + 12345 & 0x7FFFFFFF
                rows.append(state >> 16 & 0xFF)
        (folder / f"{index:04d}.png").write_bytes(_png(32, 32, bytes(rows)))


def _png(width: int, height: int, rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def run_once(python: str, arguments: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float | None]:
    """One run in ``cwd`` (``python -m`` imports from there first): its wall seconds and the share of the machine's
    CPU that other processes used meanwhile."""
    busy, cpu, start = busy_seconds(), children_cpu_seconds() + time.process_time(), time.perf_counter()
    completed = subprocess.run([python, *arguments], capture_output=True, env=env, cwd=cwd, check=False)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)}: exit {completed.returncode}: {completed.stderr.decode()[-500:]}")
    return wall, others_share(busy, busy_seconds(), children_cpu_seconds() + time.process_time() - cpu, wall)


def heavy_imports(python: str, arguments: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """The heavy top-level packages (torch, numpy, ...) that the case imports, read from ``-X importtime``."""
    command = [python, "-X", "importtime", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    modules = {line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines() if line.startswith("import")}
    return sorted({module.split(".")[0] for module in modules} & set(HEAVY))


def measure(python: str, source: Path, repeats: int, images: int = 64) -> list[dict[str, Any]]:
    """Time every case (one warm-up, then ``repeats`` runs) and add its ratio to ``import torch``."""
    with tempfile.TemporaryDirectory(prefix="ganprobe-startup-") as scratch:
        folders = {"fake": Path(scratch) / "fake", "real": Path(scratch) / "real", "cache": Path(scratch) / "features"}
        write_images(folders["fake"], images, 1)
        write_images(folders["real"], images, 2)
        env = {**os.environ, "GANPROBE_CACHE_DIR": str(Path(scratch) / "cache")}
        env.pop("GANPROBE_ONNX_DIR", None)
        return _measure(python, source, repeats, env, {key: str(path) for key, path in folders.items()})


def _measure(
    python: str, source: Path, repeats: int, env: dict[str, str], paths: dict[str, str]
) -> list[dict[str, Any]]:
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))}
    env.setdefault("GANPROBE_OFFLINE", "1")  # `ganprobe extractors` never downloads; this only makes it explicit
    results = []
    for name, template in CASES:
        arguments = [argument.format(**paths) for argument in template]
        print(f"{name} ...", file=sys.stderr, flush=True)
        run_once(python, arguments, env, source)  # warm-up: file cache, bytecode
        runs = [run_once(python, arguments, env, source) for _ in range(max(1, repeats))]
        walls = [wall for wall, _ in runs]
        shares = [share for _, share in runs if share is not None]
        results.append(
            {
                "case": name,
                "command": shlex.join(["python", *template]),
                "best_seconds": min(walls),
                "median_seconds": statistics.median(walls),
                "all_seconds": walls,
                "others_cpu_share": max(shares) if shares else None,
                "imports": heavy_imports(python, arguments, env, source),
            }
        )
    baseline = next(result for result in results if result["case"] == BASELINE)
    for result in results:
        result["ratio_to_import_torch"] = result["median_seconds"] / baseline["median_seconds"]
        if result["case"] in TARGETS:
            result["target_ratio"] = TARGETS[result["case"]]
            result["target_met"] = result["ratio_to_import_torch"] <= TARGETS[result["case"]]
    return results


def machine_description(python: str, source: Path) -> dict[str, Any]:
    """CPU model and count, load, and the versions of the interpreter and torch that the cases ran with."""
    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu_model
            )
    except OSError:
        pass
    versions = subprocess.run(
        [python, "-c", "import platform, torch; print(platform.python_version(), torch.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    commit = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "python": versions[0] if versions else None,
        "torch": versions[1] if len(versions) > 1 else None,
        "source": str(source),
        "commit": commit or None,
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The results as a markdown table (the one in ``benchmarks/README.md``)."""
    lines = [
        "| case | best s | median s | median / `import torch` | target | imports | others % |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        share = result["others_cpu_share"]
        target = (
            f"{result['target_ratio']}x: {'met' if result['target_met'] else 'not met'}"
            if "target_ratio" in result
            else ""
        )
        lines.append(
            f"| {result['case']} | {result['best_seconds']:.2f} | {result['median_seconds']:.2f} | "
            f"{result['ratio_to_import_torch']:.2f}x | {target} | {', '.join(result['imports']) or 'no torch'} | "
            f"{'-' if share is None else round(100 * share)} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The script's command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case after the warm-up (default: 5)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run the cases with (default: this)")
    parser.add_argument("--source", type=Path, default=ROOT, help="ganprobe checkout to time (default: this one)")
    parser.add_argument("--json", default=None, help="write the results and the machine to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--images", type=int, default=64, help="images per set of the evaluate cases (default: 64)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every case, print the table (and write the JSON); exit 1 if a help text or the listing needs torch (a
    missed ratio target is reported, not an error: it depends on the machine and its load)."""
    args = parse_args(argv)
    machine = machine_description(args.python, args.source.resolve())
    results = measure(args.python, args.source.resolve(), args.repeats, args.images)
    print(json.dumps(machine))
    if args.markdown:
        print(markdown_table(results))
    else:
        for result in results:
            imports = ", ".join(result["imports"]) or "-"
            print(
                f"{result['case']:<44} best {result['best_seconds']:6.2f} s  median {result['median_seconds']:6.2f} s"
                f"  {result['ratio_to_import_torch']:5.2f}x import torch  imports: {imports}"
                + (
                    f"  target {result['target_ratio']}x {'met' if result['target_met'] else 'NOT met'}"
                    if "target_ratio" in result
                    else ""
                )
            )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    torch_needed = [r["case"] for r in results if r["case"] in TORCH_FREE and "torch" in r["imports"]]
    if torch_needed:
        print(f"these import torch: {', '.join(torch_needed)}", file=sys.stderr)
    return 1 if torch_needed else 0


if __name__ == "__main__":
    sys.exit(main())
