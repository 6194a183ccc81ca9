"""The torchmetrics side of ganprobe's metrics: :class:`FeatureMetric` is a scorer
(:class:`ganprobe.scorers.base.FeatureScorer`) on torchmetrics' ``Metric`` states, with DDP sync, the compute cache,
``merge_state`` and ``plot``."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torchmetrics import Metric

from ganprobe.scorers.base import Features, FeatureScorer, MetricValue, SingleLayerScorer
from ganprobe.utils.distributed import fill_empty_states

__all__ = ["Features", "FeatureMetric", "MetricValue", "SingleLayerMetric"]


class FeatureMetric(FeatureScorer, Metric):
    """Base class of ganprobe's torchmetrics metrics: a :class:`~ganprobe.scorers.base.FeatureScorer` (features
    per layer, declared outputs, reports; what ``update``, ``compute()`` and ``forward`` take and return is
    documented there) whose states are torchmetrics states. Under DDP, torchmetrics gathers every rank's features
    before ``compute()``; every other public compute method syncs the same way (custom ``dist_sync_fn`` included).

    A metric is its scorer class mixed with this one: ``class FID(FIDScorer, SingleLayerMetric)``. The scorer
    (:mod:`ganprobe.scorers`) holds the math, the declaration and the reports; this class adds what torchmetrics
    does (sync, compute cache, ``merge_state``, ``plot``).

    Args:
        extractor: a registry name, a :class:`~ganprobe.extractors.base.FeatureExtractor`, or ``None`` for
            precomputed features.
        layers: layer names; ``None`` means the extractor's default layer.
        extractor_kwargs: passed to the registry factory when ``extractor`` is a name (e.g. ``weights_path``).
        kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ``process_group``, ``compute_on_cpu``...).
    """

    is_differentiable = False
    full_state_update = False

    def _wrap_compute(self, compute: Any) -> Any:
        """torchmetrics' compute wrapper (sync, cache), inside :meth:`_sample_warnings_once` for every subclass."""
        wrapped = super()._wrap_compute(compute)

        @functools.wraps(wrapped)
        def warn_once(*args: Any, **kwargs: Any) -> Any:
            with self._sample_warnings_once():
                return wrapped(*args, **kwargs)

        return warn_once

    def merge_state(self, incoming_state: dict[str, Any] | Metric) -> None:
        """Add another metric's states (or a state dict) to this one, and forget any cached ``compute()`` result
        (torchmetrics' ``merge_state`` keeps it, which would return the value from before the merge)."""
        super().merge_state(incoming_state)
        if isinstance(incoming_state, Metric):
            self._update_count += incoming_state._update_count
        self._computed = None
        self._warned = set()

    def _sync_dist(self, dist_sync_fn: Any = None, process_group: Any = None) -> None:
        """torchmetrics' sync, after giving each state that holds no rows on this rank the shape the other ranks
        hold (a zero-row block for a ``cat`` list, zeros for a lazily sized sum): torchmetrics would send a 1-D empty
        tensor against the others' ``(N, D)`` rows, and the collectives fall out of step."""
        fill_empty_states(self, process_group or self.process_group)
        if dist_sync_fn is None:
            super()._sync_dist(process_group=process_group)
        else:
            super()._sync_dist(dist_sync_fn, process_group=process_group)

    @contextmanager
    def synced(self) -> Iterator[None]:
        """Sync the states over processes for the duration (as ``compute()`` does, with the metric's own
        ``dist_sync_fn`` and ``process_group``); a no-op when already synced or not distributed."""
        if self._is_synced:
            yield
            return
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute, should_unsync=True):
            yield

    def plot(self, val: MetricValue | Sequence[MetricValue] | None = None, ax: Any = None) -> Any:
        """Plot a value of :meth:`compute` (or a list of them, e.g. one per epoch) with torchmetrics' plot helper.

        Args:
            val: a result of :meth:`compute` or a sequence of them; ``None`` computes the current value.
            ax: a matplotlib axis to draw on (``None``: a new figure).

        Returns:
            ``(figure, axis)``.
        """
        return self._plot(val, ax)


class SingleLayerMetric(SingleLayerScorer, FeatureMetric):
    """A metric over one layer's features (every score except :class:`~ganprobe.metrics.LayerSeparability`).

    Args:
        extractor: a registry name, a :class:`~ganprobe.extractors.base.FeatureExtractor`, or ``None`` for
            precomputed ``(N, D)`` features.
        layer: the extractor layer to use (default: the extractor's default layer, its pooled embedding).
        extractor_kwargs, kwargs: as in :class:`FeatureMetric`.
    """
