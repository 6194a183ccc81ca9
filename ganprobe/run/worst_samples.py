"""The least realistic fakes and the least covered reals of a run, with their files and classes.

:func:`worst_samples` ranks the fakes by their realism score and the reals by how far the nearest fake lies outside
their k-NN ball (:func:`~ganprobe.functional.realism.realism_details`), on the features the run already holds; the
run adds the first separable layer's probe lists (:mod:`ganprobe.run.probe_samples`). Reported as the JSON
``worst_samples`` section, a terminal table and captioned grids in the HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ganprobe.data.labels import ClassLabels
from ganprobe.functional.realism import REALISM_K, realism_details
from ganprobe.run.probe_samples import ProbeSamples


@dataclass
class WorstSamples:
    """The least realistic fakes and the least covered reals (:func:`~ganprobe.functional.realism.realism_details`).

    Attributes:
        layer: the feature layer.
        k, coverage_k: the neighbours of the realism score and of the coverage balls.
        fakes: ``[{"index", "path", "class", "realism"}]``, least realistic first.
        reals: ``[{"index", "path", "class", "coverage_ratio"}]``, least covered first.
        reason: why the lists are empty (too few reals), else empty.
        probe: the fakes the first separable layer's probe calls most fake, and those it catches that the last
            layer's misses (:func:`~ganprobe.run.probe_samples.probe_samples`); ``None`` until the run adds it.
        fake_labels: the fakes' row labels (class names of the probe's lists), or ``None``; not reported.
    """

    layer: str
    k: int
    coverage_k: int
    fakes: list[dict[str, Any]] = field(default_factory=list)
    reals: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    probe: ProbeSamples | None = None
    fake_labels: ClassLabels | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's ``worst_samples`` section."""
        return {
            "layer": self.layer,
            "k": self.k,
            "coverage_k": self.coverage_k,
            "least_realistic_fakes": self.fakes,
            "least_covered_reals": self.reals,
            "reason": self.reason or None,
            "probe": self.probe.as_dict() if self.probe is not None else None,
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
    fake_labels = labels[1] if labels is not None else None
    if real.shape[0] < least:
        reason = f"needs at least {least} reals, got {real.shape[0]}"
        return WorstSamples(layer, REALISM_K, coverage_k, reason=reason, fake_labels=fake_labels)
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
    return WorstSamples(layer, details.k, details.coverage_k, fakes, reals, fake_labels=fake_labels)
