"""Benchmark ganprobe's k-NN leave-one-out accuracy against scikit-learn.

For each total sample count ``N`` the script draws seeded float32 features, ``N/2`` "real" ~ N(0, I) and ``N/2``
"fake" ~ N(0.1, I) in ``--dim`` dimensions (so the accuracy is non-trivial, about 0.5-0.7), and measures:

* **ganprobe**: :func:`ganprobe.functional.knn_loo.knn_loo_accuracy`, best of 3 runs for ``N <= 10000`` and a
  single run above, after one warm-up call on a small input. Each N is measured in a *fresh subprocess*, which
  also reports the peak resident memory of the call: the kernel's high-water mark (``VmHWM``) is reset through
  ``/proc/self/clear_refs`` after the inputs are built and the warm-up is done, so the figure is the peak RSS the
  call adds on top of the process (inputs, torch and the warm-up are excluded). Where that reset is unavailable the
  script falls back to ``ru_maxrss`` growth, which can under-report, and says so. On CUDA it reports
  ``torch.cuda.max_memory_allocated`` above the inputs instead.
* **sklearn LOO**: the baseline of the face-GAN study,
  ``cross_val_score(KNeighborsClassifier(n_neighbors=k), X, y, cv=LeaveOneOut()).mean()``, run once for
  ``N <= --sklearn-max-n`` (it refits N times, so it is slow).
* **smart sklearn**: ``KNeighborsClassifier(n_neighbors=k).fit(X, y).kneighbors()`` (querying the training set
  with ``X=None`` returns every point's neighbours *excluding itself*), then a majority vote; run once for
  ``N <= --smart-max-n``. This is the fairer baseline: one search, no refits.

* **GEMM floor**: in the same worker, interleaved with ganprobe's runs, a plain ``torch.mm`` of the same blocks
  that ganprobe's search multiplies (``block_rows`` rows of the pooled features against all of them, into one
  reused output buffer, every block of the ``N x N`` matrix once). That is the matrix product's own cost, which
  no exact search can avoid: "ganprobe / floor" says how much the rest (selection, re-ranking, conversions) adds.
  Each side is its best over the same runs; target <= 1.25 (issue 26), reported, not enforced (timing noise).

Both baselines must classify exactly as many samples correctly as ganprobe; otherwise the script prints the
mismatch and exits with status 1 (this is the benchmark's correctness check). ``--threads`` sets
``torch.set_num_threads`` in the worker (and ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``
for it and for scikit-learn); default: each library's own default.

Benchmarks are ratios measured in the same run on the same machine, never timed unit tests.

Examples::

    python benchmarks/knn_loo.py --quick
    python benchmarks/knn_loo.py --sizes 20000 --threads 1 --smart-max-n 0   # ganprobe vs its GEMM floor only
    python benchmarks/knn_loo.py --json benchmarks/results/knn_loo.json --markdown
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from cpu_time import busy_seconds, children_cpu_seconds, others_share

DEFAULT_SIZES = (2000, 10000, 50000)
QUICK_SIZES = (2000, 10000)
BEST_OF_MAX_N = 10000  # best of 3 runs up to this N, a single run above
BEST_OF = 3
FLOOR_TARGET = 1.25  # ganprobe / GEMM floor (issue 26)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
WARMUP_ROWS = 256
SEED = 0
FAKE_SHIFT = 0.1


# --------------------------------------------------------------------------------------------------- data


def make_features(n_total: int, dim: int, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded float32 ``(real, fake)``: ``n_total/2`` rows each, N(0, I) and N(FAKE_SHIFT, I) in ``dim`` dims."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + n_total)
    half = n_total // 2
    real = torch.randn(half, dim, generator=generator, dtype=torch.float32)
    fake = torch.randn(n_total - half, dim, generator=generator, dtype=torch.float32) + FAKE_SHIFT
    return real, fake


def pooled_numpy(real: torch.Tensor, fake: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (float32, real rows first) and ``y`` (0 real, 1 fake), ganprobe's pooling order."""
    x = np.concatenate([real.numpy(), fake.numpy()])
    y = np.concatenate([np.zeros(real.shape[0], dtype=np.int64), np.ones(fake.shape[0], dtype=np.int64)])
    return x, y


# ------------------------------------------------------------------------------------------------ memory


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux), or ``None``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); ``False`` if that is not possible here."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _ru_maxrss_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


class CpuWatch:
    """Wall time, this process's CPU time, its reaped children's CPU time (subprocesses, DataLoader workers), and
    the share of the machine's CPU used by *other* processes.

    The last figure reads ``/proc/stat`` (system-wide busy jiffies, steal included) minus this process's and its
    children's CPU time; it is ``None`` where ``/proc/stat`` is unavailable. Above a few percent, timings are inflated
    by contention.
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.children = 0.0
        self.others_share: float | None = None

    def __enter__(self) -> CpuWatch:
        self._busy = busy_seconds()
        self._children = children_cpu_seconds()
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.children = children_cpu_seconds() - self._children
        self.others_share = others_share(self._busy, busy_seconds(), self.cpu + self.children, self.wall)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_ganprobe(
    n_total: int, dim: int, k: int, device_name: str, block_bytes: int | None, repeats: int | None = None
) -> dict[str, Any]:
    """Time ganprobe's ``knn_loo_accuracy`` and measure its peak memory (meant to run in a fresh process)."""
    from ganprobe.functional.knn_loo import knn_loo_accuracy
    from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES

    device = torch.device(device_name)
    budget = DEFAULT_BLOCK_BYTES if block_bytes is None else block_bytes
    real, fake = make_features(n_total, dim)
    real, fake = real.to(device), fake.to(device)
    # Warm-up on a small input (thread pools, kernels, allocator).
    float(knn_loo_accuracy(real[:WARMUP_ROWS], fake[:WARMUP_ROWS], k=k, block_bytes=budget))
    _sync(device)
    gc.collect()

    if device.type == "cuda":
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        memory_method = "cuda max_memory_allocated above inputs"
    else:
        base_kib = _status_kib("VmRSS") or 0
        if _reset_peak_rss():
            memory_method = "peak RSS above inputs (VmHWM reset)"
        else:
            base_kib = _ru_maxrss_kib()
            memory_method = "ru_maxrss growth above inputs (may under-report)"

    if repeats is None:
        repeats = BEST_OF if n_total <= BEST_OF_MAX_N else 1
    watches, floor_watches = [], []
    accuracy = float("nan")
    for _ in range(repeats):
        floor_watches.append(time_gemm_floor(real, fake, budget, device))
        _sync(device)
        with CpuWatch() as watch:
            accuracy = float(knn_loo_accuracy(real, fake, k=k, block_bytes=budget))
            _sync(device)
        watches.append(watch)
    best = min(watches, key=lambda w: w.wall)
    floor = min(floor_watches, key=lambda w: w.wall)

    if device.type == "cuda":
        peak_bytes = torch.cuda.max_memory_allocated(device) - base
    elif memory_method.startswith("peak RSS"):
        peak_bytes = ((_status_kib("VmHWM") or 0) - base_kib) * 1024
    else:
        peak_bytes = (_ru_maxrss_kib() - base_kib) * 1024
    return {
        "seconds": best.wall,
        "all_seconds": [w.wall for w in watches],
        "gemm_floor_seconds": floor.wall,
        "gemm_floor_all_seconds": [w.wall for w in floor_watches],
        "gemm_floor_cpu_seconds": floor.cpu,
        "gemm_floor_others_cpu_share": floor.others_share,
        "floor_ratio": best.wall / floor.wall,
        # CPU time of this process: robust to being preempted on a shared machine (1 thread: wall minus waiting).
        "floor_cpu_ratio": best.cpu / floor.cpu,
        "cpu_seconds": best.cpu,
        "others_cpu_share": best.others_share,
        "repeats": repeats,
        "accuracy": accuracy,
        "correct": round(accuracy * n_total),
        "peak_bytes": max(0, peak_bytes),
        "memory_method": memory_method,
        "block_bytes": budget,
        "input_bytes": real.element_size() * n_total * dim,
        "torch_threads": torch.get_num_threads(),
    }


def time_gemm_floor(real: torch.Tensor, fake: torch.Tensor, block_bytes: int, device: torch.device) -> CpuWatch:
    """Time a plain ``torch.mm`` of the blocks ganprobe's search multiplies: every row block of the pooled
    features against all of them (``block_rows`` rows for ``block_bytes``), into one reused output buffer."""
    from ganprobe.functional.neighbours import block_rows

    points = torch.cat([real, fake])
    n_total = points.shape[0]
    rows = block_rows(n_total, block_bytes, points.element_size())
    out = torch.empty(min(rows, n_total), n_total, dtype=points.dtype, device=device)
    _sync(device)
    with CpuWatch() as watch:
        for start in range(0, n_total, rows):
            block = points[start : start + rows]
            torch.mm(block, points.T, out=out[: block.shape[0]])
        _sync(device)
    return watch


def run_ganprobe_subprocess(
    n_total: int,
    dim: int,
    k: int,
    device: str,
    block_bytes: int | None,
    threads: int | None = None,
    repeats: int | None = None,
) -> dict[str, Any]:
    """Run :func:`run_ganprobe` in a fresh interpreter so its memory peak is not polluted by earlier sizes."""
    spec = json.dumps(
        {"n": n_total, "dim": dim, "k": k, "device": device, "block_bytes": block_bytes, "repeats": repeats}
        | {"threads": threads}
    )
    environment = dict(os.environ)
    if threads is not None:
        environment.update({name: str(threads) for name in THREAD_VARIABLES})
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", spec],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"ganprobe worker for N={n_total} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- baselines


def run_sklearn_loo(x: np.ndarray, y: np.ndarray, k: int) -> dict[str, Any]:
    """The study's baseline: ``cross_val_score`` with ``LeaveOneOut`` (N refits), run once."""
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    with CpuWatch() as watch:
        scores = cross_val_score(KNeighborsClassifier(n_neighbors=k), x, y, cv=LeaveOneOut())
    return {
        "seconds": watch.wall,
        "cpu_seconds": watch.cpu,
        "others_cpu_share": watch.others_share,
        "accuracy": float(scores.mean()),
        "correct": int(round(float(scores.sum()))),
    }


def run_sklearn_smart(x: np.ndarray, y: np.ndarray, k: int) -> dict[str, Any]:
    """One fit, one self-excluding ``kneighbors()`` query of the training set, majority vote; run once."""
    from sklearn.neighbors import KNeighborsClassifier

    with CpuWatch() as watch:
        model = KNeighborsClassifier(n_neighbors=k).fit(x, y)
        neighbours = model.kneighbors(return_distance=False)  # X=None: each point's neighbours, itself excluded
        predicted = (y[neighbours].sum(axis=1) * 2 > k).astype(np.int64)
        correct = int((predicted == y).sum())
    return {
        "seconds": watch.wall,
        "cpu_seconds": watch.cpu,
        "others_cpu_share": watch.others_share,
        "accuracy": correct / y.shape[0],
        "correct": correct,
    }


# ----------------------------------------------------------------------------------------------- report


def machine_description() -> dict[str, Any]:
    """CPU model and count, thread counts and library versions."""
    import sklearn

    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def _fmt_ratio(baseline: float | None, ours: float) -> str:
    return "-" if baseline is None else f"{baseline / ours:.1f}x"


def _fmt_share(measurements: list[dict[str, Any] | None]) -> str:
    """Worst share of the machine's CPU taken by other processes during any timed call of this row."""
    shares = [m["others_cpu_share"] for m in measurements if m and m.get("others_cpu_share") is not None]
    return "-" if not shares else f"{100 * max(shares):.0f}"


COLUMNS = (
    "N",
    "dim",
    "ganprobe s",
    "sklearn LOO s",
    "LOO / ganprobe",
    "smart sklearn s",
    "smart / ganprobe",
    "accuracy",
    "ganprobe peak MiB",
    "GEMM floor s",
    "ganprobe / floor",
    "others' CPU %",
)


def table_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """Formatted cells, one list per N, in :data:`COLUMNS` order."""
    rows = []
    for result in results:
        ours = result["ganprobe"]
        loo = result.get("sklearn_loo")
        smart = result.get("sklearn_smart")
        rows.append(
            [
                f"{result['n']:,}",
                str(result["dim"]),
                _fmt_seconds(ours["seconds"]),
                _fmt_seconds(loo["seconds"] if loo else None),
                _fmt_ratio(loo["seconds"] if loo else None, ours["seconds"]),
                _fmt_seconds(smart["seconds"] if smart else None),
                _fmt_ratio(smart["seconds"] if smart else None, ours["seconds"]),
                f"{ours['accuracy']:.4f}" + (" ✓" if result["checked"] else ""),
                f"{ours['peak_bytes'] / 2**20:,.0f}",
                _fmt_seconds(ours.get("gemm_floor_seconds")),
                f"{ours['floor_ratio']:.2f}" if "floor_ratio" in ours else "-",
                _fmt_share([ours, loo, smart]),
            ]
        )
    return rows


def markdown_table(results: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---:" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def print_report(results: list[dict[str, Any]], machine: dict[str, Any], markdown: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # keep the table on one line per row in logs
    table = Table(title="KNN leave-one-out accuracy: ganprobe vs scikit-learn")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for row in table_rows(results):
        table.add_row(*row)
    console.print(table)
    if results:
        ours = results[0]["ganprobe"]
        console.print(
            f"ganprobe: best of {BEST_OF} runs for N <= {BEST_OF_MAX_N:,}, one run above, each N in a fresh process "
            f"after a warm-up call; sklearn baselines: one run. Memory column: {ours['memory_method']} "
            f"(distance-block budget {ours['block_bytes'] / 2**20:,.0f} MiB). ✓ = every sklearn baseline that ran "
            "classified exactly the same number of samples correctly. Others' CPU %: the largest share of "
            "the machine's CPU time used by other processes during any timed call of the row (/proc/stat); "
            "more than a few percent means the timings are inflated by contention."
        )
    console.print(
        f"machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), scikit-learn {machine['sklearn']}, numpy {machine['numpy']}, "
        f"Python {machine['python']}"
    )
    if machine.get("loadavg_at_start") is not None:
        load = machine["loadavg_at_start"]
        console.print(
            f"load average at start: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min; other processes "
            "competing for the CPUs inflate every timing)"
        )
    for result in results:
        ours = result["ganprobe"]
        if "floor_ratio" in ours:
            verdict = "met" if ours["floor_ratio"] <= FLOOR_TARGET else "NOT met"
            console.print(
                f"N={result['n']:,}: ganprobe / GEMM floor = {ours['floor_ratio']:.2f} wall, "
                f"{ours['floor_cpu_ratio']:.2f} CPU time (target <= {FLOOR_TARGET:g}, on wall time): {verdict}"
            )
    if markdown:
        print(markdown_table(results))


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to a temporary file in ``path``'s folder, then ``os.replace`` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=2)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time ganprobe's k-NN leave-one-out accuracy against scikit-learn (same run, same machine).",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="total sample counts N (real + fake)"
    )
    parser.add_argument("--dim", type=int, default=512, help="feature dimension (default: 512)")
    parser.add_argument("--k", type=int, default=1, help="odd number of neighbours (default: 1)")
    parser.add_argument("--device", default="cpu", help="torch device for ganprobe (default: cpu)")
    parser.add_argument("--quick", action="store_true", help=f"only N in {list(QUICK_SIZES)} (overrides --sizes)")
    parser.add_argument(
        "--sklearn-max-n",
        type=int,
        default=2000,
        help="run the slow sklearn LeaveOneOut baseline only up to this N (default: 2000)",
    )
    parser.add_argument(
        "--smart-max-n",
        type=int,
        default=10000,
        help="run the one-query sklearn kneighbors baseline only up to this N (default: 10000)",
    )
    parser.add_argument(
        "--block-bytes", type=int, default=None, help="ganprobe's distance-block budget (default: its own default)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"ganprobe and GEMM-floor runs per N, best kept (default: {BEST_OF} up to N={BEST_OF_MAX_N:,}, 1 above)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads for every side (default: each library's own default)"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the results here (atomic)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = list(QUICK_SIZES)
    if any(n < 4 or n % 2 for n in args.sizes):
        parser.error(f"--sizes: every N must be an even number >= 4, got {args.sizes}")
    if args.dim < 1:
        parser.error(f"--dim: must be >= 1, got {args.dim}")
    if args.k < 1 or args.k % 2 == 0:
        parser.error(f"--k: must be a positive odd integer, got {args.k}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats: must be >= 1, got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads: must be >= 1, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        spec = json.loads(args.worker)
        if spec.get("threads") is not None:
            torch.set_num_threads(spec["threads"])
        arguments = (spec["n"], spec["dim"], spec["k"], spec["device"], spec["block_bytes"], spec.get("repeats"))
        print(json.dumps(run_ganprobe(*arguments)))
        return 0

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if args.threads is not None:  # scikit-learn's OpenMP pools read these when first used, in this process
        torch.set_num_threads(args.threads)
        os.environ.update({name: str(args.threads) for name in THREAD_VARIABLES})
    machine = machine_description()
    command = " ".join(["python", *sys.argv]) if argv is None else " ".join(["python", __file__, *argv])
    results: list[dict[str, Any]] = []
    mismatches: list[str] = []
    for n_total in args.sizes:
        print(f"N={n_total:,}: ganprobe ...", file=sys.stderr, flush=True)
        result: dict[str, Any] = {"n": n_total, "dim": args.dim, "k": args.k}
        result["ganprobe"] = run_ganprobe_subprocess(
            n_total, args.dim, args.k, args.device, args.block_bytes, args.threads, args.repeats
        )
        baselines = {"sklearn_loo": (args.sklearn_max_n, run_sklearn_loo)}
        baselines["sklearn_smart"] = (args.smart_max_n, run_sklearn_smart)
        if n_total <= max(args.sklearn_max_n, args.smart_max_n):
            x, y = pooled_numpy(*make_features(n_total, args.dim))
            for name, (max_n, runner) in baselines.items():
                if n_total > max_n:
                    continue
                print(f"N={n_total:,}: {name} ...", file=sys.stderr, flush=True)
                result[name] = runner(x, y, args.k)
                if result[name]["correct"] != result["ganprobe"]["correct"]:
                    mismatches.append(
                        f"N={n_total}: ganprobe classifies {result['ganprobe']['correct']} correctly "
                        f"(accuracy {result['ganprobe']['accuracy']!r}), {name} {result[name]['correct']} "
                        f"(accuracy {result[name]['accuracy']!r})"
                    )
            del x, y
            gc.collect()
        result["checked"] = any(name in result for name in baselines) and not any(
            m.startswith(f"N={n_total}:") for m in mismatches
        )
        result["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        results.append(result)

    print_report(results, machine, args.markdown)
    if args.json is not None:
        payload = {
            "benchmark": "knn_loo",
            "started": started,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "machine": machine,
            "device": args.device,
            "results": results,
            "mismatches": mismatches,
        }
        write_json_atomic(args.json, payload)
    if mismatches:
        print("ACCURACY MISMATCH between ganprobe and scikit-learn:\n  " + "\n  ".join(mismatches), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
