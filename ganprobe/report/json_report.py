"""The JSON report: strict JSON (NaN/inf become null), written atomically, validated by ``schema.json``.

The schema (``ganprobe/report/schema.json``, JSON Schema 2020-12) is part of the API: its keys are the
constants of :class:`ganprobe.evaluation.EvaluationResult.to_json` and :data:`ganprobe.report.records.KEYS`.
"""

from __future__ import annotations

import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ganprobe.atomic import atomic_write


def finite(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by ``None`` throughout a JSON-ready structure."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write ``payload`` as strict, indented JSON to ``path`` via a temporary file and a rename; returns the path."""
    text = json.dumps(finite(payload), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def report_schema() -> dict[str, Any]:
    """The JSON Schema of the ``--json`` report (a dict, for ``jsonschema.validate``)."""
    return json.loads(resources.files("ganprobe.report").joinpath("schema.json").read_text(encoding="utf-8"))
