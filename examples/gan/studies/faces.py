"""Study §2, "1-NN leave-one-out accuracy for a face GAN": DCGAN-64, sample export, 1-NN LOO, t-SNE, PCA variance.

One run: train the study's 64x64 DCGAN (``train_dcgan64.py``: latent 64, BCE with noisy labels, D lr 2e-4, G lr
1.5e-3) on a colour folder (``--data``; without one, random crops of scikit-image's bundled photos), export as many
generated images as held-out real ones as PNGs, then evaluate the two folders as the study did, minus its flaws:

* embeddings from an extractor in eval mode (the study left its ResNet-50 in training mode), both the class logits
  the study used and the pooled features we recommend (logits are a poor embedding);
* 1-NN leave-one-out accuracy over all real + fake points, exact, from one distance matrix (no N refits);
* a t-SNE map of real vs fake embeddings (perplexity 30, 1,000 iterations);
* the cumulative PCA explained-variance curve of the embeddings, with the components needed for 90/95/99%.

The study used torchvision's ResNet-50 (``--extractor resnet50``, weights fetched once by torchvision); the
default ``efficientnet-lite0`` works offline. ``--fake DIR --real DIR`` skips training and evaluates your folders.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gan import cli, outputs
from gan.data import image_folder
from gan.studies.common import Comparison, StudyResult, add_common_arguments, resolve, settings_help
from gan.studies.shared_dcgan64 import train_and_export

NAME = "faces"
TITLE = "§2 1-NN leave-one-out accuracy of a 64x64 DCGAN (face study)"
SHORT = {"images": 800, "held_out": 200, "epochs": 30, "width": 16, "batch_size": 64, "tsne_iterations": 1000}
FULL = {"images": 6286, "held_out": 3143, "epochs": 80, "width": 64, "batch_size": 128, "tsne_iterations": 1000}
PERPLEXITY = 30.0
STUDY_ACCURACY = 0.667
SHARES = (0.9, 0.95, 0.99)  # shares of the variance whose component counts are reported and drawn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's flags (unset ones come from ``SHORT`` or, with ``--full``, ``FULL``)."""
    add_common_arguments(parser)
    for key, text in (
        ("images", "photo crops built when --data is not given"),
        ("held_out", "real images held out = generated images exported and evaluated"),
        ("epochs", "DCGAN epochs"),
        ("width", "DCGAN base channels"),
        ("batch_size", "batch size"),
        ("tsne_iterations", "t-SNE iterations"),
    ):
        parser.add_argument(
            "--" + key.replace("_", "-"), type=int, default=None, help=settings_help(key, SHORT, FULL, text)
        )
    parser.add_argument("--steps", type=int, default=None, help="generator updates (overrides --epochs)")
    parser.add_argument("--data", type=Path, default=None, help="your colour image folder (e.g. FFHQ thumbnails)")
    parser.add_argument("--extractor", default="efficientnet-lite0", help="embedding network (study: resnet50)")
    parser.add_argument(
        "--fake", type=Path, default=None, help="evaluate this folder of generated images (no training)"
    )
    parser.add_argument("--real", type=Path, default=None, help="... against this folder of real images")
    add_cache_argument(parser)


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    """``--cache DIR``: where the DCGAN-64 run shared by studies §1 and §2 is kept (trained once, reused)."""
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder of trained DCGAN-64 runs shared by the campus and faces studies (default: OUT/../dcgan64_cache)",
    )


@torch.no_grad()
def embed(extractor: object, images: Tensor, layers: list[str], batch: int = 64) -> dict[str, Tensor]:
    """``{layer: (N, D)}`` float64 features of uint8 images, in batches (the extractor runs in eval mode)."""
    parts = [extractor(images[i : i + batch], layers=layers) for i in range(0, len(images), batch)]  # type: ignore[operator]
    return {layer: torch.cat([p[layer] for p in parts]).double().cpu() for layer in layers}


def variance_components(points: np.ndarray, shares: tuple[float, ...] = SHARES) -> tuple[np.ndarray, dict]:
    """Cumulative PCA explained-variance ratio of ``points`` and the components needed for each share."""
    from sklearn.decomposition import PCA

    cumulative = np.cumsum(PCA().fit(points).explained_variance_ratio_)
    needed = {f"{share:.0%}": int(np.searchsorted(cumulative, share) + 1) for share in shares}
    return cumulative, needed


def _tsne_figure(
    maps: Mapping[str, np.ndarray], count: int, accuracies: Mapping[str, float], iterations: int, path: Path
) -> Path:
    from matplotlib.figure import Figure

    label, direction = outputs.declared("knn_loo")
    figure = Figure(figsize=(5.2 * len(maps), 5.0), layout="constrained")
    for axes, (layer, points) in zip(figure.subplots(1, len(maps), squeeze=False)[0], maps.items(), strict=True):
        axes.scatter(*points[:count].T, s=6, alpha=0.6, label="real", c="tab:blue", linewidths=0)
        axes.scatter(*points[count:].T, s=6, alpha=0.6, label="generated", c="tab:orange", marker="^", linewidths=0)
        axes.set_title(f"{layer}: {label} {accuracies[layer]:.3f} ({direction})", fontsize=10)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.legend(loc="best", fontsize=8, markerscale=2)
    figure.suptitle(f"t-SNE of real vs generated embeddings (perplexity {PERPLEXITY:g}, {iterations} iterations)")
    return outputs._save_figure(figure, path)


def variance_figure(curves: Mapping[str, np.ndarray], needed: Mapping[str, dict]) -> Any:
    """Cumulative explained variance per layer, each of the 90/95/99% lines labelled with its share."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for layer, curve in curves.items():
        counts = ", ".join(f"{share}: {count}" for share, count in needed[layer].items())
        axes.plot(np.arange(1, len(curve) + 1), curve, label=f"{layer} (components for {counts})")
    for index, share in enumerate(SHARES):  # labels side by side: the lines are close together
        axes.axhline(share, color="grey", linestyle=":", linewidth=1)
        axes.text(0.01 + 0.07 * index, share, f"{share:.0%}", transform=axes.get_yaxis_transform(), fontsize=8,
                  color="dimgrey", ha="left", va="bottom")  # fmt: skip
    axes.set_xscale("log")
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("principal components (log scale)")
    axes.set_ylabel("cumulative explained variance")
    axes.set_title("PCA of the real + generated embeddings", fontsize=11)
    axes.legend(fontsize=9, loc="lower right")
    axes.grid(alpha=0.3)
    return figure


def tsne_map(points: np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """2-D t-SNE (perplexity 30, capped for small sets) of ``points``."""
    import inspect

    from sklearn.manifold import TSNE

    steps = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"
    perplexity = min(PERPLEXITY, (len(points) - 1) / 3)
    tsne = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed, **{steps: iterations})
    return tsne.fit_transform(points)


def run(args: argparse.Namespace) -> StudyResult:
    """Train (unless ``--fake``/``--real``), export, and evaluate by the face study's protocol."""
    from ganprobe.functional.knn_loo import knn_loo_accuracy

    args = resolve(args, SHORT, FULL)
    out = Path(args.out or "runs/study_faces")
    files: dict[str, Path] = {}
    if (args.fake is None) != (args.real is None):
        raise SystemExit("error: give both --fake and --real, or neither (then the study trains its own DCGAN)")
    if args.fake is None:
        fake_dir, real_dir, files = train_and_export(args, out)
    else:
        fake_dir, real_dir = args.fake, args.real
    cli.seed_everything(args.seed, args.threads)
    fake, real = image_folder(fake_dir, 64).images, image_folder(real_dir, 64).images
    extractor = cli.resolve_extractor(args.extractor).to(args.device)
    layers = list(dict.fromkeys([extractor.logits_layer or extractor.default_layer, extractor.default_layer]))
    real_features, fake_features = embed(extractor, real, layers), embed(extractor, fake, layers)
    accuracies = {layer: float(knn_loo_accuracy(real_features[layer], fake_features[layer])) for layer in layers}
    maps, curves, needed = {}, {}, {}
    for layer in layers:
        points = torch.cat([real_features[layer], fake_features[layer]]).numpy()
        maps[layer] = tsne_map(points, args.tsne_iterations, args.seed)
        curves[layer], needed[layer] = variance_components(points)
    files["tsne"] = _tsne_figure(maps, len(real), accuracies, args.tsne_iterations, out / "tsne.png")
    files["pca_variance"] = outputs._save_figure(variance_figure(curves, needed), out / "pca_variance.png")
    files.update({"export_fake": fake_dir, "export_real": real_dir})
    numbers = {
        "extractor": extractor.name,
        "real_images": len(real),
        "fake_images": len(fake),
        "knn_loo": accuracies,
        "pca_components": needed,
    }
    return StudyResult(TITLE, _rows(args, numbers, layers), numbers, files)


def _rows(args: argparse.Namespace, numbers: dict[str, Any], layers: list[str]) -> list[Comparison]:
    """The study's numbers next to this run's."""
    _, direction = outputs.declared("knn_loo")
    accuracy, needed = numbers["knn_loo"], numbers["pca_components"]
    real, fake, name = numbers["real_images"], numbers["fake_images"], numbers["extractor"]
    logits = layers[0]
    perplexity = min(PERPLEXITY, (real + fake - 1) / 3)
    rows = [
        Comparison(
            "images evaluated",
            "3,143 real + 3,143 generated (FFHQ)",
            f"{real:,} real + {fake:,} generated",
            "photo crops from scikit-image" if args.data is None and args.fake is None else "",
        ),
        Comparison(
            f"1-NN LOO accuracy, {logits}",
            f"{STUDY_ACCURACY} (ResNet-50 logits, BatchNorm in training mode)",
            f"{accuracy[logits]:.3f} ({name} {logits}, eval mode)",
            direction,
        ),
        Comparison(
            f"components for 90% variance, {logits}",
            "about 500 hold most of the variance",
            f"{needed[logits]['90%']} (95%: {needed[logits]['95%']}, 99%: {needed[logits]['99%']})",
            "pca_variance.png",
        ),
        Comparison(
            "t-SNE real vs generated",
            "perplexity 30, 1,000 iterations (figure)",
            f"perplexity {perplexity:g}, {args.tsne_iterations} iterations",
            "tsne.png",
        ),
    ]
    for pooled in layers[1:]:
        rows.insert(
            2, Comparison(f"1-NN LOO accuracy, {pooled}", "not measured", f"{accuracy[pooled]:.3f}", "pooled features")
        )
    return rows
