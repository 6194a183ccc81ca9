"""Which fakes a real-vs-fake probe calls fake, and which the first separable layer catches that the last misses.

A run with ``layer_separability`` (linear probe protocol) knows its first separable layer: the first block whose
held-out linear probe tells fakes from reals (:data:`~ganprobe.defaults.SEPARABLE_THRESHOLD`). With ``worst > 0``,
:func:`probe_samples` gives each fake its held-out probability "fake" from that probe
(:func:`~ganprobe.functional.probe_accuracy.fake_probabilities`: every fake is scored by a probe trained on the other
folds, so no fake grades itself), lists the most obviously fake ones, and lists the fakes that probe catches
(probability > 0.5) while the probe on the last layer does not: what the early layers object to (texture, colour,
artefacts) that the late, semantic layers let pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ganprobe.data.labels import ClassLabels
from ganprobe.errors import InputError
from ganprobe.functional.probe_accuracy import fake_probabilities

PROTOCOL = "linear_probe"


@dataclass
class ProbeSamples:
    """The probe's view of single fakes.

    Attributes:
        first_layer: the first separable layer (whose probe scores the fakes), or ``None``.
        last_layer: the last layer of the separability table, or ``None``.
        accuracy: held-out accuracy of the first layer's probes over all samples (0.5: chance), or ``None``.
        last_accuracy: the same at the last layer, or ``None``.
        most_fake: ``[{"index", "path", "class", "fake_probability"}]``, most obviously fake first.
        caught_early: ``[{"index", "path", "class", "fake_probability", "fake_probability_last"}]``: fakes the
            first layer's probe calls fake and the last layer's does not, most confidently caught first.
        caught_early_count: how many fakes are caught early in all (the list holds at most ``worst``).
        reason: why the lists are empty (no separability run, no separable layer), else empty.
        caught_early_reason: why ``caught_early`` is empty although ``most_fake`` is not (the first separable
            layer is the last layer), else empty.
    """

    first_layer: str | None = None
    last_layer: str | None = None
    accuracy: float | None = None
    last_accuracy: float | None = None
    most_fake: list[dict[str, Any]] = field(default_factory=list)
    caught_early: list[dict[str, Any]] = field(default_factory=list)
    caught_early_count: int = 0
    reason: str = ""
    caught_early_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's ``worst_samples.probe`` section."""
        return {
            "first_layer": self.first_layer,
            "last_layer": self.last_layer,
            "accuracy": self.accuracy,
            "last_accuracy": self.last_accuracy,
            "most_fake": self.most_fake,
            "caught_early": self.caught_early,
            "caught_early_count": self.caught_early_count,
            "reason": self.reason or None,
            "caught_early_reason": self.caught_early_reason or None,
        }


def probe_samples(
    features: Mapping[str, Mapping[str, Tensor]],
    paths: Mapping[str, Sequence[str | None]],
    table: Mapping[str, Mapping[str, float]],
    first: str | None,
    count: int,
    seed: int,
    labels: ClassLabels | None = None,
) -> ProbeSamples:
    """Score every fake with the held-out probe of the first separable layer; list the ``count`` most fake and the
    ``count`` caught there but not at the last layer.

    Args:
        features: ``{"real": {layer: (N, D)}, "fake": {layer: (M, D)}}`` as extracted.
        paths: each row's file per set (``None`` for rows from tensors).
        table: the run's separability table ``{layer: {protocol: accuracy}}`` (layer order: the network's).
        first: the first separable layer (``None``: no layer separates the sets).
        count: how many fakes to list.
        seed: the seed of the probes' folds.
        labels: the fakes' row labels, or ``None``.

    Returns:
        A :class:`ProbeSamples`; its ``reason`` says why it is empty.
    """
    if not table or any(PROTOCOL not in scores for scores in table.values()):
        return ProbeSamples(reason="needs the layer_separability metric with its linear_probe protocol")
    last = list(table)[-1]
    if first is None:
        return ProbeSamples(last_layer=last, reason="no layer separates the fakes from the reals")
    try:
        early = fake_probabilities(features["real"][first], features["fake"][first], seed=seed)
        late = early if last == first else fake_probabilities(features["real"][last], features["fake"][last], seed=seed)
    except InputError as error:
        return ProbeSamples(first, last, reason=f"no probe: {error}")
    files = paths.get("fake", [])

    def entry(index: int, *extra: tuple[str, float]) -> dict[str, Any]:
        return {
            "index": index,
            "path": files[index] if index < len(files) else None,
            "class": labels.names[int(labels.indices[index])] if labels is not None else None,
            **dict(extra),
        }

    most = [entry(int(i), ("fake_probability", float(early.fake[i]))) for i in early.most_fake(count)]
    result = ProbeSamples(first, last, early.accuracy, late.accuracy, most)
    if last == first:
        result.caught_early_reason = f"the first separable layer ({first}) is the last layer"
        return result
    caught = early.caught_unlike(late)
    result.caught_early_count = int(caught.shape[0])
    result.caught_early = [
        entry(int(i), ("fake_probability", float(early.fake[i])), ("fake_probability_last", float(late.fake[i])))
        for i in caught[: max(0, count)]
    ]
    return result
