"""One call from two image sets to a finished report: what ``ganprobe evaluate`` and the pytest plugin both run.

``evaluate(fake, real)`` extracts each set once, computes every requested metric, and returns an
:class:`EvaluationResult` holding the metric records, the per-layer separability table, the memorisation pairs,
the provenance of the inputs, timings, and the features (for the HTML report). Gates are validated before any work
(``fail_if=``) and checked on the result (:meth:`EvaluationResult.check`), by the CLI and the plugin alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe import defaults
from ganprobe.data.sources import ImageSource
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features.cache import FeatureCache, source_fingerprint
from ganprobe.functional.memorization import SuspectedCopy
from ganprobe.report.baseline import validate_baseline
from ganprobe.report.gates import (
    GateResult,
    check_gate_sources,
    check_gates,
    check_regressions,
    metric_values,
    parse_gates,
)
from ganprobe.report.records import MetricRecord

REPORT_SCHEMA_VERSION = 2
THUMBNAILS = 64  # images kept per set for the HTML report's grids


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
        records: one :class:`MetricRecord` per reported number (keys from :data:`ganprobe.report.records.KEYS`).
        separability: ``{layer: {protocol: accuracy}}`` (empty when ``layer_separability`` was not run).
        first_separable_layer: the first layer whose linear probe reaches :data:`defaults.SEPARABLE_THRESHOLD`.
        suspicious: the fakes closest to a real image (memorisation check), most suspicious first.
        inputs: ``{"fake": {...}, "real": {...}}`` with path/kind, count and a SHA-256 of what was read.
        extractor: name, weights SHA-256 and preprocessing of the feature extractor.
        seed: the seed of every seeded step.
        timings: seconds per stage (``extract_real``, ``extract_fake``, ``compute``, ``total``).
        features: ``{layer: (real (N, D), fake (M, D))}`` on the CPU (for plots).
        real_images, fake_images: file paths (``None`` where unknown) or a uint8 tensor of the first images.
        skipped: files that could not be decoded and were skipped (non-strict runs).
    """

    records: list[MetricRecord]
    separability: dict[str, dict[str, float]]
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

    def values(self) -> dict[str, float]:
        """``{metric key: value}``, including ``separability.<layer>.<protocol>`` cells (what gates can name)."""
        return metric_values(self.records, self.separability)

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
    ) -> list[GateResult]:
        """Check ``--fail-if`` expressions and, with a ``baseline`` report, regressions against it.

        Args:
            fail_if: expressions such as ``"fid>40"`` (the gate fails when the expression holds).
            baseline: a previous JSON report (dict or file path) to compare with.
            max_regression: allowed worsening against the baseline, in percent.

        Returns:
            One :class:`GateResult` per threshold gate, then one per metric compared with the baseline.
        """
        results = check_gates(parse_gates(fail_if), self.values())
        if baseline is not None:
            if not isinstance(baseline, Mapping):
                baseline = load_baseline(baseline)
            _check_same_precision(baseline, self.extractor)
            results += check_regressions(self.records, baseline, max_regression)
        return results

    def to_json(self, gates: Sequence[GateResult] = ()) -> dict[str, Any]:
        """The JSON report (schema ``ganprobe/report/schema.json``, version :data:`REPORT_SCHEMA_VERSION`)."""
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
            "memorization_pairs": [dataclasses.asdict(pair) for pair in self.suspicious],
            "skipped_files": list(self.skipped),
            "gates": [gate.as_dict() for gate in gates],
            "passed": all(gate.passed for gate in gates),
            "timings": {stage: round(seconds, 3) for stage, seconds in self.timings.items()},
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


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _describe_source(source: ImageSource | str, count: int) -> dict[str, Any]:
    """Provenance of one input: its path or kind, how many images were used, and a SHA-256 of what was read."""
    if isinstance(source, (str, os.PathLike)):
        fingerprint = source_fingerprint(source)
        return {
            "path": str(source),
            "kind": "folder",
            "count": count,
            "sha256": _digest(fingerprint),
            "stats_file": False,
        }
    if isinstance(source, Tensor):
        fingerprint = source_fingerprint(source)
        digest = fingerprint["sha256"] if fingerprint else None
        return {"path": None, "kind": "tensor", "count": count, "sha256": digest, "stats_file": False}
    kind = "generator" if callable(source) else "iterable"
    return {"path": None, "kind": kind, "count": count, "sha256": None, "stats_file": False}


def _thumbnails(source: ImageSource, paths: Sequence[str | None]) -> Sequence[str | None] | Tensor:
    if isinstance(source, Tensor) and source.ndim == 4:
        images = source[:THUMBNAILS].detach().cpu()
        if images.dtype != torch.uint8:
            images = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    return list(paths[:THUMBNAILS])


def _is_stats_file(source: ImageSource) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).is_file()


def evaluate(
    fake: ImageSource,
    real: ImageSource,
    extractor: str | FeatureExtractor = defaults.EXTRACTOR,
    metrics: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    num_samples: int | None = None,
    batch_size: int = defaults.BATCH_SIZE,
    device: str | torch.device | None = None,
    seed: int = defaults.SEED,
    permutations: int = defaults.PERMUTATIONS,
    bootstrap: int = defaults.BOOTSTRAP,
    fid_bootstrap: int = 0,
    fid_infinity: bool = False,
    num_workers: int | None = None,
    cache: FeatureCache | None = None,
    progress: bool = False,
    strict: bool = True,
    extractor_kwargs: Mapping[str, Any] | None = None,
    fail_if: Sequence[str] = (),
) -> EvaluationResult:
    """Compare generated images with real ones on every requested metric, from one extraction pass per set.

    Args:
        fake: generated images: a folder, a tensor, a DataLoader/iterable, or a generator callable
            ``fn(n) -> images``, called under ``torch.manual_seed(seed)`` (then ``num_samples`` is required).
        real: real images: a folder, a tensor, an iterable, or a ``.npz`` file from ``ganprobe stats``.
        extractor: registry name or :class:`FeatureExtractor` (default ``efficientnet-lite0``).
        metrics: names from :data:`ganprobe.evaluator.METRICS` (default: all that the extractor supports).
        layers: layers of the per-layer separability (default: the extractor's blocks).
        num_samples: use at most this many images of each set.
        batch_size: images per forward pass (results do not depend on it).
        device: where the extractor and metrics run (``None``: where the extractor is).
        seed: seed of subsets, folds, bootstrap and generator sampling.
        permutations: label shuffles of the 1-NN p-value.
        bootstrap: resamples of the precision/recall/density/coverage intervals (0: none).
        fid_bootstrap: resamples of FID's interval (0: none; each costs one FID).
        fid_infinity: also report FID extrapolated to infinitely many samples (15 extra FIDs).
        num_workers: image-decoding processes for folders.
        cache: a :class:`FeatureCache` (``None``: no cache).
        progress: show rich progress bars per set.
        strict: raise :class:`~ganprobe.errors.ImageFolderError` on an unreadable image file (default); ``False``
            skips such files with a :class:`~ganprobe.errors.SkippedImagesWarning` and lists them in
            :attr:`EvaluationResult.skipped`.
        extractor_kwargs: passed to the extractor factory (e.g. ``{"weights_path": ...}``).
        fail_if: gate expressions to validate before any extraction (a typo, or a gate on a metric, layer or
            protocol this run does not compute, raises at once); check them afterwards with
            :meth:`EvaluationResult.check`.

    Returns:
        An :class:`EvaluationResult`; ``result["fid"]`` is one number, ``result.check(["fid>40"])`` the gates.

    Raises:
        InputError, ImageFolderError: unusable inputs, named.
    """
    from ganprobe.evaluator import Evaluator
    from ganprobe.features.stats import check_compatible, load_reference_stats
    from ganprobe.functional import first_separable_layer
    from ganprobe.report.records import collect_records

    started = time.perf_counter()
    evaluator = Evaluator(
        extractor,
        metrics=metrics,
        layers=layers,
        seed=seed,
        device=str(device) if device is not None else None,
        cache=cache,
        extractor_kwargs=extractor_kwargs,
    )
    model = evaluator.extractor
    separability_metric = evaluator.metrics.get("layer_separability")
    check_gate_sources(
        parse_gates(fail_if),
        list(evaluator.metrics),
        separability_metric.layers if separability_metric is not None else (),
        separability_metric.protocols if separability_metric is not None else (),
        fid_infinity,
    )
    skipped: list[str] = []
    common = {
        "batch_size": batch_size,
        "num_samples": num_samples,
        "num_workers": num_workers,
        "progress": progress,
        "strict": strict,
        "skipped": skipped,
    }
    timings: dict[str, float] = {}

    mark = time.perf_counter()
    if _is_stats_file(real):
        stored, meta = load_reference_stats(real, model)  # metadata and extractor checked before any array
        check_compatible(meta, model, real)
        missing = [layer for layer in evaluator.layers if layer not in stored]
        if missing:
            raise InputError(f"{real}: lacks layers {missing}; recompute it with `ganprobe stats`")
        real_features = {layer: stored[layer][:num_samples].to(model.device) for layer in evaluator.layers}
        evaluator.add_features(real_features, True)
        real_info = {
            "path": str(real),
            "kind": "stats_file",
            "stats_file": True,
            "count": next(iter(real_features.values())).shape[0],
            "sha256": _file_sha256(Path(real)),
            "source": meta.get("source", {}),
        }
    else:
        real_features = evaluator.add(real, True, **common)
        real_info = _describe_source(real, next(iter(real_features.values())).shape[0])
    timings["extract_real"] = time.perf_counter() - mark

    mark = time.perf_counter()
    fake_features = evaluator.add(fake, False, **common)
    fake_info = _describe_source(fake, next(iter(fake_features.values())).shape[0])
    timings["extract_fake"] = time.perf_counter() - mark

    mark = time.perf_counter()
    results = evaluator.compute()
    records = collect_records(evaluator, results, bootstrap, fid_bootstrap, permutations)
    if fid_infinity and "fid" in evaluator.metrics:
        value = float(evaluator.metrics["fid"].compute_infinity(seed=seed))
        space = next(record.feature_space for record in records if record.key == "fid")
        record = MetricRecord("fid_infinity", "FID-infinity", value, higher_is_better=False, feature_space=space)
        records.insert(1, record)
    separability = {
        layer: {protocol: float(value) for protocol, value in scores.items()}
        for layer, scores in results.get("layer_separability", {}).items()
    }
    first = first_separable_layer(separability, defaults.SEPARABLE_THRESHOLD) if separability else None
    suspicious = evaluator.metrics["memorization"].most_suspicious(5) if "memorization" in results else []
    timings["compute"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started

    paths = evaluator.paths
    return EvaluationResult(
        records=records,
        separability=separability,
        first_separable_layer=first,
        suspicious=suspicious,
        inputs={"fake": fake_info, "real": real_info},
        extractor={
            "name": model.name,
            "weights_sha256": model.weights_sha256,
            "preprocessing": model.preprocessing.describe(),
            "execution": model.execution,
            "device": str(model.device),
        },
        seed=seed,
        timings=timings,
        features={
            layer: (real_features[layer].detach().cpu(), fake_features[layer].detach().cpu())
            for layer in evaluator.layers
        },
        real_images=[] if _is_stats_file(real) else _thumbnails(real, paths["real"]),
        fake_images=_thumbnails(fake, paths["fake"]),
        skipped=skipped,
    )


def _file_sha256(path: Path) -> str:
    from ganprobe.extractors.weights import sha256_file

    return sha256_file(path)
