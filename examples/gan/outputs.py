"""What a training run leaves on disk: sample grids, CSV/JSON logs, loss and metric plots, checkpoints.

Every file is written atomically (``ganprobe.atomic.atomic_write``): a run killed mid-write never leaves half a file.
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

from ganprobe.atomic import atomic_write

Row = Mapping[str, Any]


def save_grid(images: Tensor, path: str | os.PathLike[str], nrow: int = 8) -> Path:
    """Save images in ``[-1, 1]`` (NCHW, 1 or 3 channels) as one PNG grid with ``nrow`` images per row."""
    from PIL import Image
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().cpu().add(1).div(2).clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
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


def plot_losses(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Plot every ``*_loss`` column of the loss log against the training step."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for key in dict.fromkeys(k for row in rows for k in row if k.endswith("loss")):
        axes.plot(*_series(rows, key), label=key)
    axes.set_xlabel("training step")
    axes.set_ylabel("loss (mean over the log window)")
    axes.set_title("Training losses")
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
    left.plot(*_series(rows, "knn_loo"), marker="o", label=knn_label)
    left.axhline(0.5, color="grey", linestyle="--", label="indistinguishable (0.5)")
    left.set_ylim(0.0, 1.05)
    left.set_ylabel(knn_label)
    left.set_title(f"Real vs fake, 1-nearest neighbour\n({knn_direction})", fontsize=11)
    left.legend(loc="lower left", fontsize=9)
    right.plot(*_series(rows, "fd"), marker="o", color="tab:red")
    right.set_ylabel(fd_label)
    right.set_title(f"{fd_label}\n({fd_direction})", fontsize=11)
    for axes in (left, right):
        axes.set_xlabel("training step")
        axes.grid(alpha=0.3)
    return figure


def plot_metrics(rows: Sequence[Row], path: str | os.PathLike[str], space: str = "") -> Path:
    """Two panels against the step: 1-NN leave-one-out accuracy and the Fréchet distance in ``space``'s features.

    Titles, labels and directions come from the metrics' own declarations (:func:`declared`).
    """
    return _save_figure(metrics_figure(rows, space), path)


def plot_separability(rows: Sequence[Row], path: str | os.PathLike[str], protocol: str = "linear_probe") -> Path:
    """One panel per feature space (extractor, discriminator): each layer's ``protocol`` accuracy against the step."""
    from matplotlib.figure import Figure

    columns = [
        k for k in dict.fromkeys(k for row in rows for k in row) if k.startswith("sep.") and k.endswith(protocol)
    ]
    spaces = list(dict.fromkeys(k.split(".")[1] for k in columns))
    _, direction = declared(f"separability.layer.{protocol}")
    figure = Figure(figsize=(5 * max(len(spaces), 1), 4.4), layout="constrained")
    panels = figure.subplots(1, max(len(spaces), 1), squeeze=False)[0]
    for axes, space in zip(panels, spaces, strict=False):
        for key in (k for k in columns if k.split(".")[1] == space):
            layer = key[len(f"sep.{space}.") : -len(f".{protocol}")]
            axes.plot(*_series(rows, key), marker="o", label=layer)
        axes.axhline(0.5, color="grey", linestyle="--")
        axes.set_ylim(0.0, 1.05)
        axes.set_xlabel("training step")
        axes.set_ylabel(f"{protocol} real-vs-fake accuracy")
        axes.set_title(f"Separability per layer: {space}\n({direction})", fontsize=11)
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    return _save_figure(figure, path)


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
