"""Devices that can run a model: a ``torch.device`` whose type holds no data (``meta``) or whose accelerator is absent
is refused with one line naming the option.
"""

from __future__ import annotations

from ganprobe.errors import UsageError

# Device types a model can run on (others, such as ``meta``, hold no data).
RUNNABLE_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


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
