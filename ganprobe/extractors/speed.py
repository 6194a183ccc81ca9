"""Speed options of an extractor's forward pass: reduced-precision autocast and ``torch.compile``.

Both are off by default (``benchmarks/README.md``, "Speed options", measures them): bf16 autocast runs the
backbone faster on the CPU but moves FID beyond the 1e-3 relative tolerance the default must keep; the piecewise
``torch.compile`` below is faster on EfficientNet-Lite0 with features equal to about 1e-6, but compiling each input
shape costs more than it saves on small sets. The channels-last layout,
the third option, is on by default (see :class:`~ganprobe.extractors.base.FeatureExtractor`).
"""

from __future__ import annotations

import types
from collections.abc import Collection
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from ganprobe.errors import InputError

AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def check_autocast(autocast: str | None) -> str | None:
    """Validate an ``autocast`` option: ``None`` (float32) or a key of :data:`AUTOCAST_DTYPES`."""
    if autocast is not None and autocast not in AUTOCAST_DTYPES:
        raise InputError(f"autocast: expected None or one of {list(AUTOCAST_DTYPES)}, got {autocast!r}")
    return autocast


def autocast_context(autocast: str | None, device: torch.device) -> AbstractContextManager[object]:
    """``torch.autocast`` on ``device`` with the named dtype, or a no-op for ``None``."""
    if autocast is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[autocast])


def compile_outside_taps(model: nn.Module, tap_paths: Collection[str]) -> int:
    """Compile ``model`` piecewise so that the layer taps keep working; returns how many modules were compiled.

    A tap is a forward hook on a submodule, and the hook stops the pass early by raising, which a compiled graph
    cannot contain. So the modules compiled are the largest ones with parameters that hold no tap *inside* them: a
    tapped module's own ``forward`` is compiled (its hooks run outside, in ``nn.Module.__call__``), and a module with
    taps inside it keeps its eager glue while its children are compiled in turn (so are the children of a container
    such as ``nn.ModuleList``, which has no forward of its own). The instance's ``forward`` becomes the compiled
    class ``forward`` bound to the instance, so a ``copy.deepcopy`` (torchmetrics' ``clone()``) rebinds it to the
    copy; parameters are shared, not copied.
    """
    taps = set(tap_paths)
    count = 0

    def visit(module: nn.Module, path: str) -> None:
        nonlocal count
        prefix = f"{path}." if path else ""
        defines_forward = type(module).forward is not nn.Module.forward  # containers have no forward
        if defines_forward and not any(tap.startswith(prefix) for tap in taps if tap != path):
            if any(True for _ in module.parameters()):
                compiled = torch.compile(type(module).forward)
                module.forward = types.MethodType(compiled, module)  # type: ignore[method-assign]
                count += 1
            return
        for name, child in module.named_children():
            visit(child, prefix + name)

    visit(model, "")
    return count


def describe_execution(channels_last: bool, autocast: str | None, compiled: bool) -> str:
    """One line naming how the backbone runs, e.g. ``"channels_last float32"`` or ``"contiguous bfloat16-autocast
    compiled"`` (recorded in reports and feature-cache keys)."""
    parts = ["channels_last" if channels_last else "contiguous", f"{autocast}-autocast" if autocast else "float32"]
    return " ".join(parts + (["compiled"] if compiled else []))
