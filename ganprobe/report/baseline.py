"""Validation of a ``--baseline`` report before any regression gate reads it.

A baseline decides whether a CI run passes, so a file that is not what ganprobe writes must be refused, not read
loosely: an unknown ``schema_version``, an empty ``metrics`` list (no gate would ever fail), a list that holds no
output a regression gate compares (unknown keys, or only outputs without a direction such as ``knn_loo_p_value``:
the same), a boolean where a number belongs, and a standard error that is not finite, is negative, or is larger than
the value's own scale (a ``stderr`` of 1e300 would let any regression pass) are :class:`~ganprobe.errors.InputError`,
each one line naming the file and the field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from ganprobe.errors import InputError
from ganprobe.report.baseline_per_class import check_per_class_section
from ganprobe.utils.safe_text import quote_path

# Report schema versions this ganprobe reads as baselines (2: the current one; 3: the next, already understood).
KNOWN_SCHEMA_VERSIONS = (2, 3, 4)


def validate_baseline(payload: object, source: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a parsed baseline report and return it.

    Args:
        payload: the parsed JSON.
        source: the file it came from (for messages).

    Returns:
        ``payload``, unchanged.

    Raises:
        InputError: ``--baseline: <file>: ...`` when it is not an object, its ``schema_version`` is not an integer
            this ganprobe knows, ``metrics`` is not a non-empty list of objects with a string ``key`` and a numeric
            (not boolean) ``value`` or ``null``, none of them is an output a regression gate compares, or a
            ``stderr`` is not a valid standard error (see :func:`stderr_scale`).
    """
    where = f"--baseline: {quote_path(source)}"
    if not isinstance(payload, Mapping):
        raise InputError(f"{where}: not a ganprobe JSON report (a {type(payload).__name__}, not an object)")
    version = payload.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in KNOWN_SCHEMA_VERSIONS:
        raise InputError(
            f"{where}: schema_version {version!r} is not one this ganprobe reads "
            f"({', '.join(map(str, KNOWN_SCHEMA_VERSIONS))})"
        )
    metrics = payload.get("metrics")
    if not isinstance(metrics, list):
        raise InputError(f"{where}: not a ganprobe JSON report (no 'metrics' list)")
    if not metrics:
        raise InputError(f"{where}: 'metrics' is empty, so no regression could ever be found")
    for index, entry in enumerate(metrics):
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: metrics[{index}] is a {type(entry).__name__}, not an object")
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            raise InputError(f"{where}: metrics[{index}] has no string 'key' (got {key!r})")
        value = entry.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"{where}: metrics[{index}] ({key}): 'value' must be a number or null, got {value!r}")
        _check_stderr(entry, f"{where}: metrics[{index}] ({key})")
    if "per_class" in payload:
        check_per_class_section(payload["per_class"], where)
    if not any(_compared(entry["key"]) for entry in metrics):
        raise InputError(
            f"{where}: none of its {len(metrics)} metrics is an output a regression gate compares (unknown keys, or "
            "outputs without a direction such as knn_loo_p_value), so no regression could ever be found"
        )
    return dict(payload)


def _compared(key: str) -> bool:
    """Whether a regression gate compares output ``key``: declared by a metric, with a direction."""
    from ganprobe.metrics.registry import find_output  # the declarations only: no torch

    found = find_output(key)
    return found is not None and found[1].direction.badness(0.0) is not None


def _number(value: object) -> float | None:
    """A finite JSON number as a float, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def stderr_scale(entry: Mapping[str, object]) -> float:
    """The largest standard error a baseline record may hold: the scale of its own numbers.

    That is the largest of the value's magnitude, its spread (``std``), the width of its interval (``low`` to
    ``high``) and, for an output declared bounded (a proportion, an accuracy), the width of its range. A value near
    zero (KID of two matched sets) may have an error larger than itself, but never larger than its spread or range.
    """
    value, std = _number(entry.get("value")), _number(entry.get("std"))
    low, high = _number(entry.get("low")), _number(entry.get("high"))
    from ganprobe.metrics.registry import find_output

    found = find_output(str(entry.get("key")))  # the declared range, not the file's claim
    lower, upper = (found[1].lower, found[1].upper) if found is not None else (None, None)
    candidates = [abs(value or 0.0), abs(std or 0.0)]
    if low is not None and high is not None:
        candidates.append(abs(high - low))
    if lower is not None and upper is not None:
        candidates.append(abs(upper - lower))
    return max(candidates)


def _check_stderr(entry: Mapping[str, object], where: str) -> None:
    """A record's ``stderr``: absent, ``null``, or a finite non-negative number within :func:`stderr_scale`."""
    error = entry.get("stderr")
    if error is None:
        return
    number = _number(error)
    if number is None or number < 0:
        raise InputError(f"{where}: 'stderr' must be a finite non-negative number or null, got {error!r}")
    scale = stderr_scale(entry)
    if number > scale:
        raise InputError(
            f"{where}: 'stderr' {number:g} is larger than the scale of its own numbers ({scale:g}: value, spread, "
            "interval, range), so it would let any regression pass; use the report ganprobe wrote"
        )
