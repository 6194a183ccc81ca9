"""Image grids for probes: synthesised inputs, samples, and the before/after view of a perturbation."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.probe.embedding import save_figure
from ganprobe.probe.perturbation import PerturbationResult
from ganprobe.utils.atomic_files import atomic_write


def as_image_batch(images: Tensor) -> Tensor:
    """Shape images as ``(N, C, H, W)``: accepts NCHW, ``(N, H, W)``, or flat ``(N, D)`` with ``D`` a square."""
    if not isinstance(images, Tensor) or images.ndim < 2 or len(images) == 0:
        raise InputError("images: expected a non-empty tensor (N, C, H, W), (N, H, W) or (N, H*W)")
    images = images.detach().float().cpu()
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise InputError(f"images: flat rows of {images.shape[1]} values are not square images; reshape to NCHW")
        return images.view(-1, 1, side, side)
    if images.ndim == 3:
        return images.unsqueeze(1)
    if images.ndim == 4 and images.shape[1] in (1, 3):
        return images
    raise InputError(f"images: expected 1 or 3 channels in NCHW, got shape {tuple(images.shape)}")


def image_grid(
    images: Tensor, nrow: int = 8, value_range: tuple[float, float] = (-1.0, 1.0), padding: int = 2
) -> Tensor:
    """Tile images into one ``uint8`` ``(H, W, 3)`` array-like tensor; ``value_range`` maps to black..white."""
    import torchvision

    batch = as_image_batch(images)
    low, high = value_range
    if not low < high:
        raise InputError(f"value_range: expected (low, high) with low < high, got {value_range}")
    scaled = ((batch - low) / (high - low)).clamp(0, 1)
    grid = torchvision.utils.make_grid(scaled, nrow=max(1, nrow), padding=padding, pad_value=1.0)
    return (grid * 255).round().to(torch.uint8).permute(1, 2, 0)


def save_image_grid(
    images: Tensor, path: str | os.PathLike[str], nrow: int = 8, value_range: tuple[float, float] = (-1.0, 1.0)
) -> Path:
    """Write ``images`` as one PNG grid, ``nrow`` images per row, mapping ``value_range`` to black..white.

    Args:
        images: ``(N, C, H, W)`` with 1 or 3 channels, ``(N, H, W)``, or flat ``(N, H*W)`` square images.
        path: the PNG file (written atomically).
        nrow: images per row.
        value_range: the pixel range of ``images`` (``(-1, 1)`` for tanh generators, ``(0, 1)`` otherwise).

    Returns:
        ``path``.
    """
    from PIL import Image

    grid = image_grid(images, nrow, value_range).numpy()
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(grid)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return atomic_write(path, lambda handle: handle.write(data))


def plot_perturbation(
    result: PerturbationResult,
    path: str | os.PathLike[str],
    max_images: int = 8,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> Path:
    """Write a PNG: original images, perturbed images, and their difference, with D's accuracy before and after.

    Args:
        result: from :func:`~ganprobe.probe.perturbation.adversarial_perturbation`.
        path: the PNG file (written atomically).
        max_images: how many of the images to show.
        value_range: the images' pixel range.

    Returns:
        ``path``. The rows are titled with the accuracies; the difference row is stretched so that
        ``+-epsilon`` spans black..white.
    """
    from matplotlib.figure import Figure

    count = max(1, min(max_images, len(result.images)))
    original, perturbed = result.images[:count], result.perturbed[:count]
    scale = result.epsilon if result.epsilon > 0 else 1.0
    difference = (perturbed - original).float().cpu() / scale  # in [-1, 1] by the L-infinity bound
    before, after = result.logits_before[:count], result.logits_after[:count]
    rows = [
        (image_grid(original, count, value_range), f"original: accuracy {result.accuracy_before:.1%}", before),
        (image_grid(perturbed, count, value_range), f"perturbed: accuracy {result.accuracy_after:.1%}", after),
        (image_grid(difference, count, (-1.0, 1.0)), f"difference (grey = 0, black/white = -/+ {scale:g})", None),
    ]
    figure = Figure(figsize=(max(4.0, 1.1 * count), 4.6), layout="constrained")
    axes = figure.subplots(3, 1)
    for axis, (grid, title, scores) in zip(axes, rows, strict=True):
        axis.imshow(grid.numpy(), interpolation="nearest")
        if scores is not None and scores.ndim == 1:
            title += "   D logits: " + " ".join(f"{float(value):+.1f}" for value in scores.cpu())
        axis.set_title(title, fontsize=9)
        axis.set_axis_off()
    figure.suptitle(result.describe(), fontsize=10)
    return save_figure(figure, path)
