"""Are the sets large enough for a headline number? One rule per metric, declared with it (torch-free).

A metric can be *computed* on a handful of samples (:meth:`~ganprobe.metrics.base.FeatureMetric.minimum_samples`
refuses fewer), but its number only means what it claims from a larger sample on: FID's covariance fits are
rank-deficient below the feature dimension, KID's spread over subsets says nothing when every subset is the whole
set, k-NN balls from a few dozen samples are too coarse for precision and recall. A :class:`SampleRule` states that
size in the metric's declaration; :class:`SampleCheck` is its answer for one run, which the reports print first and
the verdict (:mod:`ganprobe.report.verdict`) obeys: it never draws a conclusion from a number whose check failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SampleRule:
    """The smallest sample per set from which a metric's headline number is trustworthy.

    The required count is the largest of ``min_per_set``, ``dimension + 1`` (with ``above_dimension``) and
    ``factor * settings[setting] + 1`` (with ``above_setting = (setting, factor)``): a count must *exceed* the
    feature dimension or the setting's multiple.

    Attributes:
        min_per_set: a floor for every run.
        above_dimension: the count must exceed the feature dimension (covariance fits of full rank).
        above_setting: ``(setting, factor)``: the count must exceed ``factor`` times that metric setting.
        why: what goes wrong below the required count, in a few words (printed after "too few for ...").
    """

    min_per_set: int = 2
    above_dimension: bool = False
    above_setting: tuple[str, float] | None = None
    why: str = ""

    def required(self, dimension: int | None, settings: Mapping[str, Any]) -> int:
        """The smallest count per set that satisfies the rule for features of ``dimension`` and these settings."""
        needed = self.min_per_set
        if self.above_dimension and dimension is not None:
            needed = max(needed, dimension + 1)
        if self.above_setting is not None:
            name, factor = self.above_setting
            value = settings.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                needed = max(needed, math.floor(factor * value) + 1)
        return needed


@dataclass(frozen=True)
class SampleCheck:
    """Whether one run's sets are large enough for one metric's headline number.

    Attributes:
        metric: the metric's name (``fid``).
        label: its name in words (``FID``).
        required: the count per set the rule asks for.
        real, fake: the counts the metric saw (``None`` for a set it does not use, e.g. the Inception Score's reals).
        dimension: the feature dimension the rule was evaluated at (``None``: not used by the rule).
        enough: whether every used set reaches ``required``.
        why: what goes wrong below it.
    """

    metric: str
    label: str
    required: int
    real: int | None
    fake: int | None
    dimension: int | None
    enough: bool
    why: str

    def smallest(self) -> int:
        """The smaller of the used sets' counts."""
        return min(count for count in (self.real, self.fake) if count is not None)

    def describe(self) -> str:
        """One line: ``FID: too few (64 per set; needs 1,281: ...)`` or ``1-NN LOO: enough (64 >= 25 per set)``."""
        if self.enough:
            return f"{self.label}: enough ({self.smallest():,} >= {self.required:,} per set)"
        return f"{self.label}: too few ({self.smallest():,} per set; needs {self.required:,}: {self.why})"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the report's ``sample_size`` entries)."""
        return asdict(self)


def check_sample(
    rule: SampleRule,
    metric: str,
    label: str,
    real: int | None,
    fake: int | None,
    dimension: int | None,
    settings: Mapping[str, Any],
) -> SampleCheck:
    """Apply ``rule`` to one run's counts (``None`` for a set the metric does not use)."""
    required = rule.required(dimension, settings)
    used = [count for count in (real, fake) if count is not None]
    enough = bool(used) and min(used) >= required
    shown_dimension = dimension if rule.above_dimension else None
    return SampleCheck(metric, label, required, real, fake, shown_dimension, enough, rule.why)
