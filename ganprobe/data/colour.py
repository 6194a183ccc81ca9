"""Whether a set of images is in colour: a grayscale backbone (``lenet-mnist``) fed colour photos deserves a word."""

from __future__ import annotations

import os
import warnings
from itertools import islice

import torch
from torch import Tensor

from ganprobe.data.folder import load_image
from ganprobe.data.listing import list_folder
from ganprobe.data.sources import ImageSource

# Mean absolute difference between colour channels, in [0, 1] pixel units, above which a set counts as colour:
# gray images repeated to RGB give 0; JPEG chroma noise on gray scans stays below about 0.01.
COLOUR_THRESHOLD = 0.04
SAMPLE = 16


def colourfulness(images: Tensor) -> float:
    """Mean absolute difference between the R, G and B channels of NCHW images (``uint8`` or float in [0, 1]);
    0 for gray images (1 channel, or 3 equal channels)."""
    if images.ndim != 4 or images.shape[1] != 3 or images.numel() == 0:
        return 0.0
    pixels = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    red, green, blue = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    return float(((red - green).abs() + (green - blue).abs() + (blue - red).abs()).mean() / 3.0)


def _sample(source: ImageSource, count: int) -> Tensor | None:
    """The first ``count`` images of a folder or tensor source (``None`` for loaders and generators)."""
    if isinstance(source, Tensor) and source.ndim == 4:
        return source[:count].detach().cpu()
    if isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
        images = []
        for path in islice(list_folder(source), count):
            try:
                image = load_image(path)
            except Exception:  # noqa: BLE001 - an unreadable file is reported by the extraction itself
                continue
            images.append(image.expand(3, -1, -1)[:, :32, :32])
        shapes = {tuple(image.shape) for image in images}
        return torch.stack(images) if images and len(shapes) == 1 else None
    return None


def warn_if_colour(source: ImageSource, extractor_name: str, label: str) -> bool:
    """Warn (``UserWarning``) when a grayscale extractor is about to embed colour images; returns whether it did.

    Args:
        source: the images (only folders, as paths or listings, and tensors are sampled, the first :data:`SAMPLE`
            images).
        extractor_name: named in the message.
        label: ``"real"`` or ``"fake"``.
    """
    sample = _sample(source, SAMPLE)
    if sample is None:
        return False
    score = colourfulness(sample)
    if score <= COLOUR_THRESHOLD:
        return False
    warnings.warn(
        f"{extractor_name} is a grayscale network (digits) but the {label} images are in colour (mean channel "
        f"difference {score:.2f}); it sees their brightness only, and photos lie far outside what it was trained "
        "on: use an ImageNet extractor (the default) for colour images",
        UserWarning,
        stacklevel=3,
    )
    return True
