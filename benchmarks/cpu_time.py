"""CPU-time readings the benchmarks share (no torch: ``startup.py`` imports it without paying for torch)."""

from __future__ import annotations

import os
import resource


def busy_seconds() -> float | None:
    """System-wide busy CPU seconds so far (``/proc/stat``, steal included), or ``None`` without ``/proc/stat``."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's reaped children (subprocesses, DataLoader workers) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def others_share(busy_before: float | None, busy_after: float | None, own_cpu: float, wall: float) -> float | None:
    """The share of the machine's CPU that *other* processes used during ``wall`` seconds in which this process and
    its children used ``own_cpu`` seconds, or ``None`` when ``/proc/stat`` could not be read."""
    if busy_before is None or busy_after is None or wall <= 0:
        return None
    others = max(0.0, busy_after - busy_before - own_cpu)
    return min(1.0, others / (wall * (os.cpu_count() or 1)))
