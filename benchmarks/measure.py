"""Shared measurement helpers of ``benchmarks/run.py``: timing, peak memory, workers, machine, competitors.

The low-level pieces (CPU readings in ``benchmarks/cpu_time.py``; CPU watch, peak-RSS reset, machine description)
live in ``benchmarks/knn_loo.py`` and ``benchmarks/scores.py``, which stay runnable on their own; this module
re-exports them and adds what the runner's sections share: best-of-k timing, one subprocess per measurement (fresh
imports, allocator and thread pools, and a clean memory high-water mark), result rows, and whether a competitor is
installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import knn_loo as _knn_loo
import scores as _scores
import torch

CpuWatch = _knn_loo.CpuWatch
PeakMemory = _scores.PeakMemory
machine_base = _knn_loo.machine_description

RUNNER = Path(__file__).with_name("run.py")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Comma-separated import names to treat as missing (e.g. "cleanfid,torch_fidelity"): lets a test check the
# "not installed" rows without uninstalling anything.
HIDE_VARIABLE = "GANPROBE_BENCH_HIDE"
# Set by ``run.py --in-process``: workers run in the runner's own interpreter (fast smoke tests; peak-memory figures
# then include earlier allocations and the BLAS thread variables cannot apply).
IN_PROCESS = False
COMPETITORS = {"torchmetrics": "torchmetrics", "torch-fidelity": "torch_fidelity", "clean-fid": "cleanfid"}


# One timing helper for every benchmark: the standalone scripts' own (fresh run, best of ``repeats``).
sync = _scores._sync


def installed(import_name: str) -> bool:
    """Whether ``import_name`` can be imported here (and is not hidden through ``GANPROBE_BENCH_HIDE``)."""
    hidden = {name.strip() for name in os.environ.get(HIDE_VARIABLE, "").split(",") if name.strip()}
    return import_name not in hidden and importlib.util.find_spec(import_name) is not None


def best_of(call: Callable[[], Any], device: torch.device, repeats: int) -> tuple[Any, dict[str, Any]]:
    """Run ``call`` ``repeats`` times (at least once): its last result and the fastest run's wall/CPU seconds and
    others' CPU share, as :func:`scores.timed` (``timing = {"seconds", "all_seconds", "cpu_seconds",
    "children_cpu_seconds", "others_cpu_share", "loadavg", "repeats"}``)."""
    return _scores.timed(call, device, max(1, repeats))


def run_worker(spec: dict[str, Any], threads: int, timeout: float | None = None) -> dict[str, Any]:
    """Run ``spec["module"].spec["function"](spec)`` in a fresh interpreter with ``threads`` threads everywhere.

    ``torch.set_num_threads(threads)`` is applied in the worker, and ``OMP/MKL/OPENBLAS_NUM_THREADS`` cover
    scikit-learn and numpy. Returns the worker's JSON dict; raises ``RuntimeError`` with its stderr on failure.
    """
    label = f"{spec['module']}.{spec['function']} {spec.get('side', '')} {spec.get('n', '')}".strip()
    print(f"  {label} ...", file=sys.stderr, flush=True)
    if IN_PROCESS:
        return json.loads(json.dumps(worker_main({**spec, "threads": threads})))
    environment = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    environment["PYTHONWARNINGS"] = environment.get("PYTHONWARNINGS", "ignore")
    completed = subprocess.run(
        [sys.executable, str(RUNNER), "--worker", json.dumps({**spec, "threads": threads})],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"worker {label} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def worker_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Entry point inside a worker process: pin threads, import the section module, call its function."""
    torch.set_num_threads(int(spec["threads"]))
    module = importlib.import_module(spec["module"])
    started = time.perf_counter()
    result = getattr(module, spec["function"])(spec)
    result.setdefault("worker_seconds", time.perf_counter() - started)
    result.setdefault("torch_threads", torch.get_num_threads())
    return result


def row(
    section: str,
    case: str,
    side: str,
    seconds: float | None = None,
    *,
    ratio: float | None = None,
    ratio_label: str = "",
    value: str = "",
    check: bool | None = None,
    rate: float | None = None,
    peak_bytes: int | None = None,
    status: str = "ok",
    note: str = "",
    others: float | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One line of the results table (and of the JSON's ``rows``).

    Args:
        section, case, side: where it belongs and who ran (``side`` names the library and call).
        seconds: wall time of the measured call (best of k), ``None`` when it did not run.
        ratio: a ratio measured in the same run; ``ratio_label`` says which (e.g. ``"torchmetrics / ganprobe"``,
            so > 1 means ganprobe is faster, or ``"of bare backbone"`` for a throughput fraction).
        value: the computed value as text (so equality with the other side is visible); ``check`` whether it
            agrees with the reference within the section's tolerance (``None``: not checked).
        rate: throughput (images or samples per second) where meaningful.
        peak_bytes: peak resident memory the call added above its inputs.
        status: ``"ok"``, ``"not installed"``, ``"skipped (...)"`` or ``"failed: ..."``.
        note: one short free-text remark; ``others``: the largest share of the CPU used by other processes.
        data: extra machine-readable figures for the JSON.
    """
    return {
        "section": section,
        "case": case,
        "side": side,
        "seconds": seconds,
        "ratio": ratio,
        "ratio_label": ratio_label,
        "value": value,
        "check": check,
        "rate": rate,
        "peak_bytes": peak_bytes,
        "status": status,
        "note": note,
        "others_cpu_share": others,
        "data": data or {},
    }


def relative(value: float, reference: float) -> float:
    """``|value - reference| / |reference|`` (absolute difference when the reference is 0)."""
    return abs(value - reference) / abs(reference) if reference else abs(value - reference)


def machine_description(threads: int, device: str) -> dict[str, Any]:
    """CPU model and count, threads, device, library versions (competitors included when installed)."""
    import torchmetrics
    import torchvision

    machine = machine_base()
    machine.update(torch_threads=threads, device=device, torchvision=torchvision.__version__)
    machine["torchmetrics"] = torchmetrics.__version__
    for label, import_name in COMPETITORS.items():
        if label != "torchmetrics" and installed(import_name):
            from importlib.metadata import PackageNotFoundError, version

            try:
                machine[label] = version(label)
            except PackageNotFoundError:
                machine[label] = "installed"
    if device.startswith("cuda") and torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return machine
