"""Bounds on what an input file may make ganprobe do: JSON nesting depth, and devices that can run a model.

A JSON file nested 100,000 levels deep makes Python's parser (and any code walking the result) exceed the recursion
limit; :func:`check_json_depth` measures the nesting of the *text* first, without recursion, and refuses it with one
line.
"""

from __future__ import annotations

import re
from itertools import accumulate

from ganprobe.errors import InputError, UsageError

# Reports nest about 5 levels; a limit far above that, far below the recursion limit.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Device types a model can run on (others, such as ``meta``, hold no data).
RUNNABLE_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings do not count)."""
    brackets = (1 if char in "[{" else -1 for char in _JSON_STRING.sub('""', text) if char in "[]{}")
    return max(accumulate(brackets), default=0)


def check_json_depth(text: str, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`InputError` (``"<what>: nested N levels deep ..."``) when ``text`` nests deeper than ``limit``."""
    depth = json_depth(text)
    if depth > limit:
        raise InputError(f"{what}: JSON nested {depth} levels deep (at most {limit} allowed); not a ganprobe file")


def check_device(device: object, option: str = "device") -> None:
    """Refuse a ``torch.device`` whose type cannot run a model here (``meta``, or an accelerator that is absent).

    Raises:
        UsageError: naming ``option`` and the device.
    """
    import torch

    kind = getattr(device, "type", str(device))
    if kind not in RUNNABLE_DEVICE_TYPES:
        raise UsageError(
            f"{option}: {device} cannot run a model (its tensors hold no data); use one of "
            f"{', '.join(RUNNABLE_DEVICE_TYPES)}"
        )
    backend = getattr(torch, kind, None) if kind != "cpu" else None
    if kind == "mps":
        backend = getattr(torch.backends, "mps", None)
    if backend is not None and hasattr(backend, "is_available") and not backend.is_available():
        raise UsageError(f"{option}: {device} requested but {kind.upper()} is not available here")
