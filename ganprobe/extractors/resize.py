"""The resize methods of the reference pipelines that published numbers came from, reimplemented here.

Every function takes a float32 NCHW batch and an output ``(H, W)`` and returns a float32 NCHW batch on the same
device, on the same pixel scale it was given (``[0, 1]`` or ``[0, 255]``, as the caller's pipeline declares).

* :func:`resize_bilinear_antialias`: ganprobe's general-purpose resize (``F.interpolate`` bilinear, antialiased).
* :func:`resize_bilinear`: ``F.interpolate`` bilinear without antialiasing, as pytorch-fid resizes inside its
  ``InceptionV3`` (``resize_input=True``).
* :func:`resize_tf1_bilinear`: TensorFlow 1's ``tf.image.resize_bilinear`` with ``align_corners=False`` and no
  half-pixel centres: the resize inside the original FID graph (``inception-2015-12-05``), which torch-fidelity
  reproduces. Source position of output pixel ``i`` is ``i * in / out``; the two neighbours are blended linearly;
  no antialiasing, so shrinking skips pixels.
* :func:`resize_pil_bicubic_float`: PIL's bicubic resize of each channel as a 32-bit float image (mode ``"F"``),
  clipped to ``[0, 255]``: clean-fid's "clean" resize (``cleanfid.resize.make_resizer("PIL", False, "bicubic")``)
  and dgm-eval's ``--clean_resize``. PIL antialiases when shrinking.
* :func:`resize_pil_bicubic_uint8`: PIL's bicubic resize of the 8-bit RGB image (results rounded to 8 bits): what
  ``torchvision.transforms.Resize(..., BICUBIC)`` does to a PIL image (dgm-eval's default) and what the CMMD
  reference does when it reads a file.
* :func:`center_crop_square`: the largest centred square, with the CMMD reference's integer offsets.

The PIL-based resizes run on the CPU (one PIL call per image and channel) and move the result back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

Resize = Callable[[Tensor, tuple[int, int]], Tensor]


def resize_bilinear_antialias(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize with antialiasing (``F.interpolate``, ``align_corners=False``)."""
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_bilinear(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize without antialiasing (``F.interpolate``, ``align_corners=False``), as pytorch-fid does."""
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def _tf1_taps(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Neighbour indices and blend weights of TF1's ``resize_bilinear`` (align_corners=False) along one axis."""
    # TF1 computes the scale and the source positions in float32; so does this.
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    source = torch.arange(out_size, dtype=torch.float32) * scale
    low = source.floor().to(torch.int64).clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    weight = source - low.to(torch.float32)
    return low.to(device), high.to(device), weight.to(device)


def resize_tf1_bilinear(images: Tensor, size: tuple[int, int]) -> Tensor:
    """TensorFlow 1 ``resize_bilinear`` (``align_corners=False``, no half-pixel centres, no antialiasing).

    Args:
        images: float ``(N, C, H, W)``.
        size: output ``(H', W')``.

    Returns:
        float ``(N, C, H', W')``: each output pixel blends the two nearest source rows and columns at
        ``i * H / H'`` (and ``j * W / W'``), first along the width, then along the height.
    """
    height, width = images.shape[-2:]
    rows_low, rows_high, row_weight = _tf1_taps(height, size[0], images.device)
    cols_low, cols_high, col_weight = _tf1_taps(width, size[1], images.device)
    col_weight = col_weight.to(images.dtype)
    row_weight = row_weight.to(images.dtype).view(-1, 1)
    top = images.index_select(2, rows_low)
    bottom = images.index_select(2, rows_high)
    top = top.index_select(3, cols_low) + (top.index_select(3, cols_high) - top.index_select(3, cols_low)) * col_weight
    bottom_left = bottom.index_select(3, cols_low)
    bottom = bottom_left + (bottom.index_select(3, cols_high) - bottom_left) * col_weight
    return top + (bottom - top) * row_weight


def resize_pil_bicubic_float(images: Tensor, size: tuple[int, int]) -> Tensor:
    """PIL bicubic resize of each channel as a float32 image (mode ``"F"``), clipped to ``[0, 255]``.

    Args:
        images: float ``(N, C, H, W)`` on the ``[0, 255]`` scale (as clean-fid feeds PIL).
        size: output ``(H', W')``.

    Returns:
        float32 ``(N, C, H', W')`` on the ``[0, 255]`` scale, on the input's device.
    """
    pixels = images.detach().to("cpu", torch.float32).numpy()
    out = np.empty((*pixels.shape[:2], *size), dtype=np.float32)
    for n in range(pixels.shape[0]):
        for c in range(pixels.shape[1]):
            resized = Image.fromarray(np.ascontiguousarray(pixels[n, c])).resize((size[1], size[0]), Image.BICUBIC)
            out[n, c] = np.asarray(resized, dtype=np.float32).clip(0, 255)
    return torch.from_numpy(out).to(images.device)


def resize_pil_bicubic_uint8(images: Tensor, size: tuple[int, int]) -> Tensor:
    """PIL bicubic resize of the 8-bit RGB image (torchvision ``Resize(..., BICUBIC)`` on a PIL image).

    Args:
        images: float ``(N, 3, H, W)`` on the ``[0, 1]`` scale; pixels are rounded to 8 bits first (exact for
            images that were ``uint8``).
        size: output ``(H', W')``.

    Returns:
        float32 ``(N, 3, H', W')`` on the ``[0, 1]`` scale (the resized 8-bit values divided by 255).
    """
    pixels = (images.detach().to("cpu", torch.float32) * 255).round().clamp(0, 255).to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).numpy()
    out = np.empty((pixels.shape[0], *size, pixels.shape[3]), dtype=np.uint8)
    for n in range(pixels.shape[0]):
        image = Image.fromarray(np.ascontiguousarray(pixels[n]))
        out[n] = np.asarray(image.resize((size[1], size[0]), Image.BICUBIC))
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255).to(images.device)


def center_crop_square(images: Tensor) -> Tensor:
    """The largest centred square of each image: side ``min(H, W)`` at offsets ``(H - side) // 2, (W - side) // 2``."""
    height, width = images.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return images[..., top : top + side, left : left + side]


RESIZE_METHODS: dict[str, Resize] = {
    "bilinear-antialias": resize_bilinear_antialias,
    "bilinear": resize_bilinear,
    "tf1-bilinear": resize_tf1_bilinear,
    "pil-bicubic-float": resize_pil_bicubic_float,
    "pil-bicubic-uint8": resize_pil_bicubic_uint8,
}
CROP_METHODS: dict[str, Callable[[Tensor], Tensor]] = {"center-square": center_crop_square}
