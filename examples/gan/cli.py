"""Command-line flags shared by every trainer (the schedule, device, seed, metrics) and run setup helpers."""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan.loop import LoopConfig


def add_loop_arguments(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """Add the flags of :class:`~gan.loop.LoopConfig` (with trainer-specific ``defaults``) and metric options."""
    group = parser.add_argument_group("schedule and output")
    group.add_argument("--out", type=Path, default=Path(defaults["out"]), help="output folder (default: %(default)s)")
    steps_help = (
        "generator updates (default: %(default)s)" if defaults["steps"] else "generator updates (default: --epochs)"
    )
    group.add_argument("--steps", type=int, default=defaults["steps"], help=steps_help)
    group.add_argument("--batch-size", type=int, default=defaults["batch_size"], help="default: %(default)s")
    group.add_argument(
        "--d-steps", type=int, default=defaults.get("d_steps", 1), help="D updates per G update (default: %(default)s)"
    )
    group.add_argument("--log-every", type=int, default=defaults.get("log_every", 50), help="steps per loss log row")
    group.add_argument("--grid-every", type=int, default=1, help="epochs between sample grids (default: 1)")
    group.add_argument("--seed", type=int, default=0, help="seed of weights, batches, noise, metrics (default: 0)")
    group.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    group.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    metrics = parser.add_argument_group("ganprobe metrics")
    metrics.add_argument(
        "--eval-every", type=int, default=defaults.get("eval_every", 250), help="steps between metric evaluations"
    )
    metrics.add_argument(
        "--eval-samples",
        type=int,
        default=defaults.get("eval_samples", 1000),
        help="real and generated images per evaluation (default: %(default)s)",
    )
    metrics.add_argument(
        "--extractor", default=defaults["extractor"], help="ganprobe extractor for the metrics (default: %(default)s)"
    )
    metrics.add_argument(
        "--extractor-weights",
        type=Path,
        default=None,
        help="weights file for the extractor (your own run of its training script; checksum not verified)",
    )
    protocols = list(defaults.get("protocols", ["linear_probe", "knn_loo"]))
    metrics.add_argument(
        "--protocols",
        nargs="+",
        default=protocols,
        help=f"separability protocols (default: {' '.join(protocols)})",
    )
    metrics.add_argument("--no-metrics", action="store_true", help="train without ganprobe evaluations")
    metrics.add_argument(
        "--probe",
        action="store_true",
        help="after training, embed D's layers (t-SNE), attack D and synthesise its favourite inputs (OUT/probe/)",
    )
    metrics.add_argument("--probe-samples", type=int, default=300, help="real and fake images for --probe")
    metrics.add_argument(
        "--patience", type=int, default=0, help="stop after N evaluations without better 1-NN accuracy (0: never)"
    )


def loop_config(args: argparse.Namespace) -> LoopConfig:
    """The :class:`LoopConfig` of parsed flags."""
    return LoopConfig(
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        d_steps=args.d_steps,
        log_every=args.log_every,
        eval_every=args.eval_every,
        eval_samples=args.eval_samples,
        grid_every=args.grid_every,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
    )


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and optionally fix torch's CPU thread count."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def run_info(args: argparse.Namespace, trainer: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready settings of a run, stored in ``log.json``."""
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return {"trainer": trainer, "settings": settings, **(extra or {})}


def uniform_noise(dim: int) -> Any:
    """Latent sampler: uniform in ``[-1, 1]`` (the MNIST study's noise)."""

    def noise(n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, dim, generator=generator) * 2 - 1

    return noise


def normal_noise(dim: int) -> Any:
    """Latent sampler: standard normal."""

    def noise(n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, dim, generator=generator)

    return noise


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (``None``: the command line) and check the schedule is positive."""
    args = parser.parse_args(argv)
    for name in ("batch_size", "d_steps", "log_every", "eval_every", "eval_samples", "grid_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be >= 1, got {getattr(args, name)}")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps: must be >= 1, got {args.steps}")
    return args


def add_colour_data_arguments(parser: argparse.ArgumentParser, labelled: bool) -> None:
    """``--data FOLDER`` or ``--torchvision NAME --root DIR``: where the colour trainers read their images."""
    group = parser.add_argument_group("data (one of --data or --torchvision)")
    layout = " with one subfolder per class (like torchvision's ImageFolder)" if labelled else " (searched recursively)"
    group.add_argument("--data", type=Path, default=None, help="folder of images" + layout)
    group.add_argument("--torchvision", default=None, help="a torchvision dataset already on disk, e.g. CIFAR10")
    group.add_argument("--root", type=Path, default=None, help="folder of the --torchvision dataset (never downloaded)")
    group.add_argument(
        "--limit", type=int, default=None, help="train on N images drawn at random (seeded; class-balanced if labelled)"
    )


def steps_from_epochs(args: argparse.Namespace, train_count: int) -> int:
    """``--steps`` if given, else ``--epochs`` times the full batches per epoch."""
    if args.steps is not None:
        return args.steps
    return max(1, args.epochs * (train_count // args.batch_size))


def load_colour_data(args: argparse.Namespace, size: int, labelled: bool, train: bool = True) -> Any:
    """The images of ``--data`` or ``--torchvision``/``--root``, at ``size`` x ``size``, limited by ``--limit``."""
    from gan.data import balanced_subset, image_folder, torchvision_dataset

    if (args.data is None) == (args.torchvision is None):
        raise SystemExit("error: give exactly one of --data FOLDER or --torchvision NAME --root DIR")
    if args.data is not None:
        data = image_folder(args.data, size, labelled=labelled)
    else:
        if args.root is None:
            raise SystemExit("error: --torchvision needs --root, the folder holding the dataset's files")
        data = torchvision_dataset(args.torchvision, args.root, size, train=train)
        if not labelled:
            data.labels = None
    if args.limit is not None and train:
        data = balanced_subset(data, args.limit, seed=args.seed)
    return data


def resolve_extractor(name: str, weights: Path | None = None) -> Any:
    """A ganprobe extractor by registry name, optionally with an explicit weights file (checksum not verified).

    ``lenet-mnist`` is built directly when the registry does not list it yet.
    """
    from ganprobe.errors import UnknownExtractorError
    from ganprobe.extractors import get_extractor

    kwargs: dict[str, Any] = {} if weights is None else {"weights_path": weights, "verify_checksum": False}
    try:
        return get_extractor(name, **kwargs)
    except UnknownExtractorError:
        if name not in ("lenet-mnist", "random-lenet-mnist"):
            raise

        return get_extractor("lenet-mnist", pretrained=name == "lenet-mnist", **kwargs)
