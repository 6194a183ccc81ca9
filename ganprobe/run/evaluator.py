"""Extract once, score many: one backbone pass per image set feeds every metric that needs that extractor."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from torch import Tensor

from ganprobe import defaults
from ganprobe.data.listing import FolderListing, as_listed
from ganprobe.data.sources import ImageSource
from ganprobe.errors import InputError
from ganprobe.extractors.base import THUMBNAIL_LAYER, FeatureExtractor
from ganprobe.extractors.registry import get_extractor
from ganprobe.features.cache import FeatureCache
from ganprobe.features.extract import extract_features
from ganprobe.front_end_names import PerFrontEnd, Template
from ganprobe.metrics import settings as metric_settings
from ganprobe.metrics.records import MetricRecord, ReportOptions
from ganprobe.metrics.registry import metric_classes, metric_declarations, scorer_classes
from ganprobe.metrics.sample_size import SampleCheck
from ganprobe.run.config import RunConfig
from ganprobe.scorers.base import FeatureScorer


def _too_few(name: str, least: int, label: str, count: int, setting: str) -> Template:
    """The message for a ``label`` set of ``count`` images, fewer than the ``least`` that metric ``name`` needs;
    ``setting`` (``"splits=10"``, or empty) is the metric setting that sets that minimum."""
    lower = PerFrontEnd(
        python=", lower it with {settings}={{'{metric}': {{'{key}': N}}}}",
        cli=", lower it with {settings} {metric}.{key}=N",
    )
    leave_out = PerFrontEnd(python="leave it out of {metrics}=[...]", cli="leave the metric out of {metrics}")
    return Template(
        "{metric}: needs at least {least} {label} images{because}, the {label} set has {count}; use more images"
        "{lower}, or {leave_out}",
        metric=name,
        least=least,
        label=label,
        because=f" ({setting})" if setting else "",
        count=count,
        key=setting.split("=")[0],
        lower=lower if setting else "",
        leave_out=leave_out,
    )


def supported_metrics(extractor: FeatureExtractor) -> list[str]:
    """The metric names that ``extractor`` can feed (Inception Score needs class logits)."""
    return [
        name
        for name, declaration in metric_declarations().items()
        if not declaration.needs_logits or extractor.logits_layer is not None
    ]


@dataclass(frozen=True)
class ExtractionOptions:
    """How :meth:`Evaluator.add` reads one image set (the extraction and execution fields of a
    :class:`~ganprobe.run.config.RunConfig` that one pass needs).

    Attributes:
        batch_size, num_samples, num_workers, progress: as in :func:`ganprobe.extract_features`.
        strict: for folders, raise :class:`~ganprobe.errors.ImageFolderError` naming the first unreadable or
            undecodable file; ``False`` skips such files with one :class:`~ganprobe.errors.SkippedImagesWarning`
            (they are recorded in :attr:`Evaluator.skipped`).
    """

    batch_size: int = defaults.BATCH_SIZE
    num_samples: int | None = None
    num_workers: int | None = None
    progress: bool = False
    strict: bool = True

    @classmethod
    def from_config(cls, config: RunConfig) -> ExtractionOptions:
        """The options of ``config`` (its ``extraction`` and ``execution`` sections)."""
        return cls(**{option.name: config[option.name] for option in fields(cls)})


def is_stats_file(source: ImageSource) -> bool:
    """Whether ``source`` names a file (a ``ganprobe stats`` ``.npz``) rather than a folder of images."""
    if isinstance(source, FolderListing):
        return False
    return isinstance(source, (str, os.PathLike)) and Path(source).is_file()


class Evaluator:
    """Run one extractor once over the real and once over the fake images, and feed every metric from that pass.

    Args:
        extractor: a registry name or a :class:`FeatureExtractor` (default ``efficientnet-lite0``).
        metrics: metric names (default: every metric the extractor supports; see
            :func:`ganprobe.metrics.registry.metric_classes`).
        layers: the layers of ``layer_separability`` (default: the extractor's blocks).
        seed: seed of every seeded metric (KID subsets, IS shuffles, separability folds and k-means).
        device: move the extractor (and metrics) there, e.g. ``"cuda"``.
        cache: a :class:`FeatureCache` for folder/tensor sources (``None``: no cache).
        settings: metric settings, ``{"kid": {"subset_size": 100}}``; names and defaults in
            :data:`ganprobe.metrics.settings.METRIC_SETTINGS` (the same table as the CLI's ``--set``).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        distributed: inside an initialised ``torch.distributed`` process group of several ranks (``None``: detect
            it), each :meth:`add` gets the *whole* set on every rank, each rank extracts its shard of it and all
            ranks then hold every row (:func:`ganprobe.features.sharded.extract_sharded`); the metrics are fed every
            row on every rank (``replicated``, never synced) and split their k-NN searches over the ranks. The
            results equal one process's. ``False``: each rank's :meth:`add` is its own data, and the metrics sync
            their states over the ranks at ``compute()`` (torchmetrics' usual DDP behaviour).

    Each metric runs as its scorer (:mod:`ganprobe.scorers`: the metric's math and reports without torchmetrics, so
    a small evaluation never imports torchmetrics), except with several processes and ``distributed=False``, where
    states must be synced and the torchmetrics classes run. Values and reports are the same either way.

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
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        distributed: bool | None = None,
    ) -> None:
        from ganprobe.utils.distributed import rank_and_world_size

        self.world_size = rank_and_world_size()[1]
        self.distributed = self.world_size > 1 if distributed is None else bool(distributed) and self.world_size > 1
        self.extractor = get_extractor(extractor, **dict(extractor_kwargs or {}))
        if device is not None:
            self.extractor = self.extractor.to(device)
        # Rows held by one process, or by every process (distributed): nothing to sync, so no torchmetrics needed.
        classes = metric_classes() if self.world_size > 1 and not self.distributed else scorer_classes()
        supported = supported_metrics(self.extractor)
        names = list(dict.fromkeys(metrics)) if metrics is not None else supported
        unknown = [name for name in names if name not in classes]
        if unknown:
            raise InputError(f"metrics: unknown {unknown}; choose from {list(classes)}")
        unsupported = [name for name in names if name not in supported]
        if unsupported:
            raise InputError(f"metrics: {unsupported} need class logits, which extractor {self.extractor.name!r} lacks")
        options = metric_settings.check_settings(settings or {})
        stray = [name for name in options if name not in names]
        if stray:
            raise InputError(f"settings: given for metrics not evaluated: {stray}")
        if layers is not None and "layer_separability" in names:
            options.setdefault("layer_separability", {}).setdefault("layers", list(layers))
        if "fid" in names:  # the evaluator holds every row anyway: keep them for FID's interval, noise, FID-infinity
            options.setdefault("fid", {}).setdefault("keep_features", True)
        for name in names:
            if classes[name].seeded:
                options.setdefault(name, {}).setdefault("seed", seed)
            if self.distributed:  # every rank holds every row: nothing to sync
                options.setdefault(name, {})["sync_on_compute"] = False
        self.metrics: dict[str, FeatureScorer] = {
            name: classes[name](extractor=self.extractor, **options.get(name, {})) for name in names
        }
        for metric in self.metrics.values():
            metric.to(self.extractor.device)
            metric.replicated = self.distributed
        self.cache = cache
        # Images each process computed features for, per set, over every add() (0 for cache hits and stats files).
        processes = self.world_size if self.distributed else 1
        self.extracted: dict[str, list[int]] = {"real": [0] * processes, "fake": [0] * processes}
        self.seed = seed
        # Files skipped as unreadable (non-strict adds), per set, over every add() of this evaluator.
        self.skipped: dict[str, list[str]] = {"real": [], "fake": []}
        self._paths: dict[str, list[str | None]] = {"real": [], "fake": []}
        # Layers extracted beside the metrics' (the class logits of per-class labels predicted by the extractor).
        self.extra_layers: tuple[str, ...] = ()

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer some metric (or :attr:`extra_layers`) needs, in the extractor's order: what one pass extracts."""
        needed = {layer for metric in self.metrics.values() for layer in metric.layers} | set(self.extra_layers)
        return tuple(layer for layer in (*self.extractor.layers, THUMBNAIL_LAYER) if layer in needed)

    @property
    def paths(self) -> dict[str, list[str | None]]:
        """``{"real": [...], "fake": [...]}``: the file of every row added so far (``None`` for non-folder rows)."""
        return {label: list(paths) for label, paths in self._paths.items()}

    def output_keys(self, options: ReportOptions | None = None) -> dict[str, str]:
        """``{output key: metric name}`` of every output a report with ``options`` holds (what gates can name)."""
        options = options or ReportOptions()
        keys = {}
        for name, metric in self.metrics.items():
            settings = {entry.name: getattr(metric, entry.name, entry.default) for entry in metric.declaration.settings}
            for output in metric.declared_outputs():
                if output.reported(options, settings):
                    keys[output.key] = name
        return keys

    def check_sample_counts(self, real: int | None, fake: int | None) -> None:
        """Refuse, before any extraction, sets too small for a metric (``None``: count not known in advance).

        Raises:
            InputError: one line naming the metric, what it needs, and the setting or option that changes it.
        """
        for name, metric in self.metrics.items():
            least_real, least_fake, setting = metric.minimum_samples()
            for label, count, least in (("real", real, least_real), ("fake", fake, least_fake)):
                if count is not None and count < least:
                    raise InputError(_too_few(name, least, label, count, setting))

    def add(
        self, source: ImageSource, real: bool, options: ExtractionOptions | None = None, **keywords: Any
    ) -> dict[str, Tensor]:
        """Extract ``source`` once (or load it from the cache or a stats file) and feed every metric.

        Args:
            source: a folder (a path, listed here, or a :class:`~ganprobe.data.listing.FolderListing`, reused),
                tensor, DataLoader/iterable or generator callable; for the real set also a ``.npz`` file from
                ``ganprobe stats`` (its metadata must match this evaluator's extractor).
            real: ``True`` for the real set, ``False`` for generated images.
            options: how to read it (:class:`ExtractionOptions`; default: its defaults); a generator callable is
                seeded with the evaluator's ``seed``.
            keywords: fields of :class:`ExtractionOptions` (``batch_size=8``) set over ``options``.

        Returns:
            The features ``{layer: (N, D)}`` that were fed. Files skipped as unreadable (``strict=False``) are
            added to :attr:`skipped` (``evaluator.skipped["fake"]``).
        """
        options = ExtractionOptions(**{**(vars(options) if options is not None else {}), **keywords})
        label = "real" if real else "fake"
        if self.distributed and not is_stats_file(source):
            return self._add_sharded(source, real, options)
        if is_stats_file(source):
            features = self._stats_features(source, options.num_samples)
            self.add_features(features, real)
            self._record_paths(label, [None] * next(iter(features.values())).shape[0])
            return features
        source = as_listed(source)  # one listing for the extraction and the rows' files
        bad: list[str] = []
        hits = self.cache.hits if self.cache is not None else 0
        features = extract_features(
            self.extractor,
            source,
            self.layers,
            options.batch_size,
            options.num_samples,
            self.seed,
            options.num_workers,
            options.progress,
            f"{label}: {source}" if isinstance(source, FolderListing) else f"{label} images",
            cache=self.cache,
            strict=options.strict,
            skipped=bad,
        )
        self.add_features(features, real)
        count = next(iter(features.values())).shape[0]
        if self.cache is None or self.cache.hits == hits:
            self.extracted[label][0] += count
        self.skipped[label].extend(bad)
        self._record_source_paths(label, source, count, bad)
        return features

    def _add_sharded(self, source: ImageSource, real: bool, options: ExtractionOptions) -> dict[str, Tensor]:
        """:meth:`add` under a process group: each rank extracts its shard, every rank gets (and feeds) all rows."""
        from ganprobe.features.sharded import extract_sharded

        label = "real" if real else "fake"
        source = as_listed(source)
        bad: list[str] = []
        features, extracted = extract_sharded(
            self.extractor, source, self.layers, options.batch_size, options.num_samples, self.seed,
            options.num_workers, self.cache, options.strict, bad,
        )  # fmt: skip
        self.add_features(features, real)
        self.extracted[label] = [mine + new for mine, new in zip(self.extracted[label], extracted, strict=True)]
        count = next(iter(features.values())).shape[0]
        self.skipped[label].extend(bad)
        self._record_source_paths(label, source, count, bad)
        return features

    def _record_source_paths(self, label: str, source: ImageSource, count: int, unreadable: Sequence[str]) -> None:
        # Metrics that name files (memorisation pairs) get every row's file, in extraction order (None for rows
        # from tensors, loaders or generators), accumulated over every add() of this class.
        if isinstance(source, FolderListing):
            skip = set(unreadable)
            readable = [str(path) for path in source if str(path) not in skip]
            self._record_paths(label, list(readable[:count]))
        else:
            self._record_paths(label, [None] * count)

    def _stats_features(self, path: str | os.PathLike[str], num_samples: int | None) -> dict[str, Tensor]:
        from ganprobe.features.stats import check_compatible, load_reference_stats

        stored, meta = load_reference_stats(path, self.extractor)  # metadata and extractor checked before arrays
        check_compatible(meta, self.extractor, path)
        # a stats file written before memorisation's pixel check lacks thumbnails: that check then does not run
        missing = [layer for layer in self.layers if layer not in stored and layer != THUMBNAIL_LAYER]
        if missing:
            raise InputError(f"{path}: lacks layers {missing}; recompute it with `ganprobe stats`")
        self.stats_meta = meta
        device = self.extractor.device
        return {layer: stored[layer][:num_samples].to(device) for layer in self.layers if layer in stored}

    def _record_paths(self, label: str, paths: list[str | None]) -> None:
        self._paths[label].extend(paths)
        for metric in self.metrics.values():
            if metric.takes_image_paths:  # declared (MetricDeclaration.takes_image_paths)
                metric.set_paths(**{label: self._paths[label]})

    def add_features(self, features: Mapping[str, Tensor], real: bool) -> None:
        """Feed precomputed ``{layer: (N, D)}`` features (from this evaluator's extractor) to every metric."""
        for metric in self.metrics.values():
            if real and not metric.uses_real:
                continue
            metric.update_features(features, real)

    def compute(self) -> dict[str, Any]:
        """``{metric name: metric.compute()}`` for every metric (each exactly what the metric alone returns)."""
        return {name: metric.compute() for name, metric in self.metrics.items()}

    def records(self, options: ReportOptions | None = None) -> list[MetricRecord]:
        """Every metric's :meth:`~ganprobe.scorers.base.FeatureScorer.records`, in report order."""
        return [record for metric in self.metrics.values() for record in metric.records(options)]

    def sample_checks(self) -> list[SampleCheck]:
        """Whether the sets are large enough for each metric's headline number (its declared sample rule)."""
        return [metric.sample_check() for metric in self.metrics.values()]

    def verdict(self, records: Sequence[MetricRecord], checks: Sequence[SampleCheck] | None = None) -> list[str]:
        """The answer in plain words: which numbers the sample size supports, then one reconciled statement per
        question (how far apart, where in the network, fidelity or diversity, copies) from every metric's findings
        (see :func:`ganprobe.report.verdict.reconcile`)."""
        from ganprobe.report.verdict import Voice, reconcile

        by_metric = {check.metric: check for check in (self.sample_checks() if checks is None else checks)}
        findings, voices = [], {}
        for name, metric in self.metrics.items():
            findings += metric.findings([record for record in records if record.metric == name])
            declaration = metric.declaration
            voices[name] = Voice(
                declaration.title if declaration is not None and declaration.title else name,
                metric.verdict_rank,
                declaration.trust_reason if declaration is not None else "",
                by_metric.get(name),
            )
        return reconcile(findings, voices)

    def reset(self) -> None:
        """Forget every metric's samples (the extractor and cache stay)."""
        for metric in self.metrics.values():
            metric.reset()
        self._paths = {"real": [], "fake": []}
        self.skipped = {"real": [], "fake": []}
