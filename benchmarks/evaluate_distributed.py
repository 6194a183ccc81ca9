"""``ganprobe evaluate`` end to end: one process vs ``torchrun`` with N processes on the same folders.

Each row runs the whole command in fresh processes (no feature cache), reads its JSON report, and compares every
metric value with the one-process run (they must be equal). Threads per process: ``--threads`` (default: the
machine's cores) divided by the process count, so every row uses the same cores.

    python benchmarks/evaluate_distributed.py --processes 1 2                       # CPU (gloo)
    python benchmarks/evaluate_distributed.py --device cuda --processes 1 2 4 8 --images 20000   # a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from extraction import make_image_folders  # benchmarks/ (this script's folder)


def run(processes: int, args: argparse.Namespace, fake: Path, real: Path, out: Path) -> dict:
    """Run the command once with ``processes`` processes; returns wall time, the report's values and counts."""
    threads = max(1, args.threads // processes)
    command = [sys.executable, "-m", "ganprobe", "evaluate"]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "-m", "ganprobe", "evaluate"]  # fmt: skip
    command += [str(fake), str(real), "--extractor", args.extractor, "--device", args.device, "--batch-size",
                str(args.batch_size), "--no-cache", "--quiet", "--json", str(out)]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if finished.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{finished.stderr[-3000:]}")
    report = json.loads(out.read_text())
    return {
        "processes": processes,
        "threads_per_process": threads,
        "seconds": seconds,
        "values": {metric["key"]: metric["value"] for metric in report["metrics"]},
        "extracted": report.get("processes", {}).get("extracted", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--images", type=int, default=512, help="images per set")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--extractor", default="efficientnet-lite0")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of all processes")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        real, fake = make_image_folders(base, args.images, args.size)
        rows = [run(count, args, fake, real, base / f"report-{count}.json") for count in args.processes]
    reference = rows[0]
    print(f"{args.images} + {args.images} images of {args.size} px, {args.extractor}, {args.device}")
    print(
        "| processes | threads each | wall s | speed-up | images extracted per process (fake) | values vs first row |"
    )
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for row in rows:
        difference = max_relative_difference(row["values"], reference["values"])
        worst = max(worst, difference)
        speed = reference["seconds"] / row["seconds"]
        extracted = row["extracted"].get("fake", [])
        verdict = "equal" if difference == 0 else f"max relative difference {difference:.1e}"
        print(f"| {row['processes']} | {row['threads_per_process']} | {row['seconds']:.1f} | {speed:.2f}x | "
              f"{extracted} | {verdict} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    # Equal bit for bit at equal threads per process; other thread counts change BLAS summation orders (round-off).
    if worst > 1e-6:
        sys.exit(1)


def max_relative_difference(values: dict, reference: dict) -> float:
    """The largest ``|a - b| / max(|b|, 1e-12)`` over the reference's keys (infinite for a missing key)."""
    worst = 0.0
    for key, want in reference.items():
        got = values.get(key)
        if got is None:
            return float("inf")
        if got != want:
            worst = max(worst, abs(got - want) / max(abs(want), 1e-12))
    return worst


if __name__ == "__main__":
    main()
