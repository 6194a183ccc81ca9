"""Start-up time of the ``ganprobe`` command: help texts and ``ganprobe extractors`` against ``import torch``.

Every case is a fresh ``python`` process, run ``--repeats`` times after one warm-up run (which fills the OS file
cache); the table keeps the best and the median wall time. The baseline, ``python -c "import torch"``, runs in the
same session, so the ratios compare like with like on whatever machine and load this runs. Each case also runs once
under ``python -X importtime`` to record whether it imported torch at all. "others %" is the largest share of the
machine's CPU that *other* processes used during a timed run (``/proc/stat``): above a few percent the timings are
inflated by contention. This script imports no torch itself.

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
import time
from pathlib import Path
from typing import Any

from cpu_time import busy_seconds, children_cpu_seconds, others_share

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import torch"
# (case name, arguments after the interpreter)
CASES = (
    ("python (interpreter alone)", ["-c", "pass"]),
    (BASELINE, ["-c", "import torch"]),
    ("ganprobe --help", ["-m", "ganprobe", "--help"]),
    ("ganprobe evaluate --help", ["-m", "ganprobe", "evaluate", "--help"]),
    ("ganprobe stats --help", ["-m", "ganprobe", "stats", "--help"]),
    ("ganprobe extractors", ["-m", "ganprobe", "extractors"]),
)
HEAVY = ("torch", "torchvision", "torchmetrics", "numpy", "scipy", "sklearn", "PIL")


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


def measure(python: str, source: Path, repeats: int) -> list[dict[str, Any]]:
    """Time every case (one warm-up, then ``repeats`` runs) and add its ratio to ``import torch``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))}
    env.setdefault("GANPROBE_OFFLINE", "1")  # `ganprobe extractors` never downloads; this only makes it explicit
    results = []
    for name, arguments in CASES:
        print(f"{name} ...", file=sys.stderr, flush=True)
        run_once(python, arguments, env, source)  # warm-up: file cache, bytecode
        runs = [run_once(python, arguments, env, source) for _ in range(max(1, repeats))]
        walls = [wall for wall, _ in runs]
        shares = [share for _, share in runs if share is not None]
        results.append(
            {
                "case": name,
                "command": shlex.join(["python", *arguments]),
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
        "| command | best s | median s | median / `import torch` | imports | others % |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        share = result["others_cpu_share"]
        lines.append(
            f"| `{result['command']}` | {result['best_seconds']:.2f} | {result['median_seconds']:.2f} | "
            f"{result['ratio_to_import_torch']:.2f}x | {', '.join(result['imports']) or 'no torch'} | "
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every case, print the table (and write the JSON); exit 1 if a help text or the listing needs torch."""
    args = parse_args(argv)
    machine = machine_description(args.python, args.source.resolve())
    results = measure(args.python, args.source.resolve(), args.repeats)
    print(json.dumps(machine))
    if args.markdown:
        print(markdown_table(results))
    else:
        for result in results:
            imports = ", ".join(result["imports"]) or "-"
            print(
                f"{result['case']:<28} best {result['best_seconds']:6.2f} s  median {result['median_seconds']:6.2f} s"
                f"  {result['ratio_to_import_torch']:5.2f}x import torch  imports: {imports}"
            )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    torch_needed = [r["case"] for r in results if r["case"].startswith("ganprobe") and "torch" in r["imports"]]
    if torch_needed:
        print(f"these import torch: {', '.join(torch_needed)}", file=sys.stderr)
    return 1 if torch_needed else 0


if __name__ == "__main__":
    sys.exit(main())
