"""Per-class diagnostics of one run, from the features the evaluator already holds.

With class labels (``classes="subfolders"``, ``"predicted"``, a label file, or ``real_labels=``/``fake_labels=``
tensors; see :mod:`ganprobe.run.class_labels`), :func:`evaluate <ganprobe.run.pipeline.evaluate>` adds to its result
the class distribution (chi-square test, total variation, missing and over-produced classes), every headline metric
of the run restricted to each class on the extractor's default layer, intra-class FID, the Classification Accuracy
Score of conditional labels (:class:`PerClassReport`, with the standard errors regression gates allow for), and
:func:`diagnose` adds the least realistic fakes and least covered reals (:mod:`ganprobe.run.worst_samples`). No image
is extracted twice, and the math is :mod:`ganprobe.functional`'s.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ganprobe import defaults
from ganprobe.data.labels import ClassLabels
from ganprobe.errors import InputError
from ganprobe.functional.class_distribution import OK, ClassDistribution, class_distribution
from ganprobe.functional.per_class import GROUPS, PerClassResult, per_class_metrics
from ganprobe.functional.probe_accuracy import CASResult, classification_accuracy_score
from ganprobe.metrics.per_class_outputs import (
    CLASS_VALUES,
    KEY_CAS,
    KEY_CAS_REAL,
    KEY_INTRA_CLASS_FID,
    KEY_MISSING,
    KEY_OVER_PRODUCED,
    KEY_P_VALUE,
    KEY_TOTAL_VARIATION,
    KEY_UNDER_PRODUCED,
    class_key,
)
from ganprobe.run.class_labels import PREDICTED, ClassPlan, row_labels
from ganprobe.run.worst_samples import WorstSamples, worst_samples


@dataclass
class PerClassReport:
    """A run's per-class diagnostics.

    Attributes:
        source: how the images were labelled (``subfolders``, ``file labels.csv``, ``tensors``, ``predicted: ...``).
        layer: the feature layer of the per-class metrics.
        distribution: the class distribution test (:func:`~ganprobe.functional.class_distribution.class_distribution`).
        metrics: the per-class metrics and intra-class FID (:func:`~ganprobe.functional.per_class.per_class_metrics`);
            ``None`` when the run computes none of the metrics that have a per-class value.
        names: the class names, in index order.
        cas: the Classification Accuracy Score beside the real-trained probe
            (:func:`~ganprobe.functional.probe_accuracy.classification_accuracy_score`), for labels that are the
            generator's conditioning (subfolders, a file, tensors); ``None`` otherwise.
        cas_reason: why there is no CAS (labels predicted, too few reals per class), else empty.
    """

    source: str
    layer: str
    distribution: ClassDistribution
    metrics: PerClassResult | None = None
    names: tuple[str, ...] = field(default=())
    cas: CASResult | None = None
    cas_reason: str = ""
    inputs: _Inputs | None = field(default=None, repr=False, compare=False)
    resamples: int = field(default=defaults.NOISE_RESAMPLES, repr=False, compare=False)
    _errors: dict[str, float] | None = field(default=None, repr=False, compare=False)

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
        values[KEY_CAS] = self.cas.cas if self.cas is not None else math.nan
        values[KEY_CAS_REAL] = self.cas.real_accuracy if self.cas is not None else math.nan
        if self.metrics is not None:
            if "fid" in self.metrics.required:
                values[KEY_INTRA_CLASS_FID] = self.metrics.intra_class_fid
            for metrics in self.metrics.classes:
                for group, keys in GROUPS.items():
                    if group in self.metrics.required:
                        for key in (key for key in keys if key in CLASS_VALUES):
                            values[class_key(key, metrics.name)] = metrics.values.get(key, math.nan)
        return values

    def standard_errors(self) -> dict[str, float]:
        """Half-sample standard errors of the per-class values and of the run-wide ones computed from features.

        Each of :attr:`resamples` draws (the run's ``noise_resamples``; under 2: no errors) keeps a random half of
        every class of each set (complementary pairs, seeded by the run's seed) and recomputes every per-class
        metric and intra-class FID on it; a value's standard error is the standard deviation over the halves (a
        delete-d jackknife with d = N/2, as for the headline numbers). Halving within each class keeps every class
        in every half, and the halves are held to half the run's sample-size rule, so each class with a value has
        errors. The class total variation, which such halves cannot move, gets the spread of its value over class
        counts drawn from multinomials with the observed shares (a parametric bootstrap).
        Computed once, on request (a baseline check asks); ``{}`` for a report built without its features.

        Returns:
            ``{key: standard error}`` for the keys of :meth:`values` with at least two finite half values.
        """
        if self._errors is None:
            usable = self.inputs is not None and self.resamples >= 2
            self._errors = _half_sample_errors(self, self.resamples) if usable else {}
        return dict(self._errors)

    def reasons(self) -> dict[str, str]:
        """``{VALUE[CLASS]: why there is no number}`` (too few samples, no fakes of the class...)."""
        reasons = {}
        if self.cas is None:
            reasons[KEY_CAS] = reasons[KEY_CAS_REAL] = self.cas_reason or "no Classification Accuracy Score"
        if self.metrics is not None:
            for metrics in self.metrics.classes:
                for group, reason in metrics.reasons.items():
                    for key in GROUPS[group]:
                        reasons[class_key(key, metrics.name)] = f"class {metrics.name}: {reason}"
            if "fid" in self.metrics.required and not self.metrics.intra_class_fid_classes:
                reasons[KEY_INTRA_CLASS_FID] = "no class has a per-class FID"
        return reasons

    def verdict(self) -> list[str]:
        """One sentence per class named missing, over- or under-produced, and one for the CAS."""
        test = self.distribution
        lines = [
            f"Class {share.describe(test.num_real, test.num_fake)} (class distributions: chi-square p = "
            f"{test.p_value:.3g}, total variation {test.total_variation:.3f})."
            for share in test.flagged()
        ]
        if self.cas is not None:
            lines.append(cas_sentence(self.cas))
        return lines

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
            "cas": _cas_dict(self.cas, self.cas_reason),
        }


def cas_sentence(result: CASResult) -> str:
    """The verdict's reading of a CAS: how the fake-trained probe does on held-out reals, against the real-trained
    probe and chance."""
    share = result.cas / result.real_accuracy if result.real_accuracy > 0 else math.nan
    return (
        f"Classification Accuracy Score {result.cas:.1%}: a linear probe trained on the {result.num_fake_train:,} "
        f"fakes and their labels classifies {result.cas:.1%} of {result.num_test:,} held-out reals right, vs "
        f"{result.real_accuracy:.1%} for the same probe trained on {result.num_real_train:,} reals "
        f"({share:.0%} of it; chance {result.chance:.1%})."
    )


def _cas_dict(result: CASResult | None, reason: str) -> dict[str, Any]:
    """The ``per_class.cas`` section of the JSON report."""
    if result is None:
        return {
            "cas": None,
            "real_accuracy": None,
            "chance": None,
            "num_fake_train": None,
            "num_real_train": None,
            "num_test": None,
            "reason": reason or None,
        }
    return {**dataclasses.asdict(result), "reason": None}


@dataclass(frozen=True)
class _Inputs:
    """What a per-class report was computed from, kept for its standard errors (never reported)."""

    real: Tensor
    fake: Tensor
    real_labels: ClassLabels
    fake_labels: ClassLabels
    groups: tuple[str, ...]
    settings: dict[str, Any]
    seed: int


def _total_variation_error(test: ClassDistribution, seed: int, draws: int = 200) -> float:
    """The parametric-bootstrap standard error of the class total variation: its spread over class counts drawn
    from multinomials with each set's observed class shares and size."""
    real = torch.tensor([share.real_count for share in test.classes], dtype=torch.float64)
    fake = torch.tensor([share.fake_count for share in test.classes], dtype=torch.float64)
    if real.sum() < 1 or fake.sum() < 1:
        return math.nan
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(draws):
        counts = [
            torch.bincount(
                torch.multinomial(side / side.sum(), int(side.sum()), True, generator=generator),
                minlength=side.shape[0],
            ).double()
            for side in (real, fake)
        ]
        values.append(0.5 * float((counts[0] / counts[0].sum() - counts[1] / counts[1].sum()).abs().sum()))
    return float(torch.tensor(values).std())


def _class_halves(labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two disjoint random halves of the rows, each holding half of every class (``n // 2`` rows of a class of n)."""
    first, second = [], []
    for value in torch.unique(labels).tolist():
        rows = torch.nonzero(labels == value).flatten()
        rows = rows[torch.randperm(rows.shape[0], generator=generator)]
        half = rows.shape[0] // 2
        first.append(rows[:half])
        second.append(rows[half : 2 * half])
    return torch.cat(first).sort().values, torch.cat(second).sort().values


def _half_sample_errors(report: PerClassReport, resamples: int) -> dict[str, float]:
    inputs = report.inputs
    assert inputs is not None
    # no half-sample error: the p-value and the CAS (not gated that way), the class counts, and the total variation
    # (from the counts: halves within classes keep the shares)
    skip = (KEY_P_VALUE, KEY_CAS, KEY_CAS_REAL, KEY_TOTAL_VARIATION, KEY_MISSING, KEY_OVER_PRODUCED, KEY_UNDER_PRODUCED)
    keys = [key for key in report.values() if key not in skip]
    full = report.metrics.required if report.metrics is not None else {}
    required = {group: max(2, count // 2) for group, count in full.items()}  # a class with n >= r has n // 2 >= r // 2
    names = inputs.real_labels.names

    def statistic(real_rows: Tensor, fake_rows: Tensor) -> Tensor:
        real_labels = ClassLabels(inputs.real_labels.indices[real_rows], names)
        fake_labels = ClassLabels(inputs.fake_labels.indices[fake_rows], names)
        real, fake = inputs.real[real_rows.to(inputs.real.device)], inputs.fake[fake_rows.to(inputs.fake.device)]
        metrics = None
        if inputs.groups:
            metrics = per_class_metrics(
                real,
                fake,
                real_labels.indices,
                fake_labels.indices,
                names,
                inputs.groups,
                required=required,
                seed=inputs.seed,
                **inputs.settings,
            )
        distribution = class_distribution(real_labels.indices, fake_labels.indices, names=names)
        half = PerClassReport(report.source, report.layer, distribution, metrics, names)
        values = half.values()
        return torch.tensor([values.get(key, math.nan) for key in keys], dtype=torch.float64)

    generator = torch.Generator().manual_seed(inputs.seed)
    draws = []
    with warnings.catch_warnings():  # halves of small classes warn (rank-deficient FID): expected here
        warnings.simplefilter("ignore")
        for index in range(resamples):
            if index % 2 == 0:  # complementary pairs, as the headline's half samples
                real_halves = _class_halves(inputs.real_labels.indices, generator)
                fake_halves = _class_halves(inputs.fake_labels.indices, generator)
            part = index % 2
            draws.append(statistic(real_halves[part], fake_halves[part]))
    halves = torch.stack(draws)
    errors = {KEY_TOTAL_VARIATION: _total_variation_error(report.distribution, inputs.seed)}
    for column, key in enumerate(keys):
        finite = halves[:, column][torch.isfinite(halves[:, column])]
        if finite.shape[0] >= 2:
            errors[key] = float(finite.std())
    return errors


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
    cas, reason = conditional_accuracy(plan, real, fake, real_labels, fake_labels, seed)
    inputs = _Inputs(real, fake, real_labels, fake_labels, tuple(groups), _settings_of(metrics), seed)
    return PerClassReport(plan.source, layer, distribution, result, names, cas, reason, inputs)


def conditional_accuracy(
    plan: ClassPlan, real: Tensor, fake: Tensor, real_labels: ClassLabels, fake_labels: ClassLabels, seed: int
) -> tuple[CASResult | None, str]:
    """The CAS of a conditional source, or ``None`` and why there is none.

    Labels the extractor predicted are no conditioning (a probe trained on them measures the classifier), so a
    ``predicted`` plan has no CAS. Each class with fakes needs at least two reals (one to train the real probe, one to
    test): half of each real class is held out (seeded by ``seed``).
    """
    if plan.how == PREDICTED:
        return None, "the labels were predicted by the extractor, not the generator's conditioning labels"
    try:
        return classification_accuracy_score(real, real_labels.indices, fake, fake_labels.indices, seed=seed), ""
    except InputError as error:
        return None, f"no Classification Accuracy Score: {error}"


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
    if plan is None and worst <= 0:  # nothing asked: the run may not even have extracted ``layer``
        return None, None
    real, fake = features["real"][layer], features["fake"][layer]
    labels = row_labels(plan, paths, features) if plan is not None else None
    report = per_class_report(plan, real, fake, *labels, layer, metrics, seed) if plan and labels else None
    lists = worst_samples(real, fake, worst, layer, paths, labels) if worst > 0 else None
    return report, lists
