"""The ``ganprobe`` command line: ``evaluate`` two image folders, list ``extractors``.

Exit codes: 0 success, 2 usage or input error, 3 internal error (each one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ganprobe import defaults
from ganprobe.atomic import atomic_write

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERNAL = 3
JSON_SCHEMA_VERSION = 1

EVALUATE_EPILOG = """examples:
  ganprobe evaluate samples/ data/real/
  ganprobe evaluate samples/ data/real/ --extractor resnet18 --json report.json
  ganprobe evaluate samples/ data/real/ --layers stage2 stage4 pool --num-samples 2000 --device cuda
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _add_extraction_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--extractor", default=defaults.EXTRACTOR, help="feature extractor (default: %(default)s)")
    command.add_argument("--weights", default=None, help="explicit weights file for the extractor")
    command.add_argument("--num-samples", type=int, default=None, help="use at most N images of each folder")
    command.add_argument("--batch-size", type=int, default=defaults.BATCH_SIZE, help="default: %(default)s")
    command.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")
    command.add_argument("--workers", type=int, default=None, help="image decoding processes")
    command.add_argument("--cache-dir", default=None, help="feature cache folder (default: ~/.cache/ganprobe)")
    command.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    command.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ganprobe`` command."""
    from ganprobe.evaluator import METRICS

    parser = _Parser(prog="ganprobe", description="Evaluate generated images against real ones, layer by layer.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    evaluate = commands.add_parser(
        "evaluate",
        help="compare a folder of generated images with real images (a folder or a stats file)",
        description="Every score (FID, KID, IS, precision/recall, density/coverage, CMMD, memorisation, 1-NN LOO) "
        "and per-layer real-vs-fake separability, from one extraction pass per image set.",
        epilog=EVALUATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("fake", help="folder of generated images (searched recursively)")
    evaluate.add_argument("real", help="folder of real images, or a .npz file from `ganprobe stats`")
    _add_extraction_options(evaluate)
    evaluate.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        choices=list(METRICS),
        metavar="METRIC",
        help=f"metrics to compute (default: all the extractor supports): {', '.join(METRICS)}",
    )
    evaluate.add_argument("--layers", nargs="+", default=None, help="layers for separability (default: all blocks)")
    evaluate.add_argument("--seed", type=int, default=defaults.SEED, help="seed of subsets, folds, bootstrap")
    evaluate.add_argument("--permutations", type=int, default=defaults.PERMUTATIONS, help="for the 1-NN p-value")
    evaluate.add_argument(
        "--bootstrap",
        type=int,
        default=defaults.BOOTSTRAP,
        help="bootstrap resamples for precision/recall/density/coverage intervals (0: off)",
    )
    evaluate.add_argument(
        "--fid-bootstrap",
        type=int,
        default=0,
        help="bootstrap resamples for FID's interval (default 0: each costs one FID computation)",
    )
    evaluate.add_argument("--json", dest="json_path", default=None, help="write the results as JSON to this file")
    stats = commands.add_parser(
        "stats",
        help="precompute a real set's features once (a .npz for later `evaluate` runs)",
        description="Extract a real image folder's features (every layer `evaluate` uses) into a .npz file.",
        epilog="example:\n  ganprobe stats data/real -o real_stats.npz --extractor inception-fid\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stats.add_argument("real", help="folder of real images")
    stats.add_argument("-o", "--output", required=True, help="the .npz file to write")
    _add_extraction_options(stats)
    commands.add_parser("extractors", help="list the registered feature extractors")
    return parser


def _finite(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by ``None`` throughout a JSON-ready structure."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_json_atomic(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as strict JSON (NaN/inf become null) to ``path`` via a temporary file and a rename."""
    text = json.dumps(_finite(payload), indent=2, sort_keys=False, allow_nan=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _check_counts(args: argparse.Namespace) -> None:
    zero_ok = ("workers", "permutations", "bootstrap", "fid_bootstrap")
    for option in ("num_samples", "batch_size", *zero_ok):
        value = getattr(args, option, None)
        if value is not None and value < (0 if option in zero_ok else 1):
            raise ValueError(f"--{option.replace('_', '-')}: must be positive, got {value}")


def _check_output(path: str | None, option: str) -> None:
    """Fail before any work when an output file cannot be created (its nearest existing folder is not one)."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option}: {target} is a folder; give a file path")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{option}: cannot create {target}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK):
        raise ValueError(f"{option}: cannot create {target}: {ancestor} is not writable")


def _build_extractor(args: argparse.Namespace):  # noqa: ANN202 - returns a FeatureExtractor (lazy import)
    import torch

    from ganprobe.extractors import get_extractor

    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device: unknown device {args.device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: {args.device} requested but CUDA is not available here")
    kwargs = {"weights_path": args.weights} if args.weights else {}
    return get_extractor(args.extractor, **kwargs).to(device)


def _cache(args: argparse.Namespace):  # noqa: ANN202 - returns a FeatureCache (lazy import)
    from ganprobe.features import FeatureCache

    return FeatureCache(args.cache_dir, enabled=not args.no_cache)


def run_evaluate(args: argparse.Namespace) -> int:
    """Extract once per image set, compute every requested metric, print tables, write JSON."""
    from ganprobe.data import list_images
    from ganprobe.evaluator import Evaluator
    from ganprobe.features.stats import check_compatible, load_reference_stats
    from ganprobe.functional import first_separable_layer
    from ganprobe.report.records import collect_records
    from ganprobe.report.terminal import print_results

    started = time.perf_counter()
    _check_counts(args)
    _check_output(args.json_path, "--json")
    fake_count = len(list_images(args.fake))
    real_is_stats = Path(args.real).is_file()
    if not real_is_stats:
        list_images(args.real)  # fail early, before the backbone loads, on a missing or empty folder
    extractor = _build_extractor(args)
    evaluator = Evaluator(extractor, metrics=args.metrics, layers=args.layers, seed=args.seed, cache=_cache(args))
    common = {"batch_size": args.batch_size, "num_workers": args.workers, "progress": not args.quiet}
    if real_is_stats:
        features, meta = load_reference_stats(args.real)
        check_compatible(meta, extractor, args.real)
        missing = [layer for layer in evaluator.layers if layer not in features]
        if missing:
            raise ValueError(f"{args.real}: lacks layers {missing}; recompute it with `ganprobe stats`")
        real_count = int(meta["count"])
        evaluator.add_features({layer: features[layer].to(extractor.device) for layer in evaluator.layers}, True)
    else:
        real_count = evaluator.add(args.real, True, num_samples=args.num_samples, **common)[evaluator.layers[0]].shape[
            0
        ]
    evaluator.add(args.fake, False, num_samples=args.num_samples, **common)
    results = evaluator.compute()
    records = collect_records(evaluator, results, args.bootstrap, args.fid_bootstrap, args.permutations)
    separability = {
        layer: {protocol: float(value) for protocol, value in scores.items()}
        for layer, scores in results.get("layer_separability", {}).items()
    }
    first = first_separable_layer(separability, defaults.SEPARABLE_THRESHOLD) if separability else None
    suspicious = evaluator.metrics["memorization"].most_suspicious(5) if "memorization" in results else []
    print_results(extractor.name, records, separability, first, suspicious)

    if args.json_path:
        write_json_atomic(
            args.json_path,
            {
                "schema_version": JSON_SCHEMA_VERSION,
                "inputs": {
                    "fake": {"path": str(args.fake), "count": min(fake_count, args.num_samples or fake_count)},
                    "real": {"path": str(args.real), "count": real_count, "stats_file": real_is_stats},
                },
                "extractor": {
                    "name": extractor.name,
                    "weights_sha256": extractor.weights_sha256,
                    "preprocessing": extractor.preprocessing.describe(),
                },
                "seed": args.seed,
                "metrics": [record.as_dict() for record in records],
                "layer_separability": separability,
                "first_separable_layer": first,
                "memorization_pairs": [dataclasses.asdict(pair) for pair in suspicious],
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
    return EXIT_OK


def run_stats(args: argparse.Namespace) -> int:
    """Extract a real folder's features for every layer the default evaluation uses and save them."""
    from ganprobe.evaluator import Evaluator
    from ganprobe.features import extract_features, source_fingerprint
    from ganprobe.features.stats import save_reference_stats

    _check_counts(args)
    _check_output(args.output, "--output")
    if not str(args.output).endswith(".npz"):
        raise ValueError(f"--output: {args.output} must end in .npz")
    extractor = _build_extractor(args)
    layers = Evaluator(extractor).layers
    features = extract_features(
        extractor,
        args.real,
        layers,
        args.batch_size,
        args.num_samples,
        0,
        args.workers,
        progress=not args.quiet,
        description=f"real: {args.real}",
        cache=_cache(args),
    )
    path = save_reference_stats(args.output, features, extractor, source_fingerprint(args.real))
    count = next(iter(features.values())).shape[0]
    print(f"wrote {path}: {count} images, layers {', '.join(layers)}, extractor {extractor.name}")
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
    warnings.formatwarning = lambda message, category, *rest, **kw: f"ganprobe: warning: {message}\n"
    from ganprobe.errors import GanprobeError

    try:
        if args.command == "evaluate":
            return run_evaluate(args)
        if args.command == "stats":
            return run_stats(args)
        return run_extractors()
    except (GanprobeError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"ganprobe {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output path we cannot write, a folder we cannot read
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"ganprobe {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"ganprobe {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("GANPROBE_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"ganprobe {args.command}: internal error: {type(exc).__name__}: {first} "
            "(set GANPROBE_DEBUG=1 for the traceback and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
