"""Each metric's identity, declared once and importable without torch: one small module per metric.

A module here holds ``DECLARATION``, a :class:`MetricDeclaration`: the metric's name (the evaluator's, the CLI's
``--metrics`` and ``--set`` name), its outputs (key, label, direction, bounds, uncertainty; see
:mod:`ganprobe.metrics.outputs`), how the evaluator feeds it, and the dotted paths of its torchmetrics class and of
its scorer (the same math without torchmetrics, :mod:`ganprobe.scorers`). The classes take these attributes from
the declaration (``declaration = DECLARATION``), while the registry (:mod:`ganprobe.metrics.registry`), the help
texts, gates and schema read them here without importing a class, so ``ganprobe --help`` needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganprobe.metrics.outputs import Output
from ganprobe.metrics.sample_size import SampleRule


@dataclass(frozen=True)
class MetricDeclaration:
    """What a metric is, apart from its math.

    Attributes:
        name: the metric's name (``fid``, ``precision_recall``): evaluator, ``--metrics``, ``--set``, settings table.
        metric_class: ``"package.module:Class"`` of the torchmetrics class, imported only when it is needed.
        outputs: one :class:`~ganprobe.metrics.outputs.Output` per number it reports; the first is its primary one
            (torchmetrics' ``higher_is_better`` and plot bounds come from it).
        needs_logits: fed from the extractor's class logits (Inception Score).
        uses_real: the evaluator feeds it the real set too.
        seeded: takes a ``seed`` (the evaluator passes its own).
        verdict_rank: where the metric's verdict goes at the top of a report (lower: earlier), and how far the verdict
            trusts it when metrics disagree on one question (lower: trusted first).
        title: the metric in words for sample-size lines and the verdict (``FID``, ``precision/recall``).
        trust_reason: why the verdict trusts this metric over those ranked after it when they disagree.
        sample_rule: from which sample size per set its headline number is trustworthy (see
            :mod:`ganprobe.metrics.sample_size`); reports state it first and the verdict obeys it.
        scorer_class: ``"package.module:Class"`` of its scorer (:class:`~ganprobe.scorers.base.FeatureScorer`), which
            the evaluator runs without torchmetrics where no state needs syncing; empty: the evaluator runs
            ``metric_class``.
    """

    name: str
    metric_class: str
    outputs: tuple[Output, ...]
    needs_logits: bool = False
    uses_real: bool = True
    seeded: bool = False
    verdict_rank: int = 50
    title: str = ""
    trust_reason: str = ""
    sample_rule: SampleRule = SampleRule()
    scorer_class: str = ""
