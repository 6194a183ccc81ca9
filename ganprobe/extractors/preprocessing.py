"""Turn user images into the tensor a backbone expects: one documented path for every extractor.

Accepted input: a ``uint8`` NCHW tensor in ``[0, 255]``, or a floating NCHW tensor in ``[0, 1]``; 1 channel
(repeated to RGB) or 3 channels; or a sequence of CHW tensors of different sizes (each resized on its own).
Resizing is bilinear with antialiasing (``torch.nn.functional.interpolate(mode="bilinear", antialias=True,
align_corners=False)``), which matches PIL's bilinear resize closely when shrinking and is plain bilinear when
enlarging. Normalisation is ``(x - mean) / std`` on ``[0, 1]`` pixels with the constants the weights were trained
with. Every image is processed independently, so results never depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ganprobe.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_METHOD = "bilinear-antialias"
# A float image may overshoot [0, 1] by rounding; beyond this it is a different convention (e.g. tanh's [-1, 1]).
_RANGE_TOLERANCE = 1e-3

ImageBatch = Tensor | Sequence[Tensor]


def to_unit_float(images: Tensor, argument: str = "images") -> Tensor:
    """Convert an NCHW image tensor to float32 RGB in ``[0, 1]``.

    Args:
        images: ``uint8`` in ``[0, 255]`` or float in ``[0, 1]``, 1 or 3 channels.
        argument: the name used in error messages.

    Returns:
        A float32 ``(N, 3, H, W)`` tensor on the same device.

    Raises:
        InputError: wrong rank, channel count, dtype or value range (one line saying which and how to fix it).
    """
    if not isinstance(images, Tensor):
        raise InputError(f"{argument}: expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise InputError(f"{argument}: expected an NCHW batch with 4 dimensions, got shape {tuple(images.shape)}")
    if images.shape[1] not in (1, 3):
        raise InputError(
            f"{argument}: expected 1 or 3 channels in dimension 1 (NCHW), got shape {tuple(images.shape)}; "
            "drop an alpha channel with x[:, :3] or permute NHWC to NCHW"
        )
    if images.shape[0] == 0:
        raise InputError(f"{argument}: the batch is empty")
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise InputError(f"{argument}: images of height or width 0, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        images = images.float().div_(255.0)
    elif images.is_floating_point():
        low, high = torch.aminmax(images.detach())
        low_v, high_v = float(low), float(high)  # one host sync per batch: catches the [-1, 1] mistake
        if low_v != low_v or high_v != high_v:
            raise InputError(f"{argument}: contains NaN values")
        if low_v < -_RANGE_TOLERANCE or high_v > 1 + _RANGE_TOLERANCE:
            raise InputError(
                f"{argument}: float images must lie in [0, 1], got values in [{low_v:.3g}, {high_v:.3g}]; "
                "rescale tanh outputs with (x + 1) / 2, or pass uint8 pixels in [0, 255]"
            )
        images = images.float().clamp(0.0, 1.0)
    else:
        raise InputError(f"{argument}: expected uint8 or floating-point pixels, got dtype {images.dtype}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images


@dataclass(frozen=True)
class Preprocessing:
    """A backbone's input contract: output size ``(H, W)`` and per-channel ``mean``/``std`` on ``[0, 1]`` pixels."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = RESIZE_METHOD

    def __call__(self, images: ImageBatch, argument: str = "images") -> Tensor:
        """Return the normalised float32 ``(N, 3, H, W)`` batch for ``images`` (see the module docstring)."""
        if isinstance(images, Tensor):
            return self._normalise(self._resize(to_unit_float(images, argument)))
        if isinstance(images, Sequence) and len(images) > 0:
            parts = []
            for index, image in enumerate(images):
                single = image.unsqueeze(0) if isinstance(image, Tensor) and image.ndim == 3 else image
                parts.append(self._resize(to_unit_float(single, f"{argument}[{index}]")))
            return self._normalise(torch.cat(parts))
        raise InputError(f"{argument}: expected an NCHW tensor or a non-empty sequence of CHW tensors")

    def _resize(self, images: Tensor) -> Tensor:
        if tuple(images.shape[-2:]) == self.size:
            return images
        return F.interpolate(images, size=self.size, mode="bilinear", align_corners=False, antialias=True)

    def _normalise(self, images: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return (images - mean) / std

    def describe(self) -> str:
        """A stable one-line description (part of cache keys and reports)."""
        return f"size={self.size[0]}x{self.size[1]} resize={self.resize} mean={self.mean} std={self.std} dtype=float32"
