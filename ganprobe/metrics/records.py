"""What a metric reports, declared once: its outputs (key, label, direction, bounds, uncertainty) and the records.

Every metric class declares ``outputs``: one :class:`Output` per number it reports. The JSON report, its schema,
the terminal and HTML tables, the ``--fail-if`` and ``--baseline`` gates, the CLI's help and the pytest plugin all
read these declarations; no other module writes a metric key, label or direction. This module imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ganprobe import defaults

DirectionKind = Literal["lower", "higher", "target", "none"]
# How an output's standard error (the sampling noise that regression gates allow for) is estimated:
# "half_sample": the spread of the statistic over random halves of both sets, drawn without replacement (a
#   delete-d jackknife with d = N/2, whose variance needs no rescaling); "binomial": a proportion's standard error
#   over the samples it counts (real, fake or both sets); "none": not a quality measure (no regression gate).
Uncertainty = Literal["half_sample", "binomial_real", "binomial_fake", "binomial_both", "none"]


@dataclass(frozen=True)
class Direction:
    """Which way an output gets better: ``lower``, ``higher``, ``target`` (closest to ``ideal``) or ``none``."""

    kind: DirectionKind
    ideal: float | None = None

    def badness(self, value: float) -> float | None:
        """A number that grows as the output gets worse, or ``None`` for an output without a direction."""
        if self.kind == "lower":
            return value
        if self.kind == "higher":
            return -value
        if self.kind == "target":
            return abs(value - float(self.ideal or 0.0))
        return None

    def describe(self) -> str:
        """How to read the number, in a few words: ``lower is better``, ``0.5 is best``, or empty."""
        if self.kind == "target":
            return f"{self.ideal:g} is best"
        return {"lower": "lower is better", "higher": "higher is better"}.get(self.kind, "")

    def short(self) -> str:
        """The same in one or two words for narrow table columns: ``lower``, ``higher``, ``0.5 best``."""
        if self.kind == "target":
            return f"{self.ideal:g} best"
        return {"lower": "lower", "higher": "higher"}.get(self.kind, "")


LOWER = Direction("lower")
HIGHER = Direction("higher")
NO_DIRECTION = Direction("none")


def closest_to(ideal: float) -> Direction:
    """The direction of an output that is best at ``ideal`` and worse either side of it (1-NN accuracy: 0.5)."""
    return Direction("target", ideal)


@dataclass(frozen=True)
class Output:
    """One number a metric reports.

    Attributes:
        key: the name in ``compute()``'s dict, the JSON report and gates (``fid``, ``kid_std``); for per-layer
            outputs a template with ``{layer}`` and ``{protocol}``.
        label: what a person reads; ``{space}`` is replaced by the feature space when the number is not the
            published metric (see ``published_label``).
        direction: which way is better.
        description: one line saying what the number means.
        uncertainty: how its standard error is estimated (see :data:`Uncertainty`).
        lower, upper: the range of possible values (``None``: unbounded).
        published_label: the label when the number is comparable with published values (``"FID"``), else ``None``.
        spread_of: for a spread output (``kid_std``), the key whose ``std`` it fills in reports.
        in_compute: ``True`` when ``compute()`` returns it; ``False`` for outputs of a richer view (p-values,
            per-class accuracies, FID-infinity) that only reports compute.
        layer, protocol: set on the concrete outputs of a per-layer template.
        requires: what must be set for a report to hold it: a setting of its metric (FID's ``infinity``) or, when
            the metric has no setting of that name, a :class:`ReportOptions` field (``permutations``).
    """

    key: str
    label: str
    direction: Direction
    description: str
    uncertainty: Uncertainty = "half_sample"
    lower: float | None = None
    upper: float | None = None
    published_label: str | None = None
    spread_of: str | None = None
    in_compute: bool = True
    layer: str | None = None
    protocol: str | None = None
    requires: str | None = None

    def reported(self, options: ReportOptions, settings: Mapping[str, Any] | None = None) -> bool:
        """Whether a report with ``options``, of a metric with ``settings`` (``{setting: value}``), holds this output
        (``requires`` names the setting, else the option, it depends on)."""
        if self.requires is None:
            return True
        if settings is not None and self.requires in settings:
            return bool(settings[self.requires])
        return bool(getattr(options, self.requires))

    @property
    def is_template(self) -> bool:
        """Whether the key still has ``{layer}``/``{protocol}`` placeholders (a per-layer declaration)."""
        return "{" in self.key

    def concrete(self, layer: str, protocol: str) -> Output:
        """This per-layer output for one ``layer`` and ``protocol`` (placeholders of key, label and text filled)."""
        names = {"layer": layer, "protocol": protocol}
        return Output(
            self.key.format(**names),
            self.label.format(space="{space}", **names),
            self.direction,
            self.description.format(**names),
            self.uncertainty,
            self.lower,
            self.upper,
            self.published_label,
            self.spread_of,
            self.in_compute,
            layer,
            protocol,
            self.requires,
        )

    def display_label(self, space: str, comparable: bool) -> str:
        """The label to print: the published name when comparable, else the label naming the feature space."""
        if comparable and self.published_label:
            return self.published_label
        return self.label.replace("{space}", space)


@dataclass
class Estimate:
    """A computed output with its uncertainty, before it is labelled for a report.

    Attributes:
        value: the estimate.
        low, high: a confidence interval when computed (see ``ganprobe.functional.bootstrap``).
        std: a spread over subsets or splits (KID, IS), as the reference implementations report it.
        stderr: the estimate's standard error from the declared method, used by regression gates.
        note: why ``[low, high]`` may exclude ``value`` (FID: the interval is for the population distance and the
            plug-in value is biased upwards); added to the record's description.
    """

    value: float
    low: float | None = None
    high: float | None = None
    std: float | None = None
    stderr: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class MetricRecord:
    """One reported number: an :class:`Estimate` labelled by its :class:`Output` declaration.

    Attributes:
        key: the output's key (JSON report, gates).
        label: what to print, naming the feature space when the number is not the published metric.
        value: the estimate.
        low, high: a confidence interval when computed, else ``None``.
        std: a spread over subsets/splits (KID, IS) when defined, else ``None``.
        stderr: the standard error that regression gates allow for, else ``None``.
        direction: ``lower``, ``higher``, ``target`` or ``none``.
        ideal: the best value of a ``target`` output (0.5 for 1-NN accuracies), else ``None``.
        lower, upper: the output's possible range.
        description: what the number means.
        feature_space: the extractor and layer the number was measured in.
        comparable_with_published: whether the number can be compared with published values.
        metric: the metric (evaluator name) that reported it.
        layer, protocol: for per-layer outputs (separability), the layer and protocol of this cell.
    """

    key: str
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    std: float | None = None
    stderr: float | None = None
    direction: DirectionKind = "none"
    ideal: float | None = None
    lower: float | None = None
    upper: float | None = None
    description: str = ""
    feature_space: str = ""
    comparable_with_published: bool = False
    metric: str = ""
    layer: str | None = None
    protocol: str | None = None

    @property
    def better(self) -> Direction:
        """The record's :class:`Direction`."""
        return Direction(self.direction, self.ideal)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the report's ``metrics`` entries)."""
        return asdict(self)


def make_record(
    output: Output, estimate: Estimate, feature_space: str, comparable: bool, metric: str, space_label: str = ""
) -> MetricRecord:
    """Label ``estimate`` with its declaration.

    Args:
        output, estimate: the declaration and the computed value.
        feature_space: where it was measured, e.g. ``"resnet18:pool"``.
        comparable: whether the number compares with published values (then the published label is used).
        metric: the metric's name.
        space_label: the space in words for labels (``"resnet18"``, ``"resnet18 layer3"``); default: the
            extractor part of ``feature_space``.
    """
    space = space_label or (feature_space.split(":")[0] if feature_space else "precomputed")
    return MetricRecord(
        key=output.key,
        label=output.display_label(space, comparable),
        value=float(estimate.value),
        low=estimate.low,
        high=estimate.high,
        std=estimate.std,
        stderr=estimate.stderr,
        direction=output.direction.kind,
        ideal=output.direction.ideal,
        lower=output.lower,
        upper=output.upper,
        description=f"{output.description}; {estimate.note}" if estimate.note else output.description,
        feature_space=feature_space,
        comparable_with_published=comparable,
        metric=metric,
        layer=output.layer,
        protocol=output.protocol,
    )


# How reports show a spread that is no spread at all (every subset was the whole set): never as "± 0", which reads
# as no uncertainty.
NO_SPREAD_TEXT = "no spread: every subset was the whole set"


def no_spread(std: float | None, value: float) -> bool:
    """Whether a spread over subsets or splits is zero up to float64 round-off (every subset gave one value)."""
    return std is not None and math.isfinite(std) and abs(std) <= 1e-9 * max(1.0, abs(value))


def binomial_stderr(value: float, count: int) -> float:
    """Standard error of a proportion over ``count`` samples, never 0 (Agresti-Coull style: one success and one
    failure added), so a proportion of exactly 0 or 1 still allows for one sample changing sides."""
    if count < 1 or not math.isfinite(value):
        return math.nan
    adjusted = (value * count + 1.0) / (count + 2.0)
    return math.sqrt(adjusted * (1.0 - adjusted) / count)


@dataclass(frozen=True)
class ReportOptions:
    """What a report computes beyond ``compute()`` (the richer views), the same for every metric.

    Attributes:
        seed: seed of every resampling (bootstrap, permutations, half-samples).
        bootstrap: random halves behind the precision/recall/density/coverage intervals (0: none; each costs a k-NN
            search on half the samples).
        permutations: label shuffles of the 1-NN permutation p-value.
        noise_resamples: random halves for the half-sample standard errors (0, the default: none; they cost one
            computation of the metric on half the samples each).
    """

    seed: int = defaults.SEED
    bootstrap: int = defaults.BOOTSTRAP
    permutations: int = defaults.PERMUTATIONS
    noise_resamples: int = 0
