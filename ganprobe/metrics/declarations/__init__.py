"""Each metric's identity, declared once and importable without torch: one small module per metric.

A module here holds ``DECLARATION``, a :class:`MetricDeclaration`: the metric's name (the evaluator's, the CLI's
``--metrics`` and ``--set`` name), its outputs (key, label, direction, bounds, uncertainty; see
:mod:`ganprobe.metrics.records`), its settings (each a :class:`Setting`: name, default, type, help), what it offers
beyond numbers (closest pairs, image paths), how the evaluator feeds it, and the dotted paths of its torchmetrics
class and of its scorer (the same math without torchmetrics, :mod:`ganprobe.scorers`). The classes take these
attributes from the declaration (``declaration = DECLARATION``), while the registry
(:mod:`ganprobe.metrics.registry`), the settings table (:mod:`ganprobe.defaults`), the help texts, gates and schema
read them here without importing a class, so ``ganprobe --help`` needs no torch. A metric outside ganprobe joins
with the same declaration (:func:`ganprobe.metrics.registry.register_metric`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganprobe.metrics.records import Output
from ganprobe.metrics.sample_size import SampleRule


@dataclass(frozen=True)
class Setting:
    """One metric setting: a keyword argument of the metric's class, settable as ``--set METRIC.NAME=VALUE``.

    Attributes:
        name: the keyword argument (``subset_size``).
        default: its default, which the class's signature must use (checked when the class is defined).
        kind: the type a text value (``--set``) is parsed as: ``int``, ``float``, ``bool`` or ``str``.
        help: what it does, in a few words (``ganprobe evaluate --help``).
        choices: for a list of names (``protocols``), the names allowed; the value is a tuple of them.
        cli_flag: a command-line shorthand for ``--set METRIC.NAME=VALUE`` (``--fid-infinity``; a ``bool`` setting's
            flag sets it true, another takes the value). Built-in metrics only: a registered metric's settings are
            set with ``--set``.
    """

    name: str
    default: Any
    kind: type
    help: str
    choices: tuple[str, ...] = ()
    cli_flag: str = ""


@dataclass(frozen=True)
class MetricDeclaration:
    """What a metric is, apart from its math.

    Attributes:
        name: the metric's name (``fid``, ``precision_recall``): evaluator, ``--metrics``, ``--set``, settings table.
        metric_class: ``"package.module:Class"`` of the torchmetrics class, imported only when it is needed.
        outputs: one :class:`~ganprobe.metrics.records.Output` per number it reports; the first is its primary one
            (torchmetrics' ``higher_is_better`` and plot bounds come from it).
        needs_logits: fed from the extractor's class logits (Inception Score).
        uses_real: the evaluator feeds it the real set too.
        seeded: takes a ``seed`` (the evaluator passes its own).
        report_order: where the metric goes in reports, tables and the metric list (lower: earlier; registered
            metrics follow the built-ins).
        verdict_rank: where the metric's verdict goes at the top of a report (lower: earlier), and how far the verdict
            trusts it when metrics disagree on one question (lower: trusted first).
        title: the metric in words for sample-size lines and the verdict (``FID``, ``precision/recall``).
        trust_reason: why the verdict trusts this metric over those ranked after it when they disagree.
        sample_rule: from which sample size per set its headline number is trustworthy (see
            :mod:`ganprobe.metrics.sample_size`); reports state it first and the verdict obeys it.
        scorer_class: ``"package.module:Class"`` of its scorer (:class:`~ganprobe.scorers.base.FeatureScorer`), which
            the evaluator runs without torchmetrics where no state needs syncing; empty: the evaluator runs
            ``metric_class``.
        settings: its settings, in help order (the keyword arguments that ``evaluate(settings=...)``, ``--set`` and
            the plugin can set).
        closest_pairs: it offers ``most_suspicious(count)``, the fakes closest to a real image, which reports list
            as pairs (the JSON report's ``memorization_pairs``, the HTML thumbnails).
        takes_image_paths: it takes ``set_paths(real=..., fake=...)``, the file of every row, which the evaluator
            passes so that its pairs name files.
    """

    name: str
    metric_class: str
    outputs: tuple[Output, ...]
    needs_logits: bool = False
    uses_real: bool = True
    seeded: bool = False
    report_order: int = 100
    verdict_rank: int = 50
    title: str = ""
    trust_reason: str = ""
    sample_rule: SampleRule = SampleRule()
    scorer_class: str = ""
    settings: tuple[Setting, ...] = ()
    closest_pairs: bool = False
    takes_image_paths: bool = False

    @property
    def per_layer(self) -> bool:
        """Whether it reports a per-layer table: an output whose key is a ``{layer}``/``{protocol}`` template."""
        return any(output.is_template for output in self.outputs)

    def default(self, name: str) -> Any:
        """The default of its setting ``name`` (what the class's signature uses).

        Raises:
            KeyError: it has no such setting (the message lists those it has).
        """
        return self.setting(name).default

    def setting(self, name: str) -> Setting:
        """Its setting ``name``.

        Raises:
            KeyError: it has no such setting (the message lists those it has).
        """
        for entry in self.settings:
            if entry.name == name:
                return entry
        raise KeyError(f"{self.name} has no setting {name!r}; its settings: {[entry.name for entry in self.settings]}")
