"""The JSON report: strict JSON (NaN/inf become null), written atomically, validated by ``schema.json``.

The schema (``ganprobe/report/schema.json``, JSON Schema 2020-12) is part of the API. :func:`report_schema` fills
in the allowed metric keys from the metrics' declared outputs (plain keys as an enum, per-layer templates as
patterns), so the schema never lists a key of its own.
"""

from __future__ import annotations

import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from ganprobe.utils.atomic_files import atomic_write


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
    """The JSON Schema of the ``--json`` report (a dict, for ``jsonschema.validate``), keys from the declarations."""
    from ganprobe.metrics.registry import declared_outputs

    schema = json.loads(resources.files("ganprobe.report").joinpath("schema.json").read_text(encoding="utf-8"))
    outputs = [output for _, output in declared_outputs()]
    plain = [output.key for output in outputs if not output.is_template]
    patterns = [
        "^" + re.escape(output.key).replace(r"\{layer\}", ".+").replace(r"\{protocol\}", "[^.]+") + "$"
        for output in outputs
        if output.is_template
    ]
    key = schema["$defs"]["metric"]["properties"]["key"]
    key["anyOf"] = [{"enum": plain}, *({"pattern": pattern} for pattern in patterns)]
    return schema
