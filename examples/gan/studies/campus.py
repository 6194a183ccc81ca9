"""Study §1, "Per-block separability of real vs generated campus photos": the campus protocol on DCGAN-64 samples.

Train the 64x64 DCGAN (``train_dcgan64.py``) on a colour folder (``--data``; without one, random crops of
scikit-image's bundled outdoor and object photos stand in for campus photos), export 64 generated and 64 held-out
real images, then run the study's protocol on the blocks of an ImageNet network (the study: ResNet-18
``layer1``-``layer4``, ``--extractor resnet18``; offline default ``efficientnet-lite0``, seven stages), features
averaged over space:

* per block, a t-SNE scatter of real vs fake (2 components, scikit-learn defaults: perplexity 30);
* PCA to 2 components, then k-means with 2 clusters (``random_state=2``), scored under the better assignment;
* PCA to 2 components, then an RBF SVM (C=1, gamma=0.5) fitted and scored on the same 128 points (the study's
  *training* error);

and what we add: the cross-validated linear probe and the 1-NN leave-one-out accuracy in the full feature space
(trust these two; PCA-2 throws most of the signal away). ``--fake DIR --real DIR`` runs the protocol on your own
folders without training.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from gan import cli, outputs
from gan.data import balanced_subset, image_folder
from gan.studies.common import Comparison, StudyResult, add_common_arguments, resolve, settings_help
from gan.studies.faces import add_cache_argument, embed, tsne_map
from gan.studies.shared_dcgan64 import train_and_export

NAME = "campus"
TITLE = "§1 Per-block separability of real vs generated photos (campus protocol, DCGAN-64)"
SHORT = {"images": 800, "held_out": 200, "epochs": 30, "width": 16, "batch_size": 64, "samples": 64}
FULL = {"images": 3200, "held_out": 320, "epochs": 80, "width": 64, "batch_size": 128, "samples": 64}
PROTOCOLS = ("pca2_kmeans", "pca2_svm", "linear_probe", "knn_loo")
KMEANS_SEED = 2
# The study's PCA-2 RBF-SVM training errors, ResNet-18 layer1-layer4, out of its 64 + 64 = 128 points.
STUDY_SVM_ERRORS = (45, 12, 12, 10)
STUDY_POINTS = 128


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's flags (unset ones come from ``SHORT`` or, with ``--full``, ``FULL``)."""
    add_common_arguments(parser)
    for key, text in (
        ("images", "photo crops built when --data is not given"),
        ("held_out", "real images kept out of training"),
        ("epochs", "DCGAN epochs"),
        ("width", "DCGAN base channels"),
        ("batch_size", "batch size"),
        ("samples", "real and generated images the protocol compares"),
    ):
        flag = "--" + key.replace("_", "-")
        parser.add_argument(flag, type=int, default=None, help=settings_help(key, SHORT, FULL, text))
    parser.add_argument("--steps", type=int, default=None, help="generator updates (overrides --epochs)")
    parser.add_argument("--data", type=Path, default=None, help="your colour image folder (e.g. campus photos)")
    parser.add_argument("--extractor", default="efficientnet-lite0", help="block network (study: resnet18)")
    parser.add_argument("--fake", type=Path, default=None, help="run the protocol on this folder (no training)")
    parser.add_argument("--real", type=Path, default=None, help="... against this folder of real images")
    add_cache_argument(parser)


def _tsne_figure(
    maps: Mapping[str, np.ndarray], count: int, table: Mapping[str, Mapping[str, float]], path: Path
) -> Path:
    from matplotlib.figure import Figure

    columns = min(4, len(maps))
    rows = -(-len(maps) // columns)
    figure = Figure(figsize=(3.6 * columns, 3.6 * rows + 0.5), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, (block, points) in zip(panels, maps.items(), strict=False):
        axes.scatter(*points[:count].T, s=10, c="tab:blue", label="real", linewidths=0)
        axes.scatter(*points[count:].T, s=10, c="tab:orange", marker="^", label="generated", linewidths=0)
        scores = table[block]
        axes.set_title(
            f"{block}: PCA-2 SVM error {1 - scores['pca2_svm']:.2f}\nlinear probe {scores['linear_probe']:.2f}",
            fontsize=9,
        )
        axes.set_xticks([])
        axes.set_yticks([])
    for axes in panels[len(maps) :]:
        axes.set_visible(False)
    panels[0].legend(fontsize=8, markerscale=1.5)
    figure.suptitle("t-SNE per block (perplexity 30), real vs generated")
    return outputs._save_figure(figure, path)


def _protocol_figure(table: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    from matplotlib.figure import Figure

    blocks = list(table)
    _, direction = outputs.declared("separability.block.linear_probe")
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    styles = {"pca2_kmeans": ":", "pca2_svm": "--", "linear_probe": "-", "knn_loo": "-"}
    for protocol in PROTOCOLS:
        values = [table[block][protocol] for block in blocks]
        axes.plot(range(1, len(blocks) + 1), values, marker="o", linestyle=styles[protocol], label=protocol)
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="indistinguishable (0.5)")
    axes.set_xticks(range(1, len(blocks) + 1), [f"{i}\n{b}" for i, b in enumerate(blocks, 1)])
    axes.set_ylim(0.0, 1.05)
    axes.set_xlabel("block")
    axes.set_ylabel("real-vs-fake accuracy (error = 1 - accuracy)")
    axes.set_title(f"Separability per block ({direction}); the study plotted 1 - pca2_svm", fontsize=11)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return outputs._save_figure(figure, path)


def _threshold() -> float:
    """ganprobe's default accuracy above which a layer counts as separable."""
    import inspect

    from ganprobe.functional.separability import first_separable_layer

    return float(inspect.signature(first_separable_layer).parameters["threshold"].default)


def _first(table: Mapping[str, Mapping[str, float]], protocol: str) -> str:
    """The first block whose ``protocol`` accuracy reaches ganprobe's separability threshold, or "none"."""
    from ganprobe.functional.separability import first_separable_layer

    return first_separable_layer(table, protocol=protocol) or "none"


def run(args: argparse.Namespace) -> StudyResult:
    """Train and export (unless ``--fake``/``--real``), then the campus protocol per block."""
    from ganprobe.functional.separability import layer_separability

    args = resolve(args, SHORT, FULL)
    out = Path(args.out or "runs/study_campus")
    files: dict[str, Path] = {}
    if (args.fake is None) != (args.real is None):
        raise SystemExit("error: give both --fake and --real, or neither (then the study trains its own DCGAN)")
    if args.fake is None:
        args.held_out = max(args.held_out, args.samples)
        fake_dir, real_dir, files = train_and_export(args, out)
    else:
        fake_dir, real_dir = args.fake, args.real
    cli.seed_everything(args.seed, args.threads)
    fake = balanced_subset(image_folder(fake_dir, 64), args.samples, seed=args.seed).images
    real = balanced_subset(image_folder(real_dir, 64), args.samples, seed=args.seed).images
    extractor = cli.resolve_extractor(args.extractor).to(args.device)
    blocks = list(extractor.block_layers)
    real_features, fake_features = embed(extractor, real, blocks), embed(extractor, fake, blocks)
    table = layer_separability(real_features, fake_features, PROTOCOLS, seed=KMEANS_SEED)
    maps = {
        block: tsne_map(torch.cat([real_features[block], fake_features[block]]).numpy(), 1000, args.seed)
        for block in blocks
    }
    files["tsne_per_block"] = _tsne_figure(maps, len(real), table, out / "tsne_per_block.png")
    files["separability_per_block"] = _protocol_figure(table, out / "separability_per_block.png")
    numbers = {"extractor": extractor.name, "real_images": len(real), "fake_images": len(fake), "per_block": table}
    numbers["study_svm_errors"] = dict(zip(("layer1", "layer2", "layer3", "layer4"), STUDY_SVM_ERRORS, strict=True))
    rows = [
        Comparison(
            "images compared",
            "64 real + 64 generated campus photos",
            f"{len(real)} real + {len(fake)} generated",
            "photo crops from scikit-image" if args.data is None and args.fake is None else "",
        ),
        Comparison("blocks", "ResNet-18 layer1-layer4", f"{extractor.name} {', '.join(blocks)}"),
    ]
    points = len(real) + len(fake)
    errors = {block: round((1 - table[block]["pca2_svm"]) * points) for block in blocks}
    study_errors = ", ".join(str(count) for count in STUDY_SVM_ERRORS)
    rows.append(
        Comparison(
            f"PCA-2 SVM training errors per block (of {points} points)",
            f"{study_errors} of {STUDY_POINTS} (ResNet-18 layer1-layer4)",
            ", ".join(f"{block} {count}" for block, count in errors.items()),
            "fitted and scored on the same points, as in the study",
        )
    )
    aligned = len(blocks) == len(STUDY_SVM_ERRORS)  # a 4-block network: block i faces the study's layer i
    for index, block in enumerate(blocks):
        scores = table[block]
        study = "-"
        if aligned:
            count = STUDY_SVM_ERRORS[index]
            study = f"SVM {count} of {STUDY_POINTS} = {count / STUDY_POINTS:.2f}"
        rows.append(
            Comparison(
                f"{block}: PCA-2 SVM training error / k-means error",
                study,
                f"{1 - scores['pca2_svm']:.2f} ({errors[block]} of {points}) / {1 - scores['pca2_kmeans']:.2f}; "
                f"linear probe {scores['linear_probe']:.2f}, 1-NN {scores['knn_loo']:.2f}",
            )
        )
    rows.append(
        Comparison(
            "conclusion",
            "block 1 indistinguishable; blocks 3 and 4 separate",
            f"first block at >= {_threshold():g}: PCA-2 SVM {_first(table, 'pca2_svm')}, linear probe "
            f"{_first(table, 'linear_probe')}, 1-NN {_first(table, 'knn_loo')}",
            "trust the linear probe and 1-NN (full feature space, held out)",
        )
    )
    return StudyResult(TITLE, rows, numbers, files)
