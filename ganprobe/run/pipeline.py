"""One call from two image sets to a finished report: what ``ganprobe evaluate`` and the pytest plugin both run.

``evaluate(fake, real)`` extracts each set once, computes every requested metric, and returns an
:class:`EvaluationResult` holding the metric records, the per-layer separability table, the memorisation pairs,
the provenance of the inputs, timings, and the features (for the HTML report). Gates are validated before any work
(``fail_if=``) and checked on the result (:meth:`EvaluationResult.check`), by the CLI and the plugin alike.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from ganprobe import defaults
from ganprobe.data.sources import ImageSource
from ganprobe.errors import InputError, UsageError
from ganprobe.extractors.base import THUMBNAIL_LAYER, FeatureExtractor
from ganprobe.features.cache import FeatureCache
from ganprobe.functional.memorization import SuspectedCopy
from ganprobe.metrics.records import MetricRecord, ReportOptions
from ganprobe.metrics.registry import find_output
from ganprobe.metrics.sample_size import SampleCheck
from ganprobe.report.baseline import validate_baseline
from ganprobe.report.gates import (
    GateResult,
    check_gate_sources,
    check_gates,
    check_regressions,
    metric_values,
    parse_gates,
)
from ganprobe.run.config import BY_NAME, RunConfig
from ganprobe.run.per_class import PerClassReport
from ganprobe.run.worst_samples import WorstSamples

REPORT_SCHEMA_VERSION = 4


def _check_same_precision(baseline: Mapping[str, Any], extractor: Mapping[str, Any]) -> None:
    """Refuse a baseline computed in another precision (bf16 autocast moves FID by about 1 %: not a regression).

    Layout and compilation change features only at float32 round-off, so they may differ; reports written before
    ``execution`` was recorded count as float32.
    """
    theirs = baseline.get("extractor") if isinstance(baseline.get("extractor"), Mapping) else {}
    before = str(theirs.get("execution") or "contiguous float32").split()
    now = str(extractor.get("execution") or "contiguous float32").split()
    if len(before) > 1 and len(now) > 1 and before[1] != now[1]:
        raise InputError(
            f"--baseline: computed in {before[1]}, this run in {now[1]} (--autocast); "
            "compare runs of the same precision"
        )


@dataclass
class EvaluationResult:
    """Everything one evaluation measured.

    Attributes:
        records: one :class:`MetricRecord` per reported number, keys and directions from each metric's declared
            outputs (separability cells included, with their ``layer`` and ``protocol``).
        first_separable_layer: the first layer whose linear probe reaches :data:`defaults.SEPARABLE_THRESHOLD`.
        suspicious: the fakes closest to a real image (memorisation check), most suspicious first.
        inputs: ``{"fake": {...}, "real": {...}}`` with path/kind, count and a SHA-256 of what was read.
        extractor: name, weights SHA-256 and preprocessing of the feature extractor.
        seed: the seed of every seeded step.
        timings: seconds per stage (``extract_real``, ``extract_fake``, ``compute``, ``total``).
        features: ``{layer: (real (N, D), fake (M, D))}`` on the CPU (for plots).
        real_images, fake_images: file paths (``None`` where unknown) or a uint8 tensor of the first images.
        skipped: files that could not be decoded and were skipped (non-strict runs).
        verdict: the answer in plain words: which numbers the sample size supports, then one reconciled sentence per
            question (how far apart, where in the network, fidelity or diversity, copies), drawn from every metric's
            findings (:func:`ganprobe.report.verdict.reconcile`).
        sample_size: per metric, whether the sets are large enough for its headline number (its declared rule).
        processes: ``{"world_size": W, "extracted": {"real": [...], "fake": [...]}}``: how many processes shared
            the work (``torch.distributed``) and how many images each computed features for (0: cache or stats).
        per_class: with class labels, the class distribution, per-class metrics and intra-class FID
            (:class:`~ganprobe.run.per_class.PerClassReport`); else ``None``.
        worst: the least realistic fakes and least covered reals (:class:`~ganprobe.run.worst_samples.WorstSamples`),
            with class labels or an explicit ``worst=N``; else ``None``.
    """

    records: list[MetricRecord]
    first_separable_layer: str | None
    suspicious: list[SuspectedCopy]
    inputs: dict[str, dict[str, Any]]
    extractor: dict[str, Any]
    seed: int
    timings: dict[str, float]
    features: dict[str, tuple[Tensor, Tensor]] = field(repr=False, default_factory=dict)
    real_images: Sequence[str | None] | Tensor = field(repr=False, default_factory=list)
    fake_images: Sequence[str | None] | Tensor = field(repr=False, default_factory=list)
    skipped: list[str] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)
    sample_size: list[SampleCheck] = field(default_factory=list)
    processes: dict[str, Any] = field(default_factory=lambda: {"world_size": 1, "extracted": {}})
    per_class: PerClassReport | None = None
    worst: WorstSamples | None = None
    # The metrics (and options) to compute half-sample standard errors from when a baseline check needs them.
    noise_source: tuple[Mapping[str, Any], ReportOptions] | None = field(default=None, repr=False, compare=False)

    @property
    def separability(self) -> dict[str, dict[str, float]]:
        """``{layer: {protocol: accuracy}}`` from the per-layer records (empty when not run)."""
        table: dict[str, dict[str, float]] = {}
        for record in self.records:
            if record.layer is not None and record.protocol is not None:
                table.setdefault(record.layer, {})[record.protocol] = record.value
        return table

    def values(self) -> dict[str, float]:
        """``{output key: value}``, including ``separability.<layer>.<protocol>`` cells and, with class labels, the
        per-class numbers (``missing_classes``, ``recall[7]``; ``nan`` where a class has none): what gates can name."""
        values = metric_values(self.records)
        if self.per_class is not None:
            values.update(self.per_class.values())
        return values

    def __getitem__(self, key: str) -> float:
        values = self.values()
        if key not in values:
            raise KeyError(f"{key!r} was not computed; computed: {', '.join(values)}")
        return values[key]

    def check(
        self,
        fail_if: Sequence[str] = (),
        baseline: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        max_regression: float = defaults.MAX_REGRESSION_PERCENT,
        sigmas: float = defaults.REGRESSION_SIGMAS,
    ) -> list[GateResult]:
        """Check ``--fail-if`` expressions and, with a ``baseline`` report, regressions against it.

        Args:
            fail_if: expressions such as ``"fid>40"`` (the gate fails when the expression holds).
            baseline: a previous JSON report (dict or file path) to compare with.
            max_regression: allowed worsening against the baseline, in percent of its value.
            sigmas: allowed worsening in combined standard errors (sampling noise of the two runs); the larger
                allowance wins (see :func:`ganprobe.report.gates.check_regressions`).

        Returns:
            One :class:`GateResult` per threshold gate, then one per metric compared with the baseline.
        """
        reasons = self.per_class.reasons() if self.per_class is not None else None
        results = check_gates(parse_gates(fail_if), self.values(), reasons)
        if baseline is not None:
            if not isinstance(baseline, Mapping):
                baseline = load_baseline(baseline)
            self.fill_standard_errors()
            _check_same_precision(baseline, self.extractor)
            results += check_regressions(self.records, baseline, max_regression, sigmas)
            from ganprobe.report.baseline_per_class import check_per_class_regressions

            results += check_per_class_regressions(baseline, self.per_class, max_regression, sigmas)
        return results

    def fill_standard_errors(self) -> None:
        """Compute the half-sample standard errors this evaluation deferred (``noise_resamples=None``), once."""
        if self.noise_source is None:
            return
        metrics, options = self.noise_source
        self.noise_source = None
        missing: dict[str, list[str]] = {}
        for record in self.records:
            output = find_output(record.key)
            if record.stderr is None and output is not None and output[1].uncertainty == "half_sample":
                missing.setdefault(record.metric, []).append(record.key)
        errors: dict[str, float] = {}
        for name, keys in missing.items():
            if name in metrics:
                errors.update(metrics[name].half_sample_errors(keys, options))
        self.records = [
            dataclasses.replace(record, stderr=errors[record.key]) if record.key in errors else record
            for record in self.records
        ]

    def to_json(self, gates: Sequence[GateResult] = ()) -> dict[str, Any]:
        """The JSON report (schema ``ganprobe/report/schema.json``, version :data:`REPORT_SCHEMA_VERSION`)."""
        sections: dict[str, Any] = {}
        if self.per_class is not None:
            sections["per_class"] = self.per_class.as_dict()
        if self.worst is not None:
            sections["worst_samples"] = self.worst.as_dict()
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "ganprobe_version": _version(),
            "inputs": self.inputs,
            "extractor": self.extractor,
            "seed": self.seed,
            "metrics": [record.as_dict() for record in self.records],
            "layer_separability": self.separability,
            "first_separable_layer": self.first_separable_layer,
            "separable_threshold": defaults.SEPARABLE_THRESHOLD,
            "verdict": list(self.verdict),
            "sample_size": [check.as_dict() for check in self.sample_size],
            "memorization_pairs": [dataclasses.asdict(pair) for pair in self.suspicious],
            "skipped_files": list(self.skipped),
            "gates": [gate.as_dict() for gate in gates],
            "passed": all(gate.passed for gate in gates),
            "timings": {stage: round(seconds, 3) for stage, seconds in self.timings.items()},
            "processes": self.processes,
            **sections,
        }


def _version() -> str:
    from ganprobe import __version__

    return __version__


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a previous ``--json`` report for regression gates.

    Raises:
        InputError: the file is missing, not JSON, or not a ganprobe report.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"--baseline: {source} does not exist")
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: too deep
        raise InputError(f"--baseline: {source} is not a readable JSON report ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("metrics"), list):
        raise InputError(f"--baseline: {source} is not a ganprobe JSON report (no 'metrics' list)")
    return validate_baseline(payload, source)


def check_stats_path(source: ImageSource, what: str = "real") -> None:
    """Refuse a ``.npz`` path that does not exist as a missing *stats file* (not as a missing folder).

    Raises:
        InputError: naming ``what`` (``real``, or ``REAL`` on the CLI), the path and how to make the file.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".npz" and not Path(source).exists():
        raise InputError(
            f"{what}: stats file {source} does not exist; write it with `ganprobe stats REAL_FOLDER -o {source}` "
            "or give the real image folder"
        )


def with_fid_shorthands(run: RunConfig, fid_bootstrap: int | None, fid_infinity: bool | None) -> RunConfig:
    """``run`` with the keywords ``fid_bootstrap``/``fid_infinity`` (``None``: not given) as FID's settings
    ``bootstrap``/``infinity``.

    Raises:
        UsageError: a shorthand given for a run without FID, or beside a different value of the same setting.
    """
    given = {"bootstrap": fid_bootstrap, "infinity": fid_infinity}
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return run
    if run.metrics is not None and "fid" not in run.metrics:
        raise UsageError(f"evaluate: fid_{next(iter(given))} is a setting of FID, which metrics leaves out")
    settings = {metric: dict(values) for metric, values in run.settings.items()}
    fid = settings.setdefault("fid", {})
    for name, value in given.items():
        if name in fid and fid[name] != value:
            raise UsageError(f"evaluate: fid_{name}={value!r} and settings['fid'][{name!r}]={fid[name]!r} disagree")
        fid[name] = value
    return run.replace(settings=settings)


def evaluate(
    fake: ImageSource,
    real: ImageSource,
    config: RunConfig | str | FeatureExtractor | None = None,
    metrics: Sequence[str] | None = None,
    *,
    cache: FeatureCache | None = None,
    extractor_kwargs: Mapping[str, Any] | None = None,
    fid_bootstrap: int | None = None,
    fid_infinity: bool | None = None,
    real_labels: Tensor | None = None,
    fake_labels: Tensor | None = None,
    **overrides: Any,
) -> EvaluationResult:
    """Compare generated images with real ones on every requested metric, from one extraction pass per set.

    A folder is listed once, here (or before, by the caller: pass its :class:`~ganprobe.data.FolderListing`), and
    every stage reads that listing: the sample count, the cache key, the decoding, the rows' files, the provenance.

    The run is configured by ``config`` (a :class:`~ganprobe.run.config.RunConfig`; default: the library's defaults,
    read from neither the environment nor ``pyproject.toml``: ``RunConfig.resolve()`` reads them) and by keywords,
    any field of it by its Python name, which win over ``config``'s values: ``evaluate(fake, real, seed=1)``.

    Args:
        fake: generated images: a folder (a path or a :class:`~ganprobe.data.FolderListing`), a tensor, a
            DataLoader/iterable, or a generator callable ``fn(n) -> images``, called under
            ``torch.manual_seed(seed)`` (then ``num_samples`` is required).
        real: real images: a folder (a path or a listing), a tensor, an iterable, or a ``.npz`` file from
            ``ganprobe stats``.
        config: the run's configuration; the keyword arguments below (its fields) override its values. An extractor
            (a registry name or a :class:`FeatureExtractor`) is also taken here, as before configurations existed:
            ``evaluate(fake, real, "resnet18", ["fid"])`` is ``evaluate(fake, real, extractor="resnet18",
            metrics=["fid"])``.
        extractor: registry name or :class:`FeatureExtractor` (default ``efficientnet-lite0``).
        metrics: metric names (default: all that the extractor supports; ``None`` keeps ``config``'s).
        layers: layers of the per-layer separability (default: the extractor's blocks).
        num_samples: use at most this many images of each set.
        batch_size: images per forward pass (results do not depend on it).
        device: where the extractor and metrics run (``None``: where the extractor is).
        seed: seed of subsets, folds, bootstrap, half-samples and generator sampling.
        settings: metric settings such as ``{"kid": {"subset_size": 500}}`` (the table and defaults:
            :data:`ganprobe.metrics.settings.METRIC_SETTINGS`; the CLI's ``--set kid.subset_size=500``).
        permutations: label shuffles of the 1-NN p-value (0: no p-value).
        bootstrap: resamples of the precision/recall/density/coverage intervals (0: none).
        fid_bootstrap: shorthand for ``settings={"fid": {"bootstrap": N}}``: random halves behind FID's interval
            (0: none; each costs one FID on half the samples).
        fid_infinity: shorthand for ``settings={"fid": {"infinity": True}}``: also report FID extrapolated to
            infinitely many samples (15 extra FIDs).
        noise_resamples: random halves behind the half-sample standard errors (FID, KID, IS, density, CMMD), which
            regression gates allow for. ``None`` (default): computed only when :meth:`EvaluationResult.check` is
            given a baseline (with :data:`ganprobe.defaults.NOISE_RESAMPLES` halves; each costs one computation of
            the metric on half the samples); a number: computed now, into every record; 0: never.
        num_workers: image-decoding processes for folders.
        cache: a :class:`FeatureCache` (``None``: the one ``config`` describes, ``use_cache``/``cache_dir``/
            ``hash_contents``; by default no cache).
        progress: show rich progress bars per set.
        strict: raise :class:`~ganprobe.errors.ImageFolderError` on an unreadable image file (default); ``False``
            skips such files with a :class:`~ganprobe.errors.SkippedImagesWarning` and lists them in
            :attr:`EvaluationResult.skipped`.
        extractor_kwargs: passed to the extractor factory (e.g. ``{"weights_path": ...}``).
        classes: class labels for the per-class diagnostics (:attr:`EvaluationResult.per_class`): ``"subfolders"``
            (each folder's immediate subfolders are its classes), ``"predicted"`` (the argmax of the extractor's
            class logits, on both sets), or a ``.csv``/``.json`` label file whose paths are relative to its own
            folder and lie under the fake or the real folder (see :mod:`ganprobe.run.per_class`).
        real_labels, fake_labels: class labels as ``(N,)`` integer tensors, one per image in the images' order
            (both or neither, instead of ``classes``).
        worst: how many least realistic fakes, least covered reals and (with ``layer_separability``) most obvious
            fakes to list (:attr:`EvaluationResult.worst`), with class labels or when given (0: none).
        fail_if: gate expressions to validate before any extraction (a typo, or a gate on a metric, layer or
            protocol this run does not compute, raises at once); check them afterwards with
            :meth:`EvaluationResult.check`.
        distributed: inside an initialised ``torch.distributed`` group of several processes (``None``: detect it),
            ``fake`` and ``real`` are the whole sets on every process; each extracts its shard and the results equal
            one process's (see :class:`~ganprobe.run.evaluator.Evaluator` and ``docs/distributed.md``). Every process
            must call ``evaluate`` with the same arguments.

    Returns:
        An :class:`EvaluationResult`; ``result["fid"]`` is one number, ``result.check(["fid>40"])`` the gates.

    Raises:
        InputError, ImageFolderError: unusable inputs, named.
        UsageError: a keyword that is no field of :class:`~ganprobe.run.config.RunConfig`, named.
    """
    from ganprobe.data.colour import warn_if_colour
    from ganprobe.data.listing import as_listed
    from ganprobe.data.sources import source_length
    from ganprobe.functional import first_separable_layer
    from ganprobe.run.class_labels import plan_classes, row_labels
    from ganprobe.run.evaluator import Evaluator, ExtractionOptions, is_stats_file
    from ganprobe.run.per_class import diagnose, layers_needed
    from ganprobe.run.probe_samples import probe_samples
    from ganprobe.run.provenance import describe_source, thumbnails

    started = time.perf_counter()
    unknown = [name for name in overrides if name not in BY_NAME]
    if unknown:
        raise UsageError(f"evaluate: unknown keyword {unknown[0]!r}; known: {', '.join(BY_NAME)}")
    if cache is not None and not isinstance(cache, FeatureCache):  # cache=False read as "no cache" would hide a typo
        raise UsageError(
            f"evaluate: cache must be a ganprobe.features.cache.FeatureCache or None, got {cache!r}; "
            "use_cache=True or False turns the default cache on or off"
        )
    if isinstance(config, (str, FeatureExtractor)):  # the third positional argument before configurations existed
        if "extractor" in overrides:
            raise UsageError("evaluate: the extractor is given twice (third argument and extractor=)")
        overrides["extractor"], config = config, None
    if metrics is not None:
        overrides["metrics"] = metrics
    if config is not None and not isinstance(config, RunConfig):
        raise UsageError(f"evaluate: config must be a ganprobe.run.config.RunConfig, got {type(config).__name__}")
    run = (config if config is not None else RunConfig.build()).replace(**overrides)
    run = with_fid_shorthands(run, fid_bootstrap, fid_infinity)
    extraction, execution, report = run.extraction, run.execution, run.report
    seed, noise_resamples = report.seed, report.noise_resamples
    check_stats_path(real)
    now = 0 if noise_resamples is None else noise_resamples
    options = ReportOptions(seed, report.bootstrap, report.permutations, now)
    if cache is None and execution.use_cache:
        from ganprobe.run.runtime import build_cache

        cache = build_cache(execution.cache_dir, enabled=True, content_hash=execution.hash_contents)
    evaluator = Evaluator(
        extraction.extractor,
        metrics=run.metrics,
        layers=extraction.layers,
        seed=seed,
        device=str(execution.device) if execution.device is not None else None,
        cache=cache,
        settings={metric: dict(values) for metric, values in run.settings.items()} or None,
        extractor_kwargs=extractor_kwargs,
        distributed=execution.distributed,
    )
    gates = parse_gates(run.gates.fail_if)
    labelled = report.classes is not None or real_labels is not None or fake_labels is not None
    check_gate_sources(gates, evaluator.output_keys(options), labelled)
    real, fake = as_listed(real), as_listed(fake)  # each folder walked once; every stage below reads its listing
    model = evaluator.extractor
    plan = plan_classes(report.classes, real, fake, real_labels, fake_labels, model.logits_layer, model.name)
    if plan is not None and plan.names is not None:
        check_gate_sources(gates, evaluator.output_keys(options), True, plan.names)
    worst = report.worst if plan is not None or run.source("worst") != "default" else 0
    evaluator.extra_layers = layers_needed(plan, worst > 0, model.default_layer)
    if getattr(evaluator.extractor.preprocessing, "luma", None) is not None:  # a grayscale network
        for label, source in (("real", real), ("fake", fake)):
            warn_if_colour(source, evaluator.extractor.name, label)
    num_samples = extraction.num_samples
    evaluator.check_sample_counts(
        None if is_stats_file(real) else source_length(real, num_samples), source_length(fake, num_samples)
    )
    reading = ExtractionOptions.from_config(run)
    timings: dict[str, float] = {}
    features, inputs = {}, {}
    for label, source in (("real", real), ("fake", fake)):
        mark = time.perf_counter()
        features[label] = evaluator.add(source, label == "real", reading)
        count = next(iter(features[label].values())).shape[0]
        meta = getattr(evaluator, "stats_meta", None) if is_stats_file(source) else None
        inputs[label] = describe_source(source, count, meta)
        timings[f"extract_{label}"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if plan is not None and plan.names is None:  # predicted: the class names come with the logits
        check_gate_sources(gates, evaluator.output_keys(options), True, row_labels(plan, {}, features)[0].names)
    per_class, lists = diagnose(plan, features, evaluator.paths, model.default_layer, evaluator.metrics, seed, worst)
    records = evaluator.records(options)
    checks = evaluator.sample_checks()
    metric_layers = {layer for metric in evaluator.metrics.values() for layer in metric.layers}
    result = EvaluationResult(
        records=records,
        first_separable_layer=None,
        suspicious=[pair for metric in evaluator.metrics.values() for pair in _suspicious(metric)],
        inputs={"fake": inputs["fake"], "real": inputs["real"]},
        extractor=_describe_extractor(evaluator.extractor),
        seed=seed,
        timings=timings,
        features={
            layer: (features["real"][layer].detach().cpu(), features["fake"][layer].detach().cpu())
            for layer in evaluator.layers
            if layer != THUMBNAIL_LAYER  # memorisation's pixel check, not a feature space to plot
            and (layer in metric_layers or layer not in evaluator.extra_layers)
        },
        real_images=[] if is_stats_file(real) else thumbnails(real, evaluator.paths["real"]),
        fake_images=thumbnails(fake, evaluator.paths["fake"]),
        skipped=evaluator.skipped["real"] + evaluator.skipped["fake"],
        verdict=evaluator.verdict(records, checks) + (per_class.verdict() if per_class is not None else []),
        sample_size=checks,
        processes={
            "world_size": evaluator.world_size if evaluator.distributed else 1,
            "extracted": evaluator.extracted,
        },
        per_class=per_class,
        worst=lists,
    )
    if per_class is not None:  # its standard errors, on demand, from as many halves as the headline's
        per_class.resamples = defaults.NOISE_RESAMPLES if noise_resamples is None else noise_resamples
    if noise_resamples is None:  # standard errors on demand: a baseline check computes them from these metrics
        result.noise_source = (evaluator.metrics, ReportOptions(seed, noise_resamples=defaults.NOISE_RESAMPLES))
    table = result.separability
    if table and all("linear_probe" in scores for scores in table.values()):
        result.first_separable_layer = first_separable_layer(table, defaults.SEPARABLE_THRESHOLD)
    if lists is not None:  # the probe's most fake fakes, and those only the first separable layer catches
        first = result.first_separable_layer
        lists.probe = probe_samples(features, evaluator.paths, table, first, worst, seed, lists.fake_labels)
    timings["compute"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return result


def _suspicious(metric: Any, count: int = 5) -> list[SuspectedCopy]:
    """The closest fake/real pairs of a metric whose declaration offers them (``closest_pairs``), else nothing."""
    return metric.most_suspicious(count) if metric.closest_pairs else []


def _describe_extractor(model: FeatureExtractor) -> dict[str, Any]:
    return {
        "name": model.name,
        "weights_sha256": model.weights_sha256,
        "preprocessing": model.preprocessing.describe(),
        "execution": model.execution,
        "backend": model.active_backend,
        "device": str(model.device),
    }
