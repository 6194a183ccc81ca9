"""Per-class and per-sample diagnostics of one run, from the features the evaluator already holds.

With class labels (``classes="subfolders"``, ``"predicted"``, a label file, or ``real_labels=``/``fake_labels=``
tensors), :func:`evaluate <ganprobe.run.pipeline.evaluate>` adds to its result the class distribution (chi-square
test, total variation, missing and over-produced classes), every headline metric of the run restricted to each class
on the extractor's default layer, intra-class FID (:class:`PerClassReport`), and the least realistic fakes and least
covered reals (:class:`WorstSamples`). No image is extracted twice: the labels are matched to the feature rows by
file (folders) or by order (tensors), and the math is :mod:`ganprobe.functional`'s.

**A label file for both sets.** A CSV (``path,label`` rows, optional header) or JSON object (``{"path": label}``)
whose paths are relative to the label file's own folder (``fake/7/0001.png``, ``real/7/0001.png``): each path must
lie under the fake or the real folder (the deeper one when one folder holds the other), and every image of both
folders needs exactly one label.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe.data.labels import ClassLabels, labels_from_logits, labels_from_subfolders, shared_classes
from ganprobe.data.listing import FolderListing
from ganprobe.errors import InputError, UsageError
from ganprobe.front_end_names import PerFrontEnd, Template
from ganprobe.functional.class_distribution import OK, ClassDistribution, class_distribution
from ganprobe.functional.per_class import GROUPS, PerClassResult, per_class_metrics
from ganprobe.functional.realism import REALISM_K, realism_details
from ganprobe.metrics.per_class_outputs import (
    CLASS_VALUES,
    KEY_INTRA_CLASS_FID,
    KEY_MISSING,
    KEY_OVER_PRODUCED,
    KEY_P_VALUE,
    KEY_TOTAL_VARIATION,
    KEY_UNDER_PRODUCED,
    class_key,
)
from ganprobe.utils.safe_text import quote_path

SUBFOLDERS = "subfolders"
PREDICTED = "predicted"


@dataclass(frozen=True)
class ClassPlan:
    """How a run labels its images, settled before extraction.

    Attributes:
        how: ``subfolders``, ``predicted``, ``file`` or ``tensors``.
        source: the report's words for it (``subfolders``, ``file labels.csv``, ``predicted: lenet-mnist logits``).
        by_path: ``{"real": {file: label}, "fake": {...}}`` for folder labels (matched to rows by file).
        tensors: ``{"real": ClassLabels, "fake": ClassLabels}`` for tensor labels (matched to rows by order).
        names: every class name, when known before extraction (not for ``predicted``).
        logits_layer: the layer whose argmax labels the images (``predicted``).
    """

    how: str
    source: str
    by_path: dict[str, dict[str, str]] | None = None
    tensors: dict[str, ClassLabels] | None = None
    names: tuple[str, ...] | None = None
    logits_layer: str | None = None


def _folder_labels(listing: FolderListing, labels: ClassLabels) -> dict[str, str]:
    return {str(path): labels.names[int(index)] for path, index in zip(listing, labels.indices, strict=True)}


def _under(path: str, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX) when it lies under it (compared lexically), else ``None``."""
    relative = os.path.relpath(path, os.path.abspath(root))
    if relative == os.curdir or relative.startswith(os.pardir + os.sep) or relative == os.pardir:
        return None
    return Path(relative).as_posix()


def _file_labels(label_file: str, listings: Mapping[str, FolderListing]) -> dict[str, dict[str, str]]:
    """``{"real": {file: label}, "fake": {...}}`` from one label file naming the images of both folders."""
    from ganprobe.data.labels import _at, _read_text, _rows_from_csv, _rows_from_json

    path = Path(label_file).expanduser()
    where = quote_path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"{where}: label file must end in .csv or .json, got {suffix or 'no extension'!r}")
    text = _read_text(path)
    rows = _rows_from_csv(text, where) if suffix == ".csv" else _rows_from_json(text, where)
    base = os.path.abspath(path.parent)
    # the deeper folder first, so a fake folder inside the real folder takes its own images
    roots = sorted(listings.items(), key=lambda item: -len(os.path.abspath(item[1].root)))
    position = {label: {name: file for name, file in zip(lst.names, lst, strict=True)} for label, lst in roots}
    labelled: dict[str, dict[str, str]] = {label: {} for label in listings}
    first: dict[str, int] = {}
    for name, label, line in rows:
        full = os.path.normpath(os.path.join(base, name))
        if full in first:
            raise InputError(f"{_at(where, line)}: duplicate path {name!r} (first at line {first[full]})")
        first[full] = line
        found = next(((which, lst) for which, lst in roots if _under(full, lst.root) is not None), None)
        if found is None:
            folders = " nor ".join(f"the {which} folder {quote_path(lst.root)}" for which, lst in listings.items())
            raise InputError(f"{_at(where, line)}: {name!r} lies under neither {folders}")
        which, listing = found
        relative = _under(full, listing.root)
        if relative not in position[which]:
            raise InputError(f"{_at(where, line)}: {name!r} is not an image listed in {quote_path(listing.root)}")
        labelled[which][str(position[which][relative])] = label
    for which, listing in listings.items():
        missing = [name for name, file in position[which].items() if str(file) not in labelled[which]]
        if missing:
            raise InputError(
                f"{where}: {len(missing):,} image(s) of the {which} folder {quote_path(listing.root)} have no label, "
                f"e.g. {missing[0]!r} (paths are relative to the label file's folder)"
            )
    return labelled


def plan_classes(
    classes: str | os.PathLike[str] | None,
    real: Any,
    fake: Any,
    real_labels: Tensor | None,
    fake_labels: Tensor | None,
    logits_layer: str | None,
    extractor_name: str,
) -> ClassPlan | None:
    """Settle how the run labels its images (before any extraction); ``None`` when it has no class labels.

    Args:
        classes: ``"subfolders"``, ``"predicted"``, a label file path, or ``None``.
        real, fake: the run's sources (folders already listed).
        real_labels, fake_labels: ``(N,)`` integer tensors of class indices (both or neither; not with ``classes``).
        logits_layer, extractor_name: the extractor's class-logits layer (``None``: none) and name.

    Raises:
        InputError: one line naming the argument and what is wrong (a folder with images outside class subfolders,
            an extractor without logits, a label file row outside both folders...).
    """
    if (real_labels is None) != (fake_labels is None):
        raise UsageError("evaluate: give real_labels and fake_labels together (or classes=)")
    if real_labels is not None:
        if classes is not None:
            raise UsageError("evaluate: class labels are given twice (classes= and real_labels=/fake_labels=)")
        from ganprobe.data.labels import labels_from_tensor

        pair = {}
        for label, given in (("real", real_labels), ("fake", fake_labels)):
            if not isinstance(given, Tensor) or given.ndim != 1:
                raise InputError(f"{label}_labels: expected a (N,) tensor of class indices")
            pair[label] = labels_from_tensor(given, given.shape[0], argument=f"{label}_labels")
        real_set, fake_set = shared_classes(pair["real"], pair["fake"])
        return ClassPlan("tensors", "tensors", tensors={"real": real_set, "fake": fake_set}, names=real_set.names)
    if classes is None:
        return None
    text = os.fspath(classes)
    if text == PREDICTED:
        if logits_layer is None:
            raise InputError(
                Template(
                    "{classes} predicted: extractor {name!r} has no class logits; use subfolders or a label file",
                    name=extractor_name,
                )
            )
        return ClassPlan(PREDICTED, f"predicted: {extractor_name} {logits_layer}", logits_layer=logits_layer)
    listings = {}
    for label, source in (("real", real), ("fake", fake)):
        if not isinstance(source, FolderListing):
            raise InputError(
                Template(
                    "{classes} {how}: the {label} images are not a folder, so no file carries their class; {fix}",
                    how=text,
                    label=label,
                    fix=PerFrontEnd(
                        python="give real_labels= and fake_labels= tensors instead",
                        cli="give the real image folder instead of a stats file",
                    ),
                )
            )
        listings[label] = source
    if text == SUBFOLDERS:
        by_path = {label: _folder_labels(*labels_from_subfolders(listing)) for label, listing in listings.items()}
        source = SUBFOLDERS
    else:
        if not Path(text).expanduser().is_file():
            raise InputError(
                Template(
                    "{classes} {value!r}: expected subfolders, predicted, or an existing .csv/.json label file",
                    value=text,
                )
            )
        by_path = _file_labels(text, listings)
        source = f"file {text}"
    names = sorted({name for table in by_path.values() for name in table.values()})
    names = shared_classes(ClassLabels(torch.zeros(0, dtype=torch.long), tuple(names)))[0].names
    return ClassPlan("subfolders" if text == SUBFOLDERS else "file", source, by_path=by_path, names=names)


def row_labels(
    plan: ClassPlan, paths: Mapping[str, Sequence[str | None]], features: Mapping[str, Mapping[str, Tensor]]
) -> tuple[ClassLabels, ClassLabels]:
    """``(real, fake)`` labels of the feature rows, on one shared list of classes.

    Args:
        plan: from :func:`plan_classes`.
        paths: ``{"real": [...], "fake": [...]}``: each row's file (the evaluator's :attr:`paths`).
        features: ``{"real": {layer: (N, D)}, "fake": {...}}``: the rows (and the logits for ``predicted``).
    """
    labels: dict[str, ClassLabels] = {}
    for label in ("real", "fake"):
        rows = next(iter(features[label].values())).shape[0]
        if plan.logits_layer is not None:
            labels[label] = labels_from_logits(features[label][plan.logits_layer].float())
        elif plan.tensors is not None:
            given = plan.tensors[label]
            if len(given) < rows:
                raise InputError(f"{label}_labels: {len(given)} labels for {rows} images")
            labels[label] = ClassLabels(given.indices[:rows], given.names)
        else:
            table = plan.by_path[label] if plan.by_path is not None else {}
            names = [table[str(path)] for path in paths[label]][:rows]
            order = {name: index for index, name in enumerate(plan.names or ())}
            indices = torch.tensor([order[name] for name in names], dtype=torch.long)
            labels[label] = ClassLabels(indices, tuple(plan.names or ()))
    real, fake = shared_classes(labels["real"], labels["fake"])
    return real, fake


@dataclass
class PerClassReport:
    """A run's per-class diagnostics.

    Attributes:
        source: how the images were labelled (``subfolders``, ``file labels.csv``, ``tensors``, ``predicted: ...``).
        layer: the feature layer of the per-class metrics.
        distribution: the class distribution test (:func:`~ganprobe.functional.class_distribution.class_distribution`).
        metrics: the per-class metrics and intra-class FID (:func:`~ganprobe.functional.per_class.per_class_metrics`);
            ``None`` when the run computes none of the metrics that have a per-class value.
    """

    source: str
    layer: str
    distribution: ClassDistribution
    metrics: PerClassResult | None = None
    names: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        """``{missing_classes, over_produced_classes, under_produced_classes: count}``."""
        statuses = [share.status for share in self.distribution.classes]
        return {
            KEY_MISSING: statuses.count("missing"),
            KEY_OVER_PRODUCED: statuses.count("over-produced"),
            KEY_UNDER_PRODUCED: statuses.count("under-produced"),
        }

    def values(self) -> dict[str, float]:
        """Every gate-able number: the run-wide ones and ``VALUE[CLASS]`` (``nan`` for a class without one)."""
        values: dict[str, float] = {key: float(count) for key, count in self.counts().items()}
        values[KEY_TOTAL_VARIATION] = self.distribution.total_variation
        values[KEY_P_VALUE] = self.distribution.p_value
        if self.metrics is not None:
            if "fid" in self.metrics.required:
                values[KEY_INTRA_CLASS_FID] = self.metrics.intra_class_fid
            for metrics in self.metrics.classes:
                for group, keys in GROUPS.items():
                    if group in self.metrics.required:
                        for key in (key for key in keys if key in CLASS_VALUES):
                            values[class_key(key, metrics.name)] = metrics.values.get(key, math.nan)
        return values

    def reasons(self) -> dict[str, str]:
        """``{VALUE[CLASS]: why there is no number}`` (too few samples, no fakes of the class...)."""
        reasons = {}
        if self.metrics is not None:
            for metrics in self.metrics.classes:
                for group, reason in metrics.reasons.items():
                    for key in GROUPS[group]:
                        reasons[class_key(key, metrics.name)] = f"class {metrics.name}: {reason}"
            if "fid" in self.metrics.required and not self.metrics.intra_class_fid_classes:
                reasons[KEY_INTRA_CLASS_FID] = "no class has a per-class FID"
        return reasons

    def verdict(self) -> list[str]:
        """One sentence per class named missing, over- or under-produced."""
        test = self.distribution
        return [
            f"Class {share.describe(test.num_real, test.num_fake)} (class distributions: chi-square p = "
            f"{test.p_value:.3g}, total variation {test.total_variation:.3f})."
            for share in test.flagged()
        ]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's ``per_class`` section (schema ``ganprobe/report/schema.json``)."""
        test = self.distribution
        per_class = {metrics.name: metrics for metrics in self.metrics.classes} if self.metrics else {}
        classes = []
        for share in test.classes:
            entry: dict[str, Any] = {
                "name": share.name,
                "real_count": share.real_count,
                "fake_count": share.fake_count,
                "real_share": share.real_share,
                "fake_share": share.fake_share,
                "residual": share.residual,
                "status": share.status,
                "values": {},
                "reasons": {},
            }
            if share.name in per_class:
                entry["values"] = dict(per_class[share.name].values)
                entry["reasons"] = dict(per_class[share.name].reasons)
            classes.append(entry)
        return {
            "source": self.source,
            "layer": self.layer,
            "distribution": {
                "chi2": test.chi2,
                "dof": test.dof,
                "p_value": test.p_value,
                "total_variation": test.total_variation,
                "num_real": test.num_real,
                "num_fake": test.num_fake,
                "alpha": test.alpha,
                "small_expected": test.small_expected,
                **{key.removesuffix("_classes"): count for key, count in self.counts().items()},
                "named": {share.name: share.status for share in test.classes if share.status != OK},
            },
            "required": dict(self.metrics.required) if self.metrics else {},
            "intra_class_fid": self.metrics.intra_class_fid if self.metrics else None,
            "intra_class_fid_classes": list(self.metrics.intra_class_fid_classes) if self.metrics else [],
            "classes": classes,
        }


def _settings_of(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The per-class calls' neighbours and KID subsets: the run's own metric settings."""
    given: dict[str, Any] = {}
    for name, keyword in (("precision_recall", "k_precision_recall"), ("density_coverage", "k_density_coverage")):
        if name in metrics and getattr(metrics[name], "k", None) is not None:
            given[keyword] = int(metrics[name].k)
    if "knn_loo" in metrics and getattr(metrics["knn_loo"], "k", None) is not None:
        given["knn_k"] = int(metrics["knn_loo"].k)
    if "kid" in metrics:
        for setting, keyword in (("num_subsets", "kid_subsets"), ("subset_size", "kid_subset_size")):
            if getattr(metrics["kid"], setting, None) is not None:
                given[keyword] = int(getattr(metrics["kid"], setting))
    return given


def per_class_report(
    plan: ClassPlan,
    real: Tensor,
    fake: Tensor,
    real_labels: ClassLabels,
    fake_labels: ClassLabels,
    layer: str,
    metrics: Mapping[str, Any],
    seed: int,
) -> PerClassReport:
    """The class distribution and the per-class values of the run's metrics on ``layer``'s features.

    Args:
        plan: how the images were labelled.
        real, fake: ``(N, D)`` and ``(M, D)`` features of ``layer``.
        real_labels, fake_labels: their rows' labels on one class list (:func:`row_labels`).
        layer: the features' layer (the extractor's default).
        metrics: the run's metrics by name (their settings: neighbours, KID subsets).
        seed: the seed of KID's subsets.
    """
    names = real_labels.names
    distribution = class_distribution(real_labels.indices, fake_labels.indices, names=names)
    groups = [group for group in GROUPS if group in metrics]
    result = None
    if groups:
        result = per_class_metrics(
            real, fake, real_labels.indices, fake_labels.indices, names, groups, seed=seed, **_settings_of(metrics)
        )
    return PerClassReport(plan.source, layer, distribution, result, names)


@dataclass
class WorstSamples:
    """The least realistic fakes and the least covered reals (:func:`~ganprobe.functional.realism.realism_details`).

    Attributes:
        layer: the feature layer.
        k, coverage_k: the neighbours of the realism score and of the coverage balls.
        fakes: ``[{"index", "path", "class", "realism"}]``, least realistic first.
        reals: ``[{"index", "path", "class", "coverage_ratio"}]``, least covered first.
        reason: why the lists are empty (too few reals), else empty.
    """

    layer: str
    k: int
    coverage_k: int
    fakes: list[dict[str, Any]] = field(default_factory=list)
    reals: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's ``worst_samples`` section."""
        return {
            "layer": self.layer,
            "k": self.k,
            "coverage_k": self.coverage_k,
            "least_realistic_fakes": self.fakes,
            "least_covered_reals": self.reals,
            "reason": self.reason or None,
        }


def worst_samples(
    real: Tensor,
    fake: Tensor,
    count: int,
    layer: str,
    paths: Mapping[str, Sequence[str | None]],
    labels: tuple[ClassLabels, ClassLabels] | None = None,
) -> WorstSamples:
    """The ``count`` least realistic fakes and least covered reals, with their files and classes.

    Args:
        real, fake: ``(N, D)`` and ``(M, D)`` features of ``layer``.
        count: how many of each.
        layer: the features' layer.
        paths: each row's file per set (``None`` for rows from tensors).
        labels: ``(real, fake)`` row labels, or ``None``.
    """
    from ganprobe.metrics.declarations.density_coverage import DECLARATION as DENSITY_COVERAGE

    coverage_k = DENSITY_COVERAGE.default("k")
    least = max(REALISM_K, coverage_k) + 1
    if real.shape[0] < least:
        return WorstSamples(layer, REALISM_K, coverage_k, reason=f"needs at least {least} reals, got {real.shape[0]}")
    details = realism_details(real, fake, count=count, coverage_k=coverage_k)

    def entry(label: str, index: int, key: str, value: float) -> dict[str, Any]:
        files = paths.get(label, [])
        which = labels[0 if label == "real" else 1] if labels is not None else None
        return {
            "index": index,
            "path": files[index] if index < len(files) else None,
            "class": which.names[int(which.indices[index])] if which is not None else None,
            key: value,
        }

    fakes = [entry("fake", int(i), "realism", float(details.realism[i])) for i in details.least_realistic]
    reals = [entry("real", int(i), "coverage_ratio", float(details.coverage_ratio[i])) for i in details.least_covered]
    return WorstSamples(layer, details.k, details.coverage_k, fakes, reals)


def layers_needed(plan: ClassPlan | None, lists: bool, default_layer: str) -> tuple[str, ...]:
    """The layers the diagnostics read beside the metrics': the default layer, and the logits for ``predicted``."""
    if plan is None and not lists:
        return ()
    return (default_layer,) + ((plan.logits_layer,) if plan is not None and plan.logits_layer else ())


def diagnose(
    plan: ClassPlan | None,
    features: Mapping[str, Mapping[str, Tensor]],
    paths: Mapping[str, Sequence[str | None]],
    layer: str,
    metrics: Mapping[str, Any],
    seed: int,
    worst: int,
) -> tuple[PerClassReport | None, WorstSamples | None]:
    """The per-class report (with ``plan``) and the ``worst`` least realistic fakes and least covered reals
    (``worst > 0``), from the run's features of ``layer``.

    Args:
        plan: how the images are labelled (``None``: no per-class report).
        features: ``{"real": {layer: (N, D)}, "fake": {...}}`` as extracted.
        paths: each row's file per set.
        layer: the layer of the per-class metrics and the realism lists (the extractor's default).
        metrics: the run's metrics by name.
        seed: the run's seed.
        worst: how many samples to list (0: none).
    """
    real, fake = features["real"][layer], features["fake"][layer]
    labels = row_labels(plan, paths, features) if plan is not None else None
    report = per_class_report(plan, real, fake, *labels, layer, metrics, seed) if plan and labels else None
    lists = worst_samples(real, fake, worst, layer, paths, labels) if worst > 0 else None
    return report, lists
