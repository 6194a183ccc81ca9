"""The HTML report's figures, rendered to PNG bytes: t-SNE, separability per layer, PCA variance, image grids.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so rendering never selects a global
backend or leaves figures open in the user's session. Every function is deterministic for its ``seed``: the same
inputs give the same PNG bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image
from threadpoolctl import threadpool_limits
from torch import Tensor

from ganprobe.defaults import TSNE_POINTS
from ganprobe.errors import InputError

REAL_COLOR = "#1f77b4"
FAKE_COLOR = "#d95f02"
DPI = 100
PCA_DIMS = 50  # t-SNE runs on at most this many principal components (as in the layer-wise MNIST study)
TSNE_PERPLEXITY = 30.0
# sklearn runs 250 early-exaggeration iterations first; 150 more settle the layout (KL within 3% of 1,000 iterations)
TSNE_MAX_ITER = 400
SINGLE_THREAD_POINTS = 2000  # t-SNE of at most this many points runs on one thread (see tsne_embedding)
THUMBNAIL_SIZE = 64
PROTOCOL_LABELS: dict[str, str] = {
    "linear_probe": "linear probe (held-out)",
    "knn_loo": "1-NN leave-one-out",
    "pca2_svm": "PCA-2 + RBF SVM (training acc.)",
    "pca2_kmeans": "PCA-2 + k-means",
}
# One layer's panel: (layer, embedding, is_fake) and (layer, real curve, fake curve).
TsnePanel = tuple[str, np.ndarray, np.ndarray]
VariancePanel = tuple[str, np.ndarray | None, np.ndarray | None]


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI embedding ``png`` (for a self-contained HTML page)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_png(figure: Figure) -> bytes:
    """Render a matplotlib figure to PNG bytes (Agg renderer, no timestamp or version metadata)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _rows(features: Tensor, name: str) -> np.ndarray:
    if not isinstance(features, Tensor) or features.ndim != 2:
        raise InputError(f"{name}: expected an (N, D) feature tensor, got {getattr(features, 'shape', type(features))}")
    array = features.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(array).all():
        raise InputError(f"{name}: features hold NaN or inf values")
    return array


def _subsample(rows: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    if len(rows) <= max_points:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=max_points, replace=False))]


def _principal_components(centered: np.ndarray, count: int) -> np.ndarray:
    """Coordinates of centered rows on their first ``count`` principal axes (exact, deterministic).

    Eigen-decomposes the smaller Gram matrix (``X X^T`` or ``X^T X``): 4x cheaper than a thin SVD for a thousand
    rows of 2048 features, and accurate enough for the leading components a plot needs.
    """
    if centered.shape[0] < centered.shape[1]:
        eigenvalues, vectors = np.linalg.eigh(centered @ centered.T)
        top = np.argsort(eigenvalues)[::-1][:count]
        return vectors[:, top] * np.sqrt(np.clip(eigenvalues[top], 0.0, None))
    eigenvalues, axes = np.linalg.eigh(centered.T @ centered)
    return centered @ axes[:, np.argsort(eigenvalues)[::-1][:count]]


def _squared_singular_values(centered: np.ndarray) -> np.ndarray:
    """Squared singular values of ``centered``, largest first (the variance along each principal axis, times N)."""
    small = centered @ centered.T if centered.shape[0] < centered.shape[1] else centered.T @ centered
    return np.clip(np.linalg.eigvalsh(small)[::-1], 0.0, None)


def tsne_embedding(
    real: Tensor, fake: Tensor, seed: int = 0, max_points: int = TSNE_POINTS, max_iter: int = TSNE_MAX_ITER
) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE of real and fake features together (van der Maaten & Hinton 2008).

    Each set is subsampled to ``max_points`` rows (seeded, the same rows for every layer of equal size), reduced to
    at most :data:`PCA_DIMS` principal components, then embedded with scikit-learn's Barnes-Hut t-SNE
    (``init="pca"``, ``random_state=seed``; perplexity 30, lowered to ``(n - 1) / 3`` for tiny sets).

    Args:
        real: ``(N, D)`` real features; fake: ``(M, D)`` fake features of the same width.
        seed: seed of the subsampling and of t-SNE.
        max_points: most rows kept per set.
        max_iter: t-SNE iterations (at least 250).

    Returns:
        ``(embedding, is_fake)``: ``(n, 2)`` coordinates and an ``(n,)`` boolean mask of the fake rows.

    Raises:
        InputError: a set is empty, there are fewer than 3 points, widths differ, or every feature is constant.
    """
    from sklearn.manifold import TSNE

    real_rows, fake_rows = _rows(real, "real"), _rows(fake, "fake")
    if len(real_rows) == 0 or len(fake_rows) == 0 or len(real_rows) + len(fake_rows) < 3:
        raise InputError(
            f"t-SNE needs >= 1 real, >= 1 fake and 3 points in all (got {len(real_rows)}, {len(fake_rows)})"
        )
    if real_rows.shape[1] != fake_rows.shape[1]:
        raise InputError(f"t-SNE: real and fake widths differ ({real_rows.shape[1]} vs {fake_rows.shape[1]})")
    rng = np.random.default_rng(seed)
    real_rows, fake_rows = _subsample(real_rows, max_points, rng), _subsample(fake_rows, max_points, rng)
    points = np.concatenate([real_rows, fake_rows])
    points = points - points.mean(axis=0)
    if not np.any(np.ptp(points, axis=0) > 0):
        raise InputError("t-SNE: every feature is constant over these samples (nothing to embed)")
    if points.shape[1] > PCA_DIMS:
        points = _principal_components(points, PCA_DIMS)
    count = len(points)
    tsne = TSNE(
        n_components=2,
        perplexity=min(TSNE_PERPLEXITY, max(1.0, (count - 1) / 3)),
        init="pca" if points.shape[1] >= 2 else "random",
        learning_rate="auto",
        random_state=seed,
    )
    # scikit-learn < 1.5 names the iteration count n_iter.
    tsne.set_params(**{"max_iter" if "max_iter" in tsne.get_params() else "n_iter": max(250, max_iter)})
    # Barnes-Hut t-SNE synchronises its OpenMP threads every iteration: below a few thousand points that costs more
    # than it gains, and on a busy 2-core CI box it made a 1,000-point embedding 5x (60 points: 35x) slower.
    threads = 1 if count <= SINGLE_THREAD_POINTS else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        embedding = tsne.fit_transform(points.astype(np.float32))
    is_fake = np.arange(count) >= len(real_rows)
    return embedding, is_fake


def _grid(count: int, columns: int, size: float, height: float | None = None) -> tuple[Figure, list]:
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(size * columns, (height or size) * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        extra.set_axis_off()
    return figure, axes[:count]


def _real_fake_legend() -> tuple[list[Line2D], list[str]]:
    handles = [
        Line2D([], [], color=REAL_COLOR, marker="o", linestyle="none"),
        Line2D([], [], color=FAKE_COLOR, marker="^", linestyle="none"),
    ]
    return handles, ["real", "fake"]


def tsne_figure(panels: Sequence[TsnePanel], columns: int = 4) -> bytes:
    """Small multiples of t-SNE scatters, one per layer: real (blue circles) vs fake (orange triangles).

    Args:
        panels: ``(layer, embedding (n, 2), is_fake (n,))`` from :func:`tsne_embedding`, in layer order.
        columns: panels per row.

    Returns:
        PNG bytes.
    """
    figure, axes = _grid(len(panels), columns, 3.0)
    for ax, (layer, embedding, is_fake) in zip(axes, panels, strict=True):
        real, fake = embedding[~is_fake], embedding[is_fake]
        size = float(np.clip(3000 / len(embedding), 7, 36))  # few points: larger markers
        ax.scatter(real[:, 0], real[:, 1], s=size, c=REAL_COLOR, marker="o", alpha=0.6, linewidths=0)
        ax.scatter(fake[:, 0], fake[:, 1], s=size * 1.3, c=FAKE_COLOR, marker="^", alpha=0.6, linewidths=0)
        ax.set_title(f"{layer} ({len(real)} real, {len(fake)} fake)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(*_real_fake_legend(), loc="best", fontsize=8)
    return figure_png(figure)


def separability_figure(
    separability: Mapping[str, Mapping[str, float | None]], threshold: float | None = None, first: str | None = None
) -> bytes:
    """Real-vs-fake accuracy per layer, one line per protocol, with the 0.5 chance line and the first separable
    layer marked.

    The seed study plotted the PCA-2 SVM's training error against block number; accuracy = 1 - error, so a curve
    at 0.5 means the protocol cannot tell fakes from reals in that layer, and 1.0 means perfect separation.

    Args:
        separability: ``{layer: {protocol: accuracy or None}}`` in layer order.
        threshold: the "separable" accuracy to draw as a dotted line (``None``: not drawn).
        first: the first separable layer, marked with a vertical band and a label (``None``: none marked).

    Returns:
        PNG bytes. The legend sits below the axes, so it never covers the curves.
    """
    layers = list(separability)
    found = {protocol for scores in separability.values() for protocol in scores}
    protocols = [p for p in PROTOCOL_LABELS if p in found] + sorted(found - set(PROTOCOL_LABELS))
    figure = Figure(figsize=(max(6.0, 0.8 * len(layers) + 2.5), 4.6), layout="constrained")
    ax = figure.subplots()
    x = np.arange(len(layers))
    lowest = 0.5
    for protocol in protocols:
        values = [separability[layer].get(protocol) for layer in layers]
        y = np.array([np.nan if value is None else float(value) for value in values])
        if np.isfinite(y).any():
            lowest = min(lowest, float(np.nanmin(y)))
        ax.plot(x, y, marker="o", label=PROTOCOL_LABELS.get(protocol, protocol))
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=1, label="chance (0.5)")
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle=":", linewidth=1, label=f"separable ({threshold:g})")
    if first is not None and first in layers:
        position = layers.index(first)
        ax.axvspan(position - 0.15, position + 0.15, color="#3b78c2", alpha=0.15, label=f"first separable: {first}")
        ax.annotate(
            "first separable", (position, 1.0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8
        )
    ax.set_xticks(x, layers, rotation=30 if len(layers) > 4 else 0, ha="right" if len(layers) > 4 else "center")
    ax.set_xlim(-0.3, len(layers) - 0.7)
    ax.set_ylim(max(0.0, lowest - 0.05), 1.06)
    ax.set_xlabel("layer (input to output)")
    ax.set_ylabel("real vs fake accuracy")
    ax.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return figure_png(figure)


def class_share_figure(names: Sequence[str], real: Sequence[float], fake: Sequence[float]) -> bytes:
    """Each class's share of the reals and of the fakes as paired bars (a missing class: a real bar alone).

    Args:
        names: the class names, in order.
        real, fake: each class's share of its set (0 to 1).

    Returns:
        PNG bytes.
    """
    x = np.arange(len(names))
    figure = Figure(figsize=(min(11.0, max(5.0, 0.45 * len(names) + 2.0)), 3.4), layout="constrained")
    ax = figure.subplots()
    ax.bar(x - 0.2, real, width=0.4, label="reals", color="#3b78c2")
    ax.bar(x + 0.2, fake, width=0.4, label="fakes", color="#e8833a")
    ax.set_xticks(x, list(names), rotation=90 if len(names) > 20 else 0, fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel("share of the set")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return figure_png(figure)


def cumulative_explained_variance(features: Tensor) -> np.ndarray:
    """Cumulative fraction of the total variance held by the first ``k`` principal components, ``k = 1..K``.

    Args:
        features: ``(N, D)`` features, ``N >= 2``.

    Returns:
        A non-decreasing ``(K,)`` array ending at 1.0, ``K = min(N - 1, D)``.

    Raises:
        InputError: fewer than 2 rows, or all rows identical (no variance to explain).
    """
    rows = _rows(features, "features")
    if len(rows) < 2:
        raise InputError(f"PCA variance needs >= 2 samples (got {len(rows)})")
    centered = rows - rows.mean(axis=0)
    variances = _squared_singular_values(centered)
    total = variances.sum()
    if not total > 0:
        raise InputError("PCA variance: all samples are identical")
    return np.cumsum(variances[: min(len(rows) - 1, rows.shape[1])]) / total


def _components_for(curve: np.ndarray, fraction: float = 0.9) -> int:
    return int(np.searchsorted(curve, fraction - 1e-12) + 1)


def pca_variance_figure(panels: Sequence[VariancePanel], columns: int = 3) -> bytes:
    """Small multiples of cumulative explained variance, real vs fake, one panel per layer.

    A fake curve that rises faster than the real one means the fakes vary along fewer directions (mode collapse);
    the legend gives the components that hold 90 % of the variance.

    Args:
        panels: ``(layer, real curve or None, fake curve or None)`` from :func:`cumulative_explained_variance`.
        columns: panels per row.

    Returns:
        PNG bytes.
    """
    figure, axes = _grid(len(panels), columns, 4.4, 3.6)
    for ax, (layer, real, fake) in zip(axes, panels, strict=True):
        for name, curve, color, style in (("real", real, REAL_COLOR, "-"), ("fake", fake, FAKE_COLOR, "--")):
            if curve is not None:
                label = f"{name} (90% at {_components_for(curve)})"
                ax.plot(np.arange(1, len(curve) + 1), curve, color=color, linestyle=style, label=label)
        ax.axhline(0.9, color="gray", linewidth=0.8, linestyle=":")
        ax.set_ylim(0, 1.02)
        ax.set_xscale("log")  # wide layers have thousands of components; the interesting rise is in the first few
        ax.set_title(layer, fontsize=12)
        ax.set_xlabel("components (log scale)", fontsize=10)
        ax.set_ylabel("cumulative variance", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=9)
    return figure_png(figure)


def thumbnail(image: Tensor, size: int = THUMBNAIL_SIZE) -> Image.Image:
    """A PIL thumbnail (longest side scaled to ``size`` px, aspect kept) of a ``(3, H, W)`` or ``(1, H, W)`` image.

    uint8 images are used as is; floating images are read as ``[0, 1]``.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise InputError(f"image: expected a (3, H, W) tensor, got shape {tuple(image.shape)}")
    if image.dtype != torch.uint8:
        image = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    array = image.detach().cpu().expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy()
    picture = Image.fromarray(array)
    scale = size / max(picture.size)
    if scale == 1:
        return picture
    # Small images (MNIST's 28 px) are enlarged with hard pixel edges rather than blurred.
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    width, height = (max(1, round(side * scale)) for side in picture.size)
    return picture.resize((width, height), resample)


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def thumbnail_png(image: Tensor, size: int = THUMBNAIL_SIZE) -> bytes:
    """PNG bytes of :func:`thumbnail`."""
    return _png(thumbnail(image, size))


def image_grid_png(images: Sequence[Tensor], size: int = THUMBNAIL_SIZE, columns: int = 8, pad: int = 2) -> bytes:
    """One PNG holding ``images`` as ``size`` px thumbnails in rows of ``columns`` (centred in their cells).

    Args:
        images: ``(3, H, W)`` images (any sizes).
        size: cell size in pixels; pad: white gap between cells.

    Returns:
        PNG bytes.
    """
    if not images:
        raise InputError("image grid: no images")
    columns = max(1, min(columns, len(images)))
    rows = math.ceil(len(images) / columns)
    step = size + pad
    canvas = Image.new("RGB", (columns * step + pad, rows * step + pad), "white")
    for index, image in enumerate(images):
        picture = thumbnail(image, size)
        left = pad + (index % columns) * step + (size - picture.width) // 2
        top = pad + (index // columns) * step + (size - picture.height) // 2
        canvas.paste(picture, (left, top))
    return _png(canvas)
