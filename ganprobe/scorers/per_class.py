"""Per-class values of a scorer: ``update(x, real=..., labels=y)`` keeps each row's class, and
:meth:`PerClassScorer.compute_per_class` computes the metric on each class's reals against its fakes.

The labels are two more ``cat``-reduced list states (``real_labels``, ``fake_labels``), gathered under DDP exactly
like the feature rows, so row ``i`` of the synced features keeps its label. The math is the functional layer's
:func:`~ganprobe.functional.per_class.per_class_metrics` on the synced rows: each class is held to the metric's own
headline sample-size rule (evaluated with its settings), and gets a reason instead of a number below it.

Either every update of a metric gives labels or none does (a batch without labels among labelled ones would leave
rows without a class); mixing is refused at the update that mixes, with an :class:`~ganprobe.errors.InputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.functional.class_distribution import check_labels
from ganprobe.functional.per_class import ClassMetrics, per_class_metrics
from ganprobe.scorers.base import Features, SingleLayerScorer, cat_rows

LABEL_STATES = ("real_labels", "fake_labels")


class PerClassScorer(SingleLayerScorer):
    """A one-layer scorer that also takes class labels and computes its values per class.

    Subclasses (FID, KID, precision/recall, density/coverage, 1-NN LOO) keep their rows (``real_0``/``fake_0``)
    and name their settings for :func:`~ganprobe.functional.per_class.per_class_metrics` in
    :meth:`_per_class_settings`; the metric group is the declaration's ``name``.
    """

    def _add_feature_states(self) -> None:
        """The feature rows (see the base class) and each row's class label, all ``cat``-synced lists."""
        super()._add_feature_states()
        for name in LABEL_STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        x: Tensor | Sequence[Tensor] | Mapping[str, Tensor] | Features,
        real: bool,
        labels: Tensor | None = None,
    ) -> None:
        """Add a batch of real or fake samples, optionally with their class labels.

        Args:
            x: images, :class:`~ganprobe.scorers.base.Features` or precomputed ``(N, D)`` features, as in
                :meth:`ganprobe.scorers.base.FeatureScorer.update`.
            real: ``True`` for real samples, ``False`` for generated ones.
            labels: ``None``, or an integer ``(N,)`` tensor of class indices ``>= 0``, one per row of ``x`` (give
                them in every update of this metric or in none); needed by :meth:`compute_per_class`.

        Raises:
            InputError: bad features; labels of the wrong shape, dtype or length, negative, or given in some
                updates and not in others.
        """
        self._add_batch(x, real, labels)

    def update_features(
        self, features: Tensor | Mapping[str, Tensor], real: bool, labels: Tensor | None = None
    ) -> None:
        """Add precomputed features (see :meth:`ganprobe.scorers.base.FeatureScorer.update_features`) and, optionally,
        their ``(N,)`` class labels (as in :meth:`update`)."""
        if isinstance(features, Tensor):
            features = self._as_feature_dict(features)
        if not isinstance(features, Mapping):
            raise InputError(f"features: expected a tensor or a dict of tensors, got {type(features).__name__}")
        self.update(Features(features), real, labels=labels)

    # ---------------------------------------------------------------------------------------------------- labels
    def _has_label_states(self) -> bool:
        return all(name in self._defaults for name in LABEL_STATES)

    @staticmethod
    def _count(parts: Tensor | list[Tensor]) -> int:
        if isinstance(parts, Tensor):
            return int(parts.shape[0])
        return sum(int(part.shape[0]) for part in parts)

    def _stored_row_count(self) -> int:
        """Feature rows stored so far (both sets), without syncing."""
        return self._count(self.real_0) + self._count(self.fake_0)

    def _label_rows(self, labels: Any, real: bool, rows: int) -> Tensor | None:
        """Validate a batch's labels against its ``rows`` and the earlier updates; the labels on the metric's device."""
        if not self._has_label_states():
            if labels is None:
                return None
            raise InputError(self._no_label_states_message())
        stored_rows = self._stored_row_count()
        labelled = self._count(self.real_labels) + self._count(self.fake_labels) > 0
        if labels is None:
            if labelled:
                raise InputError(
                    "labels: earlier updates gave labels but this one does not; give labels= in every update of "
                    "a metric or in none (reset() to start over)"
                )
            return None
        if stored_rows and not labelled:
            raise InputError(
                "labels: given in this update but not in the earlier ones; give labels= in every update of a metric "
                "or in none (reset() to start over)"
            )
        checked = check_labels(labels, "labels")
        if checked.shape[0] != rows:
            raise InputError(f"labels: {checked.shape[0]} labels for the {rows} rows of this batch")
        return checked.to(self.device)

    def _no_label_states_message(self) -> str:
        return f"labels: {type(self).__name__} keeps no feature rows, so it cannot keep their labels"

    def _accumulate_labels(self, labels: Tensor, real: bool) -> None:
        # A copy of the list, as for the features: compute groups of a MetricCollection share these lists.
        name = "real_labels" if real else "fake_labels"
        setattr(self, name, [*getattr(self, name), labels])

    # --------------------------------------------------------------------------------------------------- compute
    def _per_class_settings(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~ganprobe.functional.per_class.per_class_metrics` that carry this metric's
        settings (its ``k``, KID's subsets...)."""
        return {}

    def _per_class_required(self, dimension: int) -> int:
        """The samples per set a class needs: the metric's headline rule, evaluated with its own settings."""
        declaration = self.declaration
        if declaration is None:
            return 1
        rule = declaration.sample_rule
        settings = {rule.above_setting[0]: getattr(self, rule.above_setting[0], None)} if rule.above_setting else {}
        return rule.required(dimension, settings)

    def compute_per_class(self, names: Sequence[str] | None = None) -> list[ClassMetrics]:
        """This metric on each class's reals against that class's fakes (synced under DDP).

        Computed by :func:`~ganprobe.functional.per_class.per_class_metrics` on all stored rows and labels, with
        this metric's settings. A class below the metric's headline sample-size rule, or with no fakes (or no
        reals), gets a reason instead of a number.

        Args:
            names: class names, index order (default ``"0"``, ``"1"``..., up to the largest label).

        Returns:
            One :class:`~ganprobe.functional.per_class.ClassMetrics` per class, in index order: ``name``, ``index``,
            ``num_real``, ``num_fake``, ``values`` (``{value name: number}``, e.g. precision and recall; empty
            without a number) and ``reasons`` (``{metric name: why there is no number}``).

        Raises:
            InputError: no labels were given to ``update``, a set is empty, or ``names`` is shorter than the labels.
        """
        with self.synced():
            real, fake = self.stored_features()
            if not self._has_label_states() or not (self._count(self.real_labels) or self._count(self.fake_labels)):
                raise InputError(
                    f"compute_per_class: {type(self).__name__} was updated without labels; pass "
                    "update(x, real=..., labels=y)"
                )
            real_labels, fake_labels = cat_rows(self.real_labels), cat_rows(self.fake_labels)
            real_rows, fake_rows = real[self.layer], fake[self.layer]
            group = self.name
            result = per_class_metrics(
                real_rows,
                fake_rows,
                real_labels,
                fake_labels,
                names=names,
                metrics=(group,),
                required={group: self._per_class_required(real_rows.shape[1])},
                **self._per_class_settings(),
            )
        return list(result.classes)

    def compute_per_class_dict(self, prefix: str = "", names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """:meth:`compute_per_class` as a flat ``{"<prefix><value>/<class name>": 0-d float64 tensor}`` dict, e.g.
        ``{"val/recall/7": ...}``: what Lightning's ``self.log_dict`` takes. Classes without a number are left out
        (their reasons are in :meth:`compute_per_class`).

        Args:
            prefix: put before every key (``"val/"``).
            names: class names, as in :meth:`compute_per_class`.
        """
        return {
            f"{prefix}{key}/{record.name}": torch.tensor(value, dtype=torch.float64)
            for record in self.compute_per_class(names)
            for key, value in record.values.items()
        }
