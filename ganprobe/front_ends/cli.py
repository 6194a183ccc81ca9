"""The ``ganprobe`` command line: ``evaluate`` two image sets with quality gates, ``stats``, ``extractors``.

Exit codes: 0 success (every gate passed), 1 a quality gate failed (the output names it, with value and
threshold), 2 usage or input error (one line on stderr, never a traceback), 3 internal error (one line; set
``GANPROBE_DEBUG=1`` for the traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ganprobe import defaults
from ganprobe.errors import GanprobeError, SampleSizeWarning, UsageError
from ganprobe.front_end_names import render
from ganprobe.front_ends.cli_config import apply_config, cli_config, cli_shape, run_configuration, setting_shorthands
from ganprobe.metrics import settings as metric_settings
from ganprobe.run.config import BY_NAME, FIELDS, RunConfig, describe
from ganprobe.run.output_paths import check_cli_outputs, describe_os_error
from ganprobe.utils.safe_text import one_line

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

EVALUATE_EXAMPLES = """examples:
  ganprobe evaluate samples/ data/real/
  ganprobe evaluate samples/ real_stats.npz --json report.json --html report.html
  ganprobe evaluate samples/ data/real/ --extractor resnet18 --layers layer1 layer2 layer4 --num-samples 2000
  ganprobe evaluate samples/ data/real/ --set kid.subset_size=500 --set precision_recall.k=5
  ganprobe evaluate samples/ data/real/ --fail-if "fid>40" --fail-if "knn_loo>0.8" --junit gates.xml
  ganprobe evaluate samples/ data/real/ --baseline last_week.json --max-regression 5 --device cuda
"""


def evaluate_epilog() -> str:
    """The ``evaluate --help`` epilog: examples, then the gate keys and settings read from the declarations."""
    from ganprobe.metrics.per_class_outputs import per_class_keys_help
    from ganprobe.metrics.registry import output_keys_help

    return (
        EVALUATE_EXAMPLES
        + """
gates: --fail-if "METRIC OP NUMBER" fails the run (exit 1) when the expression holds. METRIC is a key of the
JSON report: """
        + output_keys_help()
        + """; with --classes also """
        + per_class_keys_help()
        + """ (recall[7]: class 7's recall); OP is one of > >= < <= == !=. A metric that was not computed, is not
finite, or is withheld for a class below the sample-size rule fails its gate.
--baseline: an output fails when it got worse than in the baseline report by more than the larger of
--max-regression percent of the baseline value and --regression-sigmas combined standard errors.

metric settings (--set METRIC.SETTING=VALUE, repeatable; defaults shown):
"""
        + metric_settings.settings_help()
        + "\n"
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    # A command whose options are fields of the run configuration (evaluate, stats): their argparse defaults are
    # None, so a value given on the command line can be told from one left to the environment, pyproject.toml or
    # the default (ganprobe.run.config); after parsing, ``given`` holds what was typed and the rest get their defaults.
    configured = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if self.configured:
            namespace.given = {}
            for entry in FIELDS:
                if entry.cli_dest is None or not hasattr(namespace, entry.cli_dest):
                    continue
                value = getattr(namespace, entry.cli_dest)
                if value is not None:
                    namespace.given[entry.name] = value
                else:
                    setattr(namespace, entry.cli_dest, cli_shape(entry.name, entry.default_for("cli")))
        return namespace, extras


def _add_extraction_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--extractor", default=None, help=f"feature extractor (default: {defaults.EXTRACTOR})")
    command.add_argument("--weights", default=None, help="explicit weights file for the extractor")
    command.add_argument("--num-samples", type=int, default=None, help="use at most N images of each folder")
    command.add_argument("--batch-size", type=int, default=None, help=f"default: {defaults.BATCH_SIZE}")
    command.add_argument(
        "--device", default=None, help=f"torch device, e.g. cpu, cuda, cuda:1 (default: {defaults.DEVICE})"
    )
    command.add_argument("--workers", type=int, default=None, help="image decoding processes")
    command.add_argument(
        "--no-channels-last",
        action="store_true",
        default=None,
        help="run a built-in backbone in the standard memory layout (channels-last is the default: faster, same "
        "features to float32 round-off)",
    )
    command.add_argument(
        "--autocast",
        choices=["bfloat16", "float16"],
        default=None,
        help="opt-in: run the backbone under torch.autocast (faster, but moves FID beyond float32 round-off; recorded "
        "in reports; benchmarks/README.md measures both)",
    )
    command.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="opt-in: torch.compile the backbone (faster once compiled, but each new input shape compiles first: "
        "worth it on thousands of images; see benchmarks/README.md)",
    )
    command.add_argument(
        "--pipeline",
        choices=["tf", "clean", "pytorch-fid"],
        default=None,
        help="inception-fid only: the input pipeline to reproduce (default tf: the original TensorFlow FID, as "
        "published numbers were computed; clean: clean-fid's; pytorch-fid: pytorch-fid's)",
    )
    command.add_argument(
        "--backend",
        choices=["auto", "torch", "onnxruntime"],
        default=None,
        help="how a built-in backbone runs: onnxruntime (CPU, float32; faster than torch on the CPU, most for "
        "EfficientNet-Lite0, see benchmarks/README.md; same features to float32 round-off; "
        "needs ganprobe[onnxruntime]), torch (eager PyTorch), or auto (the default: onnxruntime on the CPU where it "
        "is installed, else torch)",
    )
    command.add_argument("--cache-dir", default=None, help="feature cache folder (default: ~/.cache/ganprobe)")
    command.add_argument("--no-cache", action="store_true", default=None, help="do not read or write the feature cache")
    command.add_argument(
        "--hash-contents",
        action="store_true",
        default=None,
        help="key the feature cache on every image file's SHA-256 instead of its size and modification time "
        "(catches files rewritten with the same size and mtime; reads every file once more, see docs/hardening.md)",
    )
    command.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    command.add_argument(
        "--skip-unreadable",
        action="store_true",
        default=None,
        help="skip image files that cannot be read or decoded (listed in a warning and the JSON report) instead of "
        "failing with exit code 2",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ganprobe`` command."""
    from ganprobe.metrics.registry import metric_names

    names = metric_names()  # from the torch-free declarations: --help imports no metric class
    parser = _Parser(prog="ganprobe", description="Evaluate generated images against real ones, layer by layer.")
    parser.add_argument("--version", action="version", version=f"ganprobe {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    evaluate = commands.add_parser(
        "evaluate",
        help="compare a folder of generated images with real images (a folder or a stats file)",
        description="Every score (FID, KID, IS, precision/recall, density/coverage, CMMD, memorisation, 1-NN LOO) "
        "and per-layer real-vs-fake separability, from one extraction pass per image set.",
        epilog=evaluate_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.configured = True
    evaluate.add_argument("fake", help="folder of generated images (searched recursively)")
    evaluate.add_argument("real", help="folder of real images, or a .npz file from `ganprobe stats`")
    _add_extraction_options(evaluate)
    evaluate.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        choices=names,
        metavar="METRIC",
        help=f"metrics to compute (default: all the extractor supports): {', '.join(names)}",
    )
    evaluate.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=None,
        metavar="METRIC.SETTING=VALUE",
        help="a metric setting, e.g. kid.subset_size=500 (repeatable; every setting and default below)",
    )
    evaluate.add_argument("--layers", nargs="+", default=None, help="layers for separability (default: all blocks)")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of subsets, folds, bootstrap")
    evaluate.add_argument("--permutations", type=int, default=None, help="for the 1-NN p-value (0: no p-value)")
    evaluate.add_argument(
        "--noise-resamples",
        type=int,
        default=None,
        help="random halves behind the half-sample standard errors that --baseline allows for (default: "
        f"{defaults.NOISE_RESAMPLES}, computed only with --baseline; a number computes them for every run; 0: off)",
    )
    evaluate.add_argument(
        "--bootstrap",
        type=int,
        default=None,
        help="random halves behind the precision/recall/density/coverage intervals (0: off)",
    )
    for metric, entry in setting_shorthands():  # declared by the metrics: --fid-bootstrap, --fid-infinity
        assignment = f"--set {metric}.{entry.name}=" + ("true" if entry.kind is bool else "N")
        shown = f"{entry.help} ({assignment})"
        if entry.kind is bool:
            evaluate.add_argument(entry.cli_flag, action="store_true", default=None, help=shown)
        else:
            evaluate.add_argument(entry.cli_flag, type=entry.kind, default=None, metavar="N", help=shown)
    evaluate.add_argument(
        "--classes",
        default=None,
        metavar="HOW",
        help="per-class report: subfolders (each folder's immediate subfolders are its classes), predicted (the "
        "extractor's class logits, argmax, on both sets), or a .csv (path,label) / .json ({path: label}) label file "
        "whose paths are relative to its own folder and lie under FAKE or REAL",
    )
    evaluate.add_argument(
        "--worst",
        type=int,
        default=None,
        metavar="N",
        help=f"list the N least realistic fakes and least covered reals (default {defaults.WORST} with --classes, "
        "else only when given; 0: none)",
    )
    evaluate.add_argument("--json", dest="json_path", default=None, help="write the JSON report to this file")
    evaluate.add_argument("--html", dest="html_path", default=None, help="write the HTML report (with plots) here")
    evaluate.add_argument(
        "--tsne-points",
        type=int,
        default=None,
        help=f"with --html: at most this many samples per set in each t-SNE plot (default: {defaults.TSNE_POINTS})",
    )
    evaluate.add_argument("--junit", dest="junit_path", default=None, help="write gate results as JUnit XML here")
    evaluate.add_argument(
        "--fail-if",
        dest="fail_if",
        action="append",
        default=None,
        metavar="EXPR",
        help='fail (exit 1) when EXPR holds, e.g. "fid>40"; repeatable',
    )
    evaluate.add_argument("--baseline", default=None, help="a previous --json report to check regressions against")
    evaluate.add_argument(
        "--max-regression",
        type=float,
        default=None,
        metavar="PERCENT",
        help="with --baseline: allowed worsening per output in percent of the baseline value "
        f"(default {defaults.MAX_REGRESSION_PERCENT:g})",
    )
    evaluate.add_argument(
        "--regression-sigmas",
        type=float,
        default=None,
        metavar="SIGMAS",
        help="with --baseline: allowed worsening in combined standard errors of the two runs "
        f"(default {defaults.REGRESSION_SIGMAS:g}); the larger allowance wins",
    )
    evaluate.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved configuration, one value per line with where it came from (command line, "
        "environment GANPROBE_*, pyproject.toml [tool.ganprobe], default), and exit; FAKE and REAL are not read",
    )
    stats = commands.add_parser(
        "stats",
        help="precompute a real set's features once (a .npz for later `evaluate` runs)",
        description="Extract a real image folder's features (every layer `evaluate` uses) into a .npz file.",
        epilog="example:\n  ganprobe stats data/real -o real_stats.npz --extractor inception-fid\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stats.configured = True
    stats.add_argument("real", help="folder of real images")
    stats.add_argument("-o", "--output", required=True, help="the .npz file to write")
    _add_extraction_options(stats)
    commands.add_parser(
        "extractors",
        help="list the registered feature extractors, their layers, and whether their weights are here",
        description="List every registered extractor with its layers (default layer marked *) and whether its "
        "weights are available on this machine without a download.",
        epilog="example:\n  ganprobe extractors\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def installed_version() -> str:
    """The installed distribution's version (its metadata: no torch import), else the package's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ganprobe")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from ganprobe import __version__

        return __version__


def _check_counts(args: argparse.Namespace) -> None:
    zero_ok = ("workers", "permutations", "bootstrap", "fid_bootstrap", "noise_resamples", "worst")
    for option in ("num_samples", "batch_size", "tsne_points", *zero_ok):
        value = getattr(args, option, None)
        if value is not None and value < (0 if option in zero_ok else 1):
            least = "non-negative" if option in zero_ok else "positive"
            raise UsageError(f"--{option.replace('_', '-')}: must be {least}, got {value}")
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < 2**32:  # numpy and scikit-learn seeds are unsigned 32-bit
        raise UsageError(f"--seed: must be between 0 and 2**32 - 1, got {seed}")


def _build_extractor(config: RunConfig):  # noqa: ANN202 - returns a FeatureExtractor (lazy import)
    from ganprobe.run.runtime import build_extractor

    extraction = config.extraction
    return build_extractor(
        extraction.extractor,
        config.execution.device,
        weights=extraction.weights,
        channels_last=extraction.channels_last,
        autocast=extraction.autocast,
        compile=extraction.compile,
        pipeline=extraction.pipeline,
        backend=extraction.backend,
    )


def _cache(config: RunConfig):  # noqa: ANN202 - returns a FeatureCache (lazy import)
    from ganprobe.run.runtime import build_cache

    execution = config.execution
    return build_cache(execution.cache_dir, enabled=execution.use_cache, content_hash=execution.hash_contents)


def _check_gate_options(config: RunConfig) -> None:
    """Parse the gates and check the regression allowances before any work (exit 2 on a typo)."""
    from ganprobe.report.gates import check_max_regression, parse_gates

    parse_gates(config.gates.fail_if)
    for name in ("max_regression", "regression_sigmas"):
        source = config.source(name)
        if source == "default":
            continue
        option = BY_NAME[name].cli if source.startswith("command line") else source
        if source.startswith("command line") and config.gates.baseline is None:
            raise UsageError(f"{option}: needs --baseline PREVIOUS.json")
        check_max_regression(config[name], str(option))


def run_evaluate(args: argparse.Namespace) -> int:
    """Extract once per image set, compute every requested metric, check gates, print tables, write reports.

    The options are resolved with the environment and ``pyproject.toml`` (:func:`cli_config`); ``--print-config``
    prints the result and stops. Under ``torchrun`` (``WORLD_SIZE`` > 1) the processes join one process group, each
    extracts its shard of the images, and rank 0 alone prints and writes the reports (see ``docs/distributed.md``).
    """
    _check_counts(args)
    config = cli_config(args)  # a typo in --set, the environment or pyproject.toml is reported before torch loads
    if args.print_config:
        print("\n".join(describe(config)))
        return EXIT_OK
    apply_config(args, config)
    _check_gate_options(config)
    with _process_group(args, config) as (lead, config):
        return _evaluate(args, lead, config)


@contextlib.contextmanager
def _process_group(args: argparse.Namespace, config: RunConfig) -> Iterator[tuple[bool, RunConfig]]:
    """Join the process group ``torchrun`` describes (if any) for the duration; yields whether this process leads
    (rank 0, or the only process) and the configuration with this rank's device. The other ranks run quietly: no
    progress bars, no warnings."""
    from ganprobe.utils.distributed import check_same_everywhere, rank_and_world_size, start_from_environment

    run = run_configuration(args, config)  # as given: before each rank resolves its own CUDA device
    started, device = start_from_environment(config.execution.device)
    config = config.replace(config.source("device"), device=device)
    try:
        check_same_everywhere(run, "every process of a torchrun must get the same options")
        lead = rank_and_world_size()[0] == 0
        if not lead:
            config = config.replace(config.source("progress"), progress=False)
            warnings.simplefilter("ignore")
        yield lead, config
    finally:
        if started:
            import torch.distributed as dist

            dist.destroy_process_group()


def _evaluate(args: argparse.Namespace, lead: bool, config: RunConfig) -> int:
    """:func:`run_evaluate` on one process; only the ``lead`` process (rank 0, or the only one) prints and writes."""
    from ganprobe.data import list_folder
    from ganprobe.report.json_report import write_json
    from ganprobe.report.terminal import print_results
    from ganprobe.run.pipeline import check_stats_path, evaluate, load_baseline
    from ganprobe.utils.distributed import errors_together

    gates, report = config.gates, config.report
    with errors_together():  # under torchrun: a bad input on one rank stops every rank here (exit 2)
        baseline = load_baseline(gates.baseline) if gates.baseline is not None else None
        # Each folder is listed once, here: failing early (before the backbone loads) on a missing or empty folder,
        # and read by every later stage (count, cache key, decoding, report) without walking it again.
        fake = list_folder(args.fake)
        check_stats_path(args.real, "REAL")
        real = args.real if Path(args.real).is_file() else list_folder(args.real)
        # every output: writable, not an input (nor a listed image, however linked), not another output
        check_cli_outputs(args, [fake] if isinstance(real, str) else [fake, real])
        extractor = _build_extractor(config)
        if config.extraction.layers is not None:
            extractor.resolve_layers(config.extraction.layers)  # unknown layer names fail here, with the list
    result = evaluate(
        fake,
        real,
        config,
        extractor=extractor,
        device=None,  # the extractor is on this rank's device already
        cache=_cache(config),
    )
    checked = result.check(gates.fail_if, baseline, gates.max_regression, gates.regression_sigmas)
    failed = [gate for gate in checked if not gate.passed]
    if not lead:
        return EXIT_GATE_FAILED if failed else EXIT_OK
    payload = result.to_json(checked)
    print_results(
        result.extractor["name"],
        result.records,
        result.first_separable_layer,
        result.suspicious,
        checked,
        verdict=result.verdict,
        per_class=payload.get("per_class"),
        worst=payload.get("worst_samples"),
    )
    written = []
    if report.json_path:
        written.append(("JSON report", write_json(report.json_path, payload)))
    if report.junit_path:
        from ganprobe.report.junit import write_junit

        suite, seconds = f"ganprobe evaluate {args.fake}", result.timings["total"]
        written.append(("JUnit gate results", write_junit(report.junit_path, checked, suite=suite, seconds=seconds)))
    if report.html_path:
        from ganprobe.report.html import write_html_report

        html = write_html_report(
            report.html_path,
            payload,
            result.features,
            result.real_images,
            result.fake_images,
            seed=report.seed,
            max_points=report.tsne_points,
        )
        written.append(("HTML report (open it in a browser)", html))
    _say_written(written)
    for gate in failed:
        print(f"ganprobe evaluate: {gate.message}", file=sys.stderr)
    return EXIT_GATE_FAILED if failed else EXIT_OK


def _say_written(written: Sequence[tuple[str, Path]]) -> None:
    """One closing line per file written (``wrote JSON report: report.json``), so a user knows where to look.

    Outputs written to this process's own streams (``--json /dev/stdout``) or to devices (``/dev/null``) are no
    file to look for and get no line: a line after a JSON report on standard output would break its parsing.
    """
    from ganprobe.utils.atomic_files import stream_descriptor

    for kind, path in written:
        if stream_descriptor(path) is None and path.is_file():
            print(f"wrote {kind}: {path}")


def run_stats(args: argparse.Namespace) -> int:
    """Extract a real folder's features for every layer the default evaluation uses and save them (under
    ``torchrun``: each process extracts its shard, rank 0 writes the file)."""
    _check_counts(args)
    if not str(args.output).endswith(".npz"):
        raise UsageError(f"--output: {args.output} must end in .npz")
    config = cli_config(args)  # the extraction and execution options, as evaluate resolves them
    apply_config(args, config)
    with _process_group(args, config) as (lead, config):
        return _stats(args, lead, config)


def _stats(args: argparse.Namespace, lead: bool, config: RunConfig) -> int:
    from ganprobe.data import list_folder
    from ganprobe.features import extract_features, source_fingerprint
    from ganprobe.features.sharded import extract_sharded
    from ganprobe.features.stats import save_reference_stats
    from ganprobe.run.evaluator import Evaluator
    from ganprobe.utils.distributed import errors_together, rank_and_world_size

    with errors_together():  # under torchrun: a folder one rank cannot list stops every rank (exit 2)
        real = list_folder(args.real)  # one listing for the extraction and the file's fingerprint
        check_cli_outputs(args, [real])  # -o: writable, not an input (nor a listed image, however linked)
        extractor = _build_extractor(config)
    layers = Evaluator(extractor).layers
    extraction, execution = config.extraction, config.execution
    batch, count, workers = extraction.batch_size, extraction.num_samples, execution.num_workers
    strict = extraction.strict
    if rank_and_world_size()[1] > 1:
        features, _ = extract_sharded(extractor, real, layers, batch, count, 0, workers, _cache(config), strict)
    else:
        features = extract_features(
            extractor, real, layers, batch, count, 0, workers, progress=execution.progress,
            description=f"real: {args.real}", cache=_cache(config), strict=strict,
        )  # fmt: skip
    if not lead:
        return EXIT_OK
    path = save_reference_stats(args.output, features, extractor, source_fingerprint(real))
    count = next(iter(features.values())).shape[0]
    print(f"wrote {path}: {count} images, layers {', '.join(layers)}, extractor {extractor.name}")
    return EXIT_OK


def run_extractors() -> int:
    """Print every registered extractor with its layers and whether its weights are available here (offline)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ganprobe.extractors import available_extractors
    from ganprobe.extractors.inventory import describe_extractor

    table = Table(title="ganprobe extractors (* = default layer)")
    for column in ("name", "layers", "weights here", "description"):
        table.add_column(column)
    missing = []
    for name in available_extractors():
        info = describe_extractor(name)
        layers = ", ".join(f"{layer}*" if layer == info.default_layer else layer for layer in info.layers)
        table.add_row(name, layers or "?", info.weights, escape(info.description))  # "ganprobe[vit]" is no markup
        if info.advice:
            advice = render(info.advice_error, "cli") if info.advice_error is not None else info.advice
            missing.append(f"{name}: {advice.removeprefix(f'{name}: ')}")  # the line may start with the name
    console = Console(width=max(140, Console().width))
    console.print(table)
    if missing:
        console.print("missing weights, and how to supply them offline:", highlight=False)
        for line in missing:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
    return EXIT_OK


def _lead_process() -> bool:
    """Whether this process speaks for the run: always, except on the ranks other than 0 of a ``torchrun``."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


def _warn_in_cli_words() -> None:
    """Warnings as one ``ganprobe: warning: ...`` line in the CLI's words, each cause once; sample-size warnings
    are left to the report, whose first line states what the sample size supports."""
    warnings.filterwarnings("ignore", category=SampleSizeWarning)
    shown: set[str] = set()
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *rest: Any, **kwargs: Any) -> None:
        line = one_line(render(message, "cli"))
        if line not in shown:
            shown.add(line)
            original(message, category, *rest, **kwargs)

    warnings.formatwarning = cli_warning_line
    warnings.showwarning = show


def cli_warning_line(message: Warning | str, category: type[Warning] | None = None, *rest: Any, **kw: Any) -> str:
    """The one line the CLI prints for a warning (installed as ``warnings.formatwarning`` during ``main``):
    ``ganprobe: warning: `` and the message in the CLI's words, control characters escaped, newline-terminated."""
    return f"ganprobe: warning: {one_line(render(message, 'cli'))}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ganprobe`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    formatting = warnings.formatwarning
    with warnings.catch_warnings():  # the CLI's warning filters and words hold for this call only
        try:
            _warn_in_cli_words()
            return _run(args)
        finally:
            warnings.formatwarning = formatting


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; every error becomes one line and its exit code."""
    try:
        if args.command == "evaluate":
            return run_evaluate(args)
        if args.command == "stats":
            return run_stats(args)
        return run_extractors()
    except GanprobeError as exc:  # bad input or options; any other exception is a bug (exit 3)
        if not _lead_process():  # under torchrun every rank meets the same error: rank 0 says it
            return EXIT_USAGE
        # in the CLI's words; a file name's newline or ESC is escaped, not printed
        message = one_line(render(exc, "cli")) or type(exc).__name__
        print(f"ganprobe {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an output path we cannot write, a folder we cannot read
        print(f"ganprobe {args.command}: error: {one_line(describe_os_error(exc, args))}", file=sys.stderr)
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
