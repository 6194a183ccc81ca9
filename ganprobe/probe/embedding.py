"""Embed each layer's activations in 2-D (PCA, then t-SNE) and plot them coloured by real/fake or by class.

Protocol (after the MNIST DCGAN study in ``docs/studies.md`` §5): flattened activations, PCA to 50 components,
then t-SNE to 2-D with perplexity 40. The study ran 300 t-SNE iterations; we default to scikit-learn's 1,000
because 300 leaves only 50 iterations after early exaggeration and the map is not yet settled (pass
``iterations=300`` to reproduce the study).
"""

from __future__ import annotations

import inspect
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.utils.atomic_files import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PCA_DIMS = 50
PERPLEXITY = 40.0
TSNE_ITERATIONS = 1000
_MIN_POINTS = 5
_REAL_COLOUR, _FAKE_COLOUR = "tab:blue", "tab:orange"


def subsample_indices(num: int, max_points: int | None, seed: int = 0) -> np.ndarray:
    """The rows :func:`embed_layers` keeps: all ``num`` in order, or a sorted seeded sample of ``max_points``."""
    if max_points is None or num <= max_points:
        return np.arange(num)
    if max_points < _MIN_POINTS:
        raise InputError(f"max_points: expected None or at least {_MIN_POINTS}, got {max_points}")
    return np.sort(np.random.default_rng(seed).choice(num, size=max_points, replace=False))


def _as_matrix(layer: str, values: Tensor | np.ndarray) -> np.ndarray:
    array = values.detach().cpu().double().numpy() if isinstance(values, Tensor) else np.asarray(values, np.float64)
    if array.ndim < 2:
        raise InputError(f"activations[{layer!r}]: expected (N, D) rows, got shape {array.shape}")
    array = array.reshape(array.shape[0], -1)
    if not np.isfinite(array).all():
        raise InputError(f"activations[{layer!r}]: contains NaN or infinite values")
    return array


def _tsne(points: np.ndarray, perplexity: float, iterations: int, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    # t-SNE needs perplexity < number of points; shrink it for small sets rather than fail.
    perplexity = min(perplexity, max(1.0, (len(points) - 1) / 3))
    steps = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"  # renamed in sklearn 1.5
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca" if points.shape[1] >= 2 else "random",  # PCA init needs 2 features (a logit layer has 1)
        learning_rate="auto",
        random_state=seed,
        **{steps: iterations},
    )
    return tsne.fit_transform(points).astype(np.float32)


def embed_layers(
    activations: Mapping[str, Tensor | np.ndarray],
    pca_dims: int = PCA_DIMS,
    seed: int = 0,
    max_points: int | None = 1000,
    perplexity: float = PERPLEXITY,
    iterations: int = TSNE_ITERATIONS,
) -> dict[str, np.ndarray]:
    """Reduce each layer's ``(N, D)`` activations with PCA to ``pca_dims`` components, then t-SNE to 2-D.

    Args:
        activations: ``{layer: (N, D)}`` with the same ``N`` rows (samples) for every layer.
        pca_dims: PCA components kept before t-SNE (skipped when ``D`` is already that small).
        seed: seed of the subsample, PCA and t-SNE: the same seed gives the same maps.
        max_points: embed at most this many rows, chosen by :func:`subsample_indices` (the same rows for every
            layer); ``None`` embeds all.
        perplexity: t-SNE perplexity (capped at ``(N - 1) / 3`` for small sets).
        iterations: t-SNE iterations.

    Returns:
        ``{layer: (M, 2) float32 array}``, ``M = min(N, max_points)``, rows in the order of
        ``subsample_indices(N, max_points, seed)``. Distances between maps of different layers are not comparable;
        only each map's neighbourhoods are meaningful.
    """
    if not activations:
        raise InputError("activations: expected at least one layer")
    if not isinstance(pca_dims, int) or pca_dims < 2:
        raise InputError(f"pca_dims: expected an integer >= 2, got {pca_dims!r}")
    matrices = {layer: _as_matrix(layer, values) for layer, values in activations.items()}
    counts = {layer: len(matrix) for layer, matrix in matrices.items()}
    if len(set(counts.values())) != 1:
        raise InputError(f"activations: every layer needs the same number of rows, got {counts}")
    num = next(iter(counts.values()))
    if num < _MIN_POINTS:
        raise InputError(f"activations: t-SNE needs at least {_MIN_POINTS} rows, got {num}")
    keep = subsample_indices(num, max_points, seed)
    from sklearn.decomposition import PCA

    maps: dict[str, np.ndarray] = {}
    for layer, matrix in matrices.items():
        points = matrix[keep]
        components = min(pca_dims, len(points) - 1)
        if points.shape[1] > components:
            points = PCA(n_components=components, random_state=seed).fit_transform(points)
        maps[layer] = _tsne(points, perplexity, iterations, seed)
    return maps


def _layer_names(real: Mapping[str, Tensor] | None, fake: Mapping[str, Tensor] | None) -> list[str]:
    if not real and not fake:
        raise InputError("real, fake: give the activations of at least one of them")
    if real and fake and list(real) != list(fake):
        raise InputError(f"real, fake: the same layers are needed, got {list(real)} and {list(fake)}")
    return list(real or fake)  # type: ignore[arg-type]


def _rows(group: Mapping[str, Tensor] | None, name: str) -> int:
    if not group:
        return 0
    counts = {len(values) for values in group.values()}
    if len(counts) != 1:
        raise InputError(f"{name}: every layer needs the same number of rows")
    return counts.pop()


def _label_array(labels: Mapping[str, Tensor] | None, group: str, rows: int) -> np.ndarray | None:
    if labels is None or rows == 0:
        return None
    if group not in labels:
        raise InputError(f"labels: expected a {group!r} entry with one label per {group} row (or labels=None)")
    values = np.asarray(labels[group].detach().cpu() if isinstance(labels[group], Tensor) else labels[group])
    if values.shape != (rows,):
        raise InputError(f"labels[{group!r}]: expected shape ({rows},), got {values.shape}")
    return values.astype(np.int64)


def plot_layer_embeddings(
    real: Mapping[str, Tensor] | None,
    fake: Mapping[str, Tensor] | None,
    path: str | os.PathLike[str],
    labels: Mapping[str, Tensor] | None = None,
    seed: int = 0,
    max_points: int | None = 500,
    pca_dims: int = PCA_DIMS,
    perplexity: float = PERPLEXITY,
    iterations: int = TSNE_ITERATIONS,
    title: str | None = None,
) -> Path:
    """Write one PNG with a t-SNE panel per layer of real and fake activations embedded together.

    Args:
        real: ``{layer: (N_real, D)}`` activations of real inputs (e.g. from :func:`record_activations`), or
            ``None``/``{}`` to plot fakes only (a generator's layers).
        fake: ``{layer: (N_fake, D)}`` for generated inputs, same layers as ``real``, or ``None``/``{}``.
        path: the PNG file to write (atomically).
        labels: ``{"real": (N_real,), "fake": (N_fake,)}`` integer classes to colour by (true digits for real
            images, a classifier's predictions such as ``lenet-mnist``'s for fakes); real points are drawn as
            circles, fake ones as triangles. ``None`` colours by real (blue) / fake (orange).
        seed: seed of the subsample and of every embedding.
        max_points: at most this many real and this many fake rows are embedded (seeded subsample).
        pca_dims, perplexity, iterations: see :func:`embed_layers`.
        title: the figure title.

    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure

    layers = _layer_names(real, fake)
    n_real, n_fake = _rows(real, "real"), _rows(fake, "fake")
    keep_real = subsample_indices(n_real, max_points, seed)
    keep_fake = subsample_indices(n_fake, max_points, seed + 1)
    real_labels, fake_labels = _label_array(labels, "real", n_real), _label_array(labels, "fake", n_fake)
    joint = {}
    for layer in layers:
        parts = ([_as_matrix(layer, real[layer])[keep_real]] if n_real else []) + (
            [_as_matrix(layer, fake[layer])[keep_fake]] if n_fake else []
        )
        joint[layer] = np.concatenate(parts)
    maps = embed_layers(joint, pca_dims, seed, None, perplexity, iterations)
    m_real = len(keep_real) if n_real else 0

    # Up to 4 panels in one row; more in rows of 3 or 4, whichever leaves fewer empty cells.
    columns = len(layers) if len(layers) <= 4 else min((4, 3), key=lambda c: -len(layers) % c)
    rows = math.ceil(len(layers) / columns)
    figure = Figure(figsize=(4.2 * columns, 4.0 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis, layer in zip(axes, layers, strict=False):
        points = maps[layer]
        groups = [("real", points[:m_real], "o", real_labels, keep_real, _REAL_COLOUR)]
        groups.append(("fake", points[m_real:], "^", fake_labels, keep_fake, _FAKE_COLOUR))
        for group, xy, marker, classes, keep, colour in groups:
            if len(xy) == 0:
                continue
            if labels is None:
                axis.scatter(xy[:, 0], xy[:, 1], s=8, c=colour, marker=marker, alpha=0.7, label=group, linewidths=0)
            else:
                picked = classes[keep]  # type: ignore[index]
                axis.scatter(
                    xy[:, 0], xy[:, 1], s=9, c=picked % 10, cmap="tab10", vmin=0, vmax=9, marker=marker, alpha=0.8,
                    linewidths=0,
                )  # fmt: skip
        axis.set_title(f"{layer} (D={_width(real, fake, layer)})", fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in axes[len(layers) :]:
        axis.set_visible(False)
    _legend(figure, axes[0], labels, real_labels, fake_labels, bool(n_real), bool(n_fake))
    figure.suptitle(title or f"PCA({pca_dims}) + t-SNE per layer, seed {seed}")
    return save_figure(figure, path)


def _width(real: Mapping[str, Tensor] | None, fake: Mapping[str, Tensor] | None, layer: str) -> int:
    values = (real or fake)[layer]  # type: ignore[index]
    return int(np.prod(values.shape[1:]))


def _legend(
    figure: Figure,
    axis: Axes,
    labels: Mapping[str, Tensor] | None,
    real_labels: np.ndarray | None,
    fake_labels: np.ndarray | None,
    has_real: bool,
    has_fake: bool,
) -> None:
    from matplotlib.lines import Line2D

    if labels is None:
        axis.legend(loc="best", fontsize=8, markerscale=2)
        return
    from matplotlib import colormaps

    present = sorted({int(v) for v in np.concatenate([a for a in (real_labels, fake_labels) if a is not None])})
    tab10 = colormaps["tab10"]
    handles = [Line2D([], [], ls="", marker="s", color=tab10(c % 10), label=str(c)) for c in present]
    if has_real:
        handles.append(Line2D([], [], ls="", marker="o", color="grey", label="real"))
    if has_fake:
        handles.append(Line2D([], [], ls="", marker="^", color="grey", label="fake"))
    figure.legend(handles=handles, loc="outside right center", fontsize=8, title="class")


def save_figure(figure: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Render a :class:`matplotlib.figure.Figure` to PNG and write it atomically; return the path."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    return atomic_write(path, lambda handle: handle.write(data))
