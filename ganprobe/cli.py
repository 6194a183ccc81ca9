"""The ``ganprobe`` command line: ``evaluate`` two image folders, list ``extractors``.

Exit codes: 0 success, 2 usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ganprobe import defaults

EXIT_OK = 0
EXIT_USAGE = 2
JSON_SCHEMA_VERSION = 1

EVALUATE_EPILOG = """examples:
  ganprobe evaluate samples/ data/real/
  ganprobe evaluate samples/ data/real/ --extractor resnet18 --json report.json
  ganprobe evaluate samples/ data/real/ --layers stage2 stage4 pool --num-samples 2000 --device cuda
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ganprobe`` command."""
    parser = _Parser(prog="ganprobe", description="Evaluate generated images against real ones, layer by layer.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    evaluate = commands.add_parser(
        "evaluate",
        help="compare a folder of generated images with a folder of real ones",
        description="1-NN leave-one-out accuracy and per-layer real-vs-fake separability of two image folders.",
        epilog=EVALUATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("fake", help="folder of generated images (searched recursively)")
    evaluate.add_argument("real", help="folder of real images (searched recursively)")
    evaluate.add_argument("--extractor", default=defaults.EXTRACTOR, help="feature extractor (default: %(default)s)")
    evaluate.add_argument("--weights", default=None, help="explicit weights file for the extractor")
    evaluate.add_argument("--layers", nargs="+", default=None, help="layers for separability (default: all blocks)")
    evaluate.add_argument("--num-samples", type=int, default=None, help="use at most N images of each folder")
    evaluate.add_argument("--batch-size", type=int, default=defaults.BATCH_SIZE, help="default: %(default)s")
    evaluate.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")
    evaluate.add_argument("--seed", type=int, default=defaults.SEED, help="seed of folds, k-means, permutations")
    evaluate.add_argument("--k", type=int, default=defaults.KNN_K, help="neighbours of the k-NN test (odd)")
    evaluate.add_argument("--permutations", type=int, default=defaults.PERMUTATIONS, help="for the p-value")
    evaluate.add_argument("--workers", type=int, default=None, help="image decoding processes")
    evaluate.add_argument("--json", dest="json_path", default=None, help="write the results as JSON to this file")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    commands.add_parser("extractors", help="list the registered feature extractors and their layers")
    return parser


def write_json_atomic(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` via a temporary file in the same folder and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_evaluate(args: argparse.Namespace) -> int:
    """Extract once per folder, then compute KNN-LOO and per-layer separability; print tables; write JSON."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from ganprobe.data import list_images
    from ganprobe.extractors import get_extractor
    from ganprobe.features import extract_features
    from ganprobe.functional import first_separable_layer, knn_loo_details, layer_separability

    started = time.perf_counter()
    for option in ("num_samples", "batch_size", "workers", "permutations"):
        value = getattr(args, option)
        if value is not None and value < (0 if option in ("workers", "permutations") else 1):
            raise ValueError(f"--{option.replace('_', '-')}: must be positive, got {value}")
    fake_files, real_files = list_images(args.fake), list_images(args.real)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device: unknown device {args.device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: {args.device} requested but CUDA is not available here")
    kwargs = {"weights_path": args.weights} if args.weights else {}
    extractor = get_extractor(args.extractor, **kwargs).to(device)
    layers = list(dict.fromkeys([*(args.layers or extractor.block_layers), extractor.default_layer]))
    extractor.resolve_layers(layers)
    features = {}
    for label, folder in (("fake", args.fake), ("real", args.real)):
        features[label] = extract_features(
            extractor,
            folder,
            layers,
            args.batch_size,
            args.num_samples,
            args.seed,
            args.workers,
            progress=not args.quiet,
            description=f"{label}: {folder}",
        )
    knn = knn_loo_details(
        features["real"][extractor.default_layer],
        features["fake"][extractor.default_layer],
        args.k,
        args.permutations,
        args.seed,
    )
    separability_layers = args.layers or list(extractor.block_layers)
    separability = layer_separability(
        {layer: features["real"][layer] for layer in separability_layers},
        {layer: features["fake"][layer] for layer in separability_layers},
        seed=args.seed,
        k=args.k,
    )
    first = first_separable_layer(separability, defaults.SEPARABLE_THRESHOLD)

    out = Console()
    summary = Table(title=f"k-NN leave-one-out (k={args.k}) on {extractor.name}:{extractor.default_layer}")
    for column in ("accuracy", "real acc.", "fake acc.", "p-value", "real / fake"):
        summary.add_column(column, justify="right")
    summary.add_row(
        f"{knn.accuracy:.4f}",
        f"{knn.real_accuracy:.4f}",
        f"{knn.fake_accuracy:.4f}",
        f"{knn.p_value:.4g}",
        f"{knn.num_real} / {knn.num_fake}",
    )
    out.print(summary)
    protocols = list(next(iter(separability.values())))
    table = Table(title="Per-layer separability (0.5 = indistinguishable, 1.0 = separable)")
    table.add_column("layer")
    for protocol in protocols:
        table.add_column(protocol, justify="right")
    for layer, scores in separability.items():
        table.add_row(layer, *(f"{scores[p]:.3f}" for p in protocols))
    out.print(table)
    out.print(f"first layer with linear-probe accuracy >= {defaults.SEPARABLE_THRESHOLD}: {first or 'none'}")
    out.print(
        "0.5 means the sets are indistinguishable, 1.0 fully separated; linear_probe and knn_loo are "
        "held-out estimates, pca2_svm is the study's training accuracy (optimistic)."
    )

    if args.json_path:
        write_json_atomic(
            args.json_path,
            {
                "schema_version": JSON_SCHEMA_VERSION,
                "inputs": {
                    "fake": {"path": str(args.fake), "count": len(fake_files)},
                    "real": {"path": str(args.real), "count": len(real_files)},
                },
                "extractor": {
                    "name": extractor.name,
                    "weights_sha256": extractor.weights_sha256,
                    "preprocessing": extractor.preprocessing.describe(),
                },
                "knn_loo": {
                    "layer": extractor.default_layer,
                    "k": knn.k,
                    "accuracy": knn.accuracy,
                    "real_accuracy": knn.real_accuracy,
                    "fake_accuracy": knn.fake_accuracy,
                    "balanced_accuracy": knn.balanced_accuracy,
                    "p_value": knn.p_value,
                    "num_real": knn.num_real,
                    "num_fake": knn.num_fake,
                },
                "layer_separability": separability,
                "first_separable_layer": first,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
    return EXIT_OK


def run_extractors() -> int:
    """Print the registered extractors with their layers."""
    from rich.console import Console
    from rich.table import Table

    from ganprobe.extractors import available_extractors, extractor_entry

    table = Table(title="ganprobe extractors")
    table.add_column("name")
    table.add_column("description")
    for name in available_extractors():
        table.add_row(name, extractor_entry(name).description)
    Console().print(table)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ganprobe`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from ganprobe.errors import GanprobeError

    try:
        if args.command == "evaluate":
            return run_evaluate(args)
        return run_extractors()
    except (GanprobeError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"ganprobe {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"ganprobe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
