"""Extract once, score many: one backbone pass per image set feeds every metric that needs that extractor."""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from ganprobe import defaults
from ganprobe.data.folder import list_images
from ganprobe.data.sources import ImageSource
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import get_extractor
from ganprobe.features.cache import FeatureCache
from ganprobe.features.extract import extract_features
from ganprobe.metrics.base import FeatureMetric


@dataclass(frozen=True)
class MetricSpec:
    """A metric the evaluator can run: its short name (CLI ``--metrics``), class, and what it needs."""

    name: str
    module: str
    cls: str
    needs_logits: bool = False
    uses_real: bool = True
    seeded: bool = False

    def build(self, extractor: FeatureExtractor, options: Mapping[str, Any]) -> FeatureMetric:
        """Construct the metric on ``extractor`` with ``options`` as keyword arguments."""
        metric_class = getattr(importlib.import_module(self.module), self.cls)
        return metric_class(extractor=extractor, **dict(options))


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("fid", "ganprobe.metrics.fid", "FID"),
        MetricSpec("kid", "ganprobe.metrics.kid", "KID", seeded=True),
        MetricSpec(
            "is", "ganprobe.metrics.inception_score", "InceptionScore", needs_logits=True, uses_real=False, seeded=True
        ),
        MetricSpec("precision_recall", "ganprobe.metrics.prdc", "PrecisionRecall"),
        MetricSpec("density_coverage", "ganprobe.metrics.prdc", "DensityCoverage"),
        MetricSpec("cmmd", "ganprobe.metrics.cmmd", "CMMD"),
        MetricSpec("memorization", "ganprobe.metrics.memorization", "Memorization"),
        MetricSpec("knn_loo", "ganprobe.metrics.knn_loo", "KNNLOOAccuracy"),
        MetricSpec("layer_separability", "ganprobe.metrics.layer_separability", "LayerSeparability", seeded=True),
    )
}


def supported_metrics(extractor: FeatureExtractor) -> list[str]:
    """The metric names that ``extractor`` can feed (Inception Score needs class logits)."""
    return [name for name, spec in METRICS.items() if not spec.needs_logits or extractor.logits_layer is not None]


class Evaluator:
    """Run one extractor once over the real and once over the fake images, and feed every metric from that pass.

    Args:
        extractor: a registry name or a :class:`FeatureExtractor` (default ``efficientnet-lite0``).
        metrics: names from :data:`METRICS` (default: every metric the extractor supports).
        layers: the layers of ``layer_separability`` (default: the extractor's blocks).
        seed: seed of every seeded metric (KID subsets, separability folds and k-means).
        device: move the extractor (and metrics) there, e.g. ``"cuda"``.
        cache: a :class:`FeatureCache` for folder/tensor sources (``None``: no cache).
        metric_options: per-metric keyword arguments, e.g. ``{"kid": {"subset_size": 100}}``.
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.

    Example:
        >>> import torch
        >>> evaluator = Evaluator("random-resnet18", metrics=["fid", "knn_loo"])
        >>> _ = evaluator.add(torch.rand(8, 3, 32, 32), real=True)
        >>> _ = evaluator.add(torch.rand(8, 3, 32, 32) * 0.5, real=False)
        >>> sorted(evaluator.compute())
        ['fid', 'knn_loo']
    """

    def __init__(
        self,
        extractor: str | FeatureExtractor = defaults.EXTRACTOR,
        metrics: Sequence[str] | None = None,
        layers: Sequence[str] | None = None,
        seed: int = defaults.SEED,
        device: str | None = None,
        cache: FeatureCache | None = None,
        metric_options: Mapping[str, Mapping[str, Any]] | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.extractor = get_extractor(extractor, **dict(extractor_kwargs or {}))
        if device is not None:
            self.extractor = self.extractor.to(device)
        supported = supported_metrics(self.extractor)
        names = list(dict.fromkeys(metrics)) if metrics is not None else supported
        unknown = [name for name in names if name not in METRICS]
        if unknown:
            raise InputError(f"metrics: unknown {unknown}; choose from {list(METRICS)}")
        unsupported = [name for name in names if name not in supported]
        if unsupported:
            raise InputError(f"metrics: {unsupported} need class logits, which extractor {self.extractor.name!r} lacks")
        options = {name: dict(value) for name, value in (metric_options or {}).items()}
        stray = [name for name in options if name not in names]
        if stray:
            raise InputError(f"metric_options: given for metrics not evaluated: {stray}")
        if layers is not None and "layer_separability" in names:
            options.setdefault("layer_separability", {}).setdefault("layers", list(layers))
        if "fid" in names:  # the evaluator holds every row anyway: keep them for FID's interval and FID-infinity
            options.setdefault("fid", {}).setdefault("keep_features", True)
        for name in names:
            if METRICS[name].seeded:
                options.setdefault(name, {}).setdefault("seed", seed)
        self.metrics: dict[str, FeatureMetric] = {
            name: METRICS[name].build(self.extractor, options.get(name, {})) for name in names
        }
        for metric in self.metrics.values():
            metric.to(self.extractor.device)
        self.cache = cache
        self.seed = seed
        self._paths: dict[str, list[str | None]] = {"real": [], "fake": []}

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer some metric needs, in the extractor's order: what one pass extracts."""
        needed = {layer for metric in self.metrics.values() for layer in metric.layers}
        return tuple(layer for layer in self.extractor.layers if layer in needed)

    @property
    def paths(self) -> dict[str, list[str | None]]:
        """``{"real": [...], "fake": [...]}``: the file of every row added so far (``None`` for non-folder rows)."""
        return {label: list(paths) for label, paths in self._paths.items()}

    def add(
        self,
        source: ImageSource,
        real: bool,
        batch_size: int = defaults.BATCH_SIZE,
        num_samples: int | None = None,
        num_workers: int | None = None,
        progress: bool = False,
        strict: bool = True,
        skipped: list[str] | None = None,
    ) -> dict[str, Tensor]:
        """Extract ``source`` once (or load it from the cache) and feed every metric; returns the features.

        Args:
            source: a folder, tensor, DataLoader/iterable or generator callable.
            real: ``True`` for the real set, ``False`` for generated images.
            batch_size, num_samples, num_workers, progress: as in :func:`ganprobe.extract_features`; a generator
                callable is seeded with the evaluator's ``seed``.
            strict: for folders, raise :class:`~ganprobe.errors.ImageFolderError` naming the first unreadable or
                undecodable file (default); ``False`` skips such files with one
                :class:`~ganprobe.errors.SkippedImagesWarning` listing them.
            skipped: a list that receives the path of every skipped file.
        """
        label = "real" if real else "fake"
        bad: list[str] = [] if skipped is None else skipped
        already = len(bad)
        features = extract_features(
            self.extractor,
            source,
            self.layers,
            batch_size,
            num_samples,
            self.seed,
            num_workers,
            progress,
            f"{label}: {source}" if isinstance(source, (str, os.PathLike)) else f"{label} images",
            cache=self.cache,
            strict=strict,
            skipped=bad,
        )
        self.add_features(features, real)
        # Metrics that name files (memorisation pairs) get every row's file, in extraction order (None for rows
        # from tensors, loaders or generators), accumulated over every add() of this class.
        count = next(iter(features.values())).shape[0]
        if isinstance(source, (str, os.PathLike)):
            unreadable = set(bad[already:])
            readable = [str(path) for path in list_images(source) if str(path) not in unreadable]
            paths: list[str | None] = list(readable[:num_samples])
        else:
            paths = [None] * count
        self._paths[label].extend(paths)
        for metric in self.metrics.values():
            if hasattr(metric, "set_paths"):
                metric.set_paths(**{label: self._paths[label]})
        return features

    def add_features(self, features: Mapping[str, Tensor], real: bool) -> None:
        """Feed precomputed ``{layer: (N, D)}`` features (from this evaluator's extractor) to every metric."""
        for name, metric in self.metrics.items():
            if real and not METRICS[name].uses_real:
                continue
            metric.update_features(features, real)

    def compute(self) -> dict[str, Any]:
        """``{metric name: metric.compute()}`` for every metric.

        KID's ``subset_size`` (default 1000, as published) is lowered to the smaller set's size, with a warning,
        when the sets are smaller: a demanding user still gets a KID from a small run, and is told it changed.
        """
        kid = self.metrics.get("kid")
        requested = kid.subset_size if kid is not None else 0
        if kid is not None:
            with kid.sync_context(should_sync=kid.sync_on_compute, should_unsync=True):
                real, fake = kid.stored_features()
                smallest = min(real[kid.layer].shape[0], fake[kid.layer].shape[0])
            if requested > smallest:
                warnings.warn(
                    f"KID: subset_size {requested} lowered to {smallest}, the smaller set's size", stacklevel=2
                )
                kid.subset_size = smallest
        try:
            return {name: metric.compute() for name, metric in self.metrics.items()}
        finally:
            if kid is not None:
                kid.subset_size = requested  # for this compute only: the user's setting stands for later runs

    def reset(self) -> None:
        """Forget every metric's samples (the extractor and cache stay)."""
        for metric in self.metrics.values():
            metric.reset()
        self._paths = {"real": [], "fake": []}
