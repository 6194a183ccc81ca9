"""What a training run leaves on disk: sample grids, CSV/JSON logs, loss and metric plots, checkpoints.

Every file is written atomically (``ganprobe.utils.atomic_files.atomic_write``): a run killed mid-write never leaves
half a file.
Plots use ``matplotlib.figure.Figure`` directly (no global pyplot state, safe in threads and without a display).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe.utils.atomic_files import atomic_write

Row = Mapping[str, Any]
# Smallest side, in pixels, at which a grid shows each image: a 28x28 digit is enlarged 4x, a 32x32 image 3x.
MIN_THUMBNAIL = 96


def save_grid(images: Tensor, path: str | os.PathLike[str], nrow: int = 8) -> Path:
    """Save images in ``[-1, 1]`` (NCHW, 1 or 3 channels) as one PNG grid with ``nrow`` images per row, each image
    enlarged by a whole factor (nearest neighbour, no smoothing) to at least ``MIN_THUMBNAIL`` pixels."""
    from PIL import Image
    from torchvision.utils import make_grid

    pixels = images.detach().float().cpu().add(1).div(2).clamp(0, 1)
    scale = max(1, math.ceil(MIN_THUMBNAIL / min(pixels.shape[-2:])))
    if scale > 1:
        pixels = pixels.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    grid = make_grid(pixels, nrow=nrow, padding=2 * scale, pad_value=1.0)
    array = grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def write_csv(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (dicts) as CSV; the columns are every key, in first-seen order; missing cells stay empty."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Read a CSV written by :func:`write_csv` back as floats (empty cells become NaN)."""
    with open(path, newline="") as handle:
        return [{k: float(v) if v != "" else math.nan for k, v in row.items()} for row in csv.DictReader(handle)]


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as indented JSON (non-finite floats become ``null``)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    text = json.dumps(clean(data), indent=2)
    return atomic_write(path, lambda handle: handle.write(text.encode()))


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """``torch.save`` a dict of state dicts and plain values (loadable with ``torch.load(weights_only=True)``)."""
    return atomic_write(path, lambda handle: torch.save(dict(state), handle))


def _save_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _series(rows: Sequence[Row], key: str) -> tuple[list[float], list[float]]:
    points = [(float(row["step"]), float(row[key])) for row in rows if key in row and row[key] is not None]
    points = [(s, v) for s, v in points if math.isfinite(v)]
    return [s for s, _ in points], [v for _, v in points]


def one_evaluation(axes: Any, rows: Sequence[Row], key: str, label: str, fmt: str = "{:.3f}") -> bool:
    """When ``rows`` hold a single evaluation, write its value as text on ``axes`` (no axis: a lone point says
    nothing about a trend) and return ``True``; otherwise leave ``axes`` alone and return ``False``."""
    steps, values = _series(rows, key)
    if len(steps) != 1:
        return False
    text = f"one evaluation, at step {steps[0]:g}:\n{label} = {fmt.format(values[0])}"
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, transform=axes.transAxes, wrap=True)
    axes.set_axis_off()
    return True


def plot_losses(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Plot every ``*_loss`` column of the loss log against the training step."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    axes.set_title("Training losses")
    keys = list(dict.fromkeys(k for row in rows for k in row if k.endswith("loss")))
    if len(rows) == 1:  # one logged window: its values as text, no step axis
        values = ", ".join(f"{key} {float(rows[0][key]):.3f}" for key in keys)
        axes.text(0.5, 0.5, f"one log row, at step {float(rows[0]['step']):g}:\n{values}", ha="center", va="center",
                  transform=axes.transAxes)  # fmt: skip
        axes.set_axis_off()
        return _save_figure(figure, path)
    for key in keys:
        axes.plot(*_series(rows, key), label=key)
    axes.set_xlabel("training step")
    axes.set_ylabel("loss (mean over the log window)")
    axes.legend()
    axes.grid(alpha=0.3)
    return _save_figure(figure, path)


def declared(key: str) -> tuple[str, str]:
    """``(label, direction in words)`` of a ganprobe output key, from the metric's own declaration.

    ``key`` is a report key (``knn_loo``, ``fid``, ``separability.LAYER.PROTOCOL``); the direction reads e.g.
    ``"0.5 is best"`` or ``"lower is better"``, so a plot never states a direction the metric does not declare.
    """
    from ganprobe.metrics.registry import find_output

    found = find_output(key)
    if found is None:
        raise KeyError(f"{key!r}: no ganprobe metric declares this output")
    output = found[1]
    return output.label, output.direction.describe()


def metrics_figure(rows: Sequence[Row], space: str = "") -> Any:
    """The figure of :func:`plot_metrics`: 1-NN accuracy (with its ideal) and the Fréchet distance vs step."""
    from matplotlib.figure import Figure

    knn_label, knn_direction = declared("knn_loo")
    fd_label, fd_direction = declared("fid")
    fd_label = fd_label.format(space=space or "extractor")
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.set_title(f"Real vs fake, 1-nearest neighbour\n({knn_direction})", fontsize=11)
    right.set_title(f"{fd_label}\n({fd_direction})", fontsize=11)
    if not one_evaluation(left, rows, "knn_loo", knn_label):
        left.plot(*_series(rows, "knn_loo"), marker="o", label=knn_label)
        left.axhline(0.5, color="grey", linestyle="--", label="indistinguishable (0.5)")
        left.set_ylim(0.0, 1.05)
        left.set_ylabel(knn_label)
        left.legend(loc="lower left", fontsize=9)
        left.set_xlabel("training step")
        left.grid(alpha=0.3)
    if not one_evaluation(right, rows, "fd", fd_label, "{:.1f}"):
        right.plot(*_series(rows, "fd"), marker="o", color="tab:red")
        right.set_ylabel(fd_label)
        right.set_xlabel("training step")
        right.grid(alpha=0.3)
    return figure


def plot_metrics(rows: Sequence[Row], path: str | os.PathLike[str], space: str = "") -> Path:
    """Two panels against the step: 1-NN leave-one-out accuracy and the Fréchet distance in ``space``'s features.

    Titles, labels and directions come from the metrics' own declarations (:func:`declared`).
    """
    return _save_figure(metrics_figure(rows, space), path)


def plot_separability(rows: Sequence[Row], path: str | os.PathLike[str], protocol: str = "linear_probe") -> Path:
    """One panel per feature space (extractor, discriminator): each layer's ``protocol`` accuracy against the step
    (a run with one evaluation: a bar per layer, titled with that evaluation's step)."""
    return _save_figure(separability_figure(rows, protocol), path)


def separability_figure(rows: Sequence[Row], protocol: str = "linear_probe") -> Any:
    """The figure of :func:`plot_separability`."""
    from matplotlib.figure import Figure

    columns = [
        k for k in dict.fromkeys(k for row in rows for k in row) if k.startswith("sep.") and k.endswith(protocol)
    ]
    spaces = list(dict.fromkeys(k.split(".")[1] for k in columns))
    _, direction = declared(f"separability.layer.{protocol}")
    figure = Figure(figsize=(5 * max(len(spaces), 1), 4.4), layout="constrained")
    panels = figure.subplots(1, max(len(spaces), 1), squeeze=False)[0]
    single = len({float(row["step"]) for row in rows if any(key in row for key in columns)}) == 1
    for axes, space in zip(panels, spaces, strict=False):
        keys = [k for k in columns if k.split(".")[1] == space]
        names = [key[len(f"sep.{space}.") : -len(f".{protocol}")] for key in keys]
        if single:  # one evaluation: no step axis, one bar per layer
            step = float(rows[-1]["step"])
            axes.bar(names, [float(rows[-1][key]) for key in keys], color="tab:blue")
            axes.set_xlabel(f"layer (one evaluation, at step {step:g})")
        else:
            for key, layer in zip(keys, names, strict=True):
                axes.plot(*_series(rows, key), marker="o", label=layer)
            axes.set_xlabel("training step")
            axes.legend(fontsize="small")
        axes.axhline(0.5, color="grey", linestyle="--")
        axes.set_ylim(0.0, 1.05)
        axes.set_ylabel(f"{protocol} real-vs-fake accuracy")
        axes.set_title(f"Separability per layer: {space}\n({direction})", fontsize=11)
        axes.grid(alpha=0.3)
    return figure


def labelled_grid_figure(
    images: Tensor,
    captions: Sequence[str],
    title: str,
    ncol: int | None = None,
    row_labels: Sequence[str] | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    cell_inches: float = 1.25,
) -> Any:
    """A grid of images, each with its caption above it, rows optionally named on the left, and a title.

    Args:
        images: ``(N, C, H, W)`` with 1 or 3 channels, in ``value_range``.
        captions: one per image (e.g. the class name).
        title: the figure title (what the images are, how they were made).
        ncol: images per row (default: all in one row, at most 10).
        row_labels: one label per row, written left of it (e.g. the layer whose channels a row maximises).
        value_range: the pixel range mapped to black..white.
        cell_inches: size of each image on the page (small images are upscaled without smoothing).
    """
    from matplotlib.figure import Figure

    if len(captions) != len(images):
        raise ValueError(f"captions: expected one per image ({len(images)}), got {len(captions)}")
    ncol = ncol or min(len(images), 10)
    nrows = -(-len(images) // ncol)
    low, high = value_range
    pixels = images.detach().float().cpu().sub(low).div(high - low).clamp(0, 1)
    figure = Figure(figsize=(cell_inches * ncol + (1.2 if row_labels else 0.2), cell_inches * nrows + 0.9))
    figure.set_layout_engine("constrained")
    axes = figure.subplots(nrows, ncol, squeeze=False)
    for index, axis in enumerate(axes.ravel()):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(images):
            axis.set_axis_off()
            continue
        image = pixels[index]
        if image.shape[0] == 1:
            axis.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            axis.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
        axis.set_title(captions[index], fontsize=8)
    for row, label in enumerate(row_labels or ()):
        axes[row, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    figure.suptitle(title, fontsize=10)
    return figure


def save_labelled_grid(
    images: Tensor,
    captions: Sequence[str],
    path: str | os.PathLike[str],
    title: str,
    ncol: int | None = None,
    row_labels: Sequence[str] | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> Path:
    """Write :func:`labelled_grid_figure` as a PNG (atomically); returns ``path``."""
    return _save_figure(labelled_grid_figure(images, captions, title, ncol, row_labels, value_range), path)
