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
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("Training losses")
    axes.legend()
    axes.grid(alpha=0.3)
    return _save_figure(figure, path)


def plot_metrics(rows: Sequence[Row], path: str | os.PathLike[str], fd_label: str = "Fréchet distance") -> Path:
    """Two panels against the step: 1-NN leave-one-out accuracy (with the 0.5 ideal) and the Fréchet distance."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    left.plot(*_series(rows, "knn_loo"), marker="o", label="1-NN LOO accuracy")
    left.axhline(0.5, color="grey", linestyle="--", label="indistinguishable (0.5)")
    left.set_ylim(0.0, 1.05)
    left.set_xlabel("step")
    left.set_ylabel("accuracy")
    left.set_title("1-NN real-vs-fake accuracy (lower is better)")
    left.legend()
    right.plot(*_series(rows, "fd"), marker="o", color="tab:red")
    right.set_xlabel("step")
    right.set_title(f"{fd_label} (lower is better)")
    for axes in (left, right):
        axes.grid(alpha=0.3)
    return _save_figure(figure, path)


def plot_separability(rows: Sequence[Row], path: str | os.PathLike[str], protocol: str = "linear_probe") -> Path:
    """One panel per feature space (extractor, discriminator): each layer's ``protocol`` accuracy against the step."""
    from matplotlib.figure import Figure

    columns = [
        k for k in dict.fromkeys(k for row in rows for k in row) if k.startswith("sep.") and k.endswith(protocol)
    ]
    spaces = list(dict.fromkeys(k.split(".")[1] for k in columns))
    figure = Figure(figsize=(5 * max(len(spaces), 1), 4))
    panels = figure.subplots(1, max(len(spaces), 1), squeeze=False)[0]
    for axes, space in zip(panels, spaces, strict=False):
        for key in (k for k in columns if k.split(".")[1] == space):
            layer = key[len(f"sep.{space}.") : -len(f".{protocol}")]
            axes.plot(*_series(rows, key), marker="o", label=layer)
        axes.axhline(0.5, color="grey", linestyle="--")
        axes.set_ylim(0.0, 1.05)
        axes.set_xlabel("step")
        axes.set_ylabel(f"{protocol} accuracy")
        axes.set_title(f"Separability per layer: {space}")
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    return _save_figure(figure, path)
