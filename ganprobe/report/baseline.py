"""Validation of a ``--baseline`` report before any regression gate reads it.

A baseline decides whether a CI run passes, so a file that is not what ganprobe writes must be refused, not read
loosely: an unknown ``schema_version``, an empty ``metrics`` list (no gate would ever fail) or a boolean where a
number belongs are :class:`~ganprobe.errors.InputError`, each one line naming the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ganprobe.errors import InputError
from ganprobe.text import quote_path

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
            (not boolean) ``value`` or ``null``.
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
    return dict(payload)
