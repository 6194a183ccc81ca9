"""Turn user images into the tensor a backbone expects: one documented path for every extractor.

Accepted input: a ``uint8`` NCHW tensor in ``[0, 255]``, or a floating NCHW tensor in ``[0, 1]``; 1 channel
(repeated to RGB) or 3 channels; or a sequence of CHW tensors of different sizes (each resized on its own).
By default resizing is bilinear with antialiasing (``torch.nn.functional.interpolate(mode="bilinear",
antialias=True, align_corners=False)``), which matches PIL's bilinear resize closely when shrinking and is plain
bilinear when enlarging; a backbone that must reproduce a reference pipeline declares another method from
:mod:`ganprobe.extractors.resize` (TF1 bilinear, PIL bicubic, ...), a centre crop, and the pixel scale.
Normalisation is ``(x - mean) / std`` on ``[0, 1]`` pixels (or ``[0, 255]`` where a pipeline declares that
scale) with the constants the weights were trained with. Every image is processed independently, so results
never depend on the batch size.

Declaring a pipeline imports no torch (the backbone declarations, and so ``ganprobe --help``, need none): torch and
the resize methods are imported when the first batch is preprocessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganprobe.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

    ImageBatch = Tensor | Sequence[Tensor]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BT601_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights, what PIL's convert("L") uses
RESIZE_METHOD = "bilinear-antialias"
# The keys of ganprobe.extractors.resize.RESIZE_METHODS and CROP_METHODS, named here so that a pipeline is checked
# when it is declared, without importing torch (a test checks that the two agree).
RESIZE_NAMES = ("bilinear-antialias", "bilinear", "tf1-bilinear", "pil-bicubic-float", "pil-bicubic-uint8")
CROP_NAMES = ("center-square",)
# A float image may overshoot [0, 1] by rounding; beyond this it is a different convention (e.g. tanh's [-1, 1]).
_RANGE_TOLERANCE = 1e-3


def __getattr__(name: str) -> Any:
    """``ImageBatch`` (``Tensor | Sequence[Tensor]``), built on first use since it needs torch."""
    if name == "ImageBatch":
        from torch import Tensor

        return Tensor | Sequence[Tensor]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    import torch

    if not isinstance(images, torch.Tensor):
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
    """A backbone's input contract: output size ``(H, W)``, resize method and per-channel ``mean``/``std``.

    Attributes:
        size: the ``(H, W)`` the backbone takes.
        mean, std: normalisation constants on the ``pixel_range`` scale: the output is ``(x - mean) / std``.
        resize: a key of :data:`ganprobe.extractors.resize.RESIZE_METHODS` (default: antialiased bilinear), one of
            :data:`RESIZE_NAMES`.
        pixel_range: ``1.0`` to resize and normalise ``[0, 1]`` pixels, ``255.0`` for ``[0, 255]`` pixels (the
            scale a reference pipeline works on; ``uint8`` input then stays exact integers).
        crop: a key of :data:`ganprobe.extractors.resize.CROP_METHODS` (:data:`CROP_NAMES`) applied before
            resizing, or ``None``.
        pipeline: the name of the reference pipeline this reproduces (e.g. ``"tf"``), or ``None``; it is part of
            :meth:`describe`, hence of cache keys, stats files and reports.
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = RESIZE_METHOD
    pixel_range: float = 1.0
    crop: str | None = None
    pipeline: str | None = None

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_NAMES:
            raise InputError(f"resize: expected one of {list(RESIZE_NAMES)}, got {self.resize!r}")
        if self.crop is not None and self.crop not in CROP_NAMES:
            raise InputError(f"crop: expected None or one of {list(CROP_NAMES)}, got {self.crop!r}")
        if self.pixel_range not in (1.0, 255.0):
            raise InputError(f"pixel_range: expected 1.0 or 255.0, got {self.pixel_range!r}")

    def __call__(self, images: ImageBatch, argument: str = "images") -> Tensor:
        """Return the normalised float32 ``(N, 3, H, W)`` batch for ``images`` (see the module docstring)."""
        import torch

        if isinstance(images, torch.Tensor):
            return self._normalise(self._resize(self._pixels(images, argument)))
        if isinstance(images, Sequence) and len(images) > 0:
            parts = []
            for index, image in enumerate(images):
                single = image.unsqueeze(0) if isinstance(image, torch.Tensor) and image.ndim == 3 else image
                parts.append(self._resize(self._pixels(single, f"{argument}[{index}]")))
            return self._normalise(torch.cat(parts))
        raise InputError(f"{argument}: expected an NCHW tensor or a non-empty sequence of CHW tensors")

    def _pixels(self, images: Tensor, argument: str) -> Tensor:
        """Validated float32 RGB pixels on the ``pixel_range`` scale (``uint8`` stays exact on ``[0, 255]``)."""
        import torch

        unit = to_unit_float(images, argument)
        if self.pixel_range == 1.0:
            return unit
        if images.dtype == torch.uint8:
            return images.float().expand(-1, 3, -1, -1)
        return unit * self.pixel_range

    def _resize(self, images: Tensor) -> Tensor:
        from ganprobe.extractors.resize import CROP_METHODS, RESIZE_METHODS

        if self.crop is not None:
            images = CROP_METHODS[self.crop](images)
        if tuple(images.shape[-2:]) == self.size:
            return images
        return RESIZE_METHODS[self.resize](images, self.size)

    def _normalise(self, images: Tensor) -> Tensor:
        import torch

        mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return (images - mean) / std

    def describe(self) -> str:
        """A stable one-line description (part of cache keys and reports)."""
        text = f"size={self.size[0]}x{self.size[1]} resize={self.resize} mean={self.mean} std={self.std} dtype=float32"
        extras = [f"range=0-{self.pixel_range:g}"] if self.pixel_range != 1.0 else []
        extras += [f"crop={self.crop}"] if self.crop else []
        extras += [f"pipeline={self.pipeline}"] if self.pipeline else []
        return " ".join([text, *extras])


@dataclass(frozen=True)
class GrayscalePreprocessing(Preprocessing):
    """:class:`Preprocessing` that ends in one gray channel: resize, RGB -> gray (``luma`` weights), normalise.

    ``mean[0]`` and ``std[0]`` are the gray channel's constants. Output: float32 ``(N, 1, H, W)``.
    """

    luma: tuple[float, float, float] = BT601_LUMA

    def _normalise(self, images: Tensor) -> Tensor:
        import torch

        weights = torch.tensor(self.luma, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        gray = (images * weights).sum(dim=1, keepdim=True)
        return (gray - self.mean[0]) / self.std[0]

    def describe(self) -> str:
        """A stable one-line description (part of cache keys and reports)."""
        return f"gray=luma{self.luma} {super().describe()}"
