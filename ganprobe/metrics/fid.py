"""``FID``: Fréchet distance between Gaussian fits of real and fake features, a torchmetrics metric
(its logic: :mod:`ganprobe.scorers.fid`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ganprobe.metrics.base import FeatureMetric, SingleLayerMetric
from ganprobe.scorers.fid import PUBLISHED_LAYER, FIDScorer, official_inception, with_reference

__all__ = ["FID", "PUBLISHED_LAYER", "official_inception", "with_reference"]


class FID(FIDScorer, SingleLayerMetric):
    r"""Fréchet distance between Gaussian fits of real and fake features (FID when the features are Inception's).

    .. math:: \mathrm{FID} = \lVert\mu_r - \mu_f\rVert^2 + \operatorname{tr}\Sigma_r + \operatorname{tr}\Sigma_f
              - 2 \operatorname{tr}\big(\Sigma_r^{1/2} \Sigma_f \Sigma_r^{1/2}\big)^{1/2}

    (Heusel et al. 2017; see :func:`ganprobe.functional.frechet.frechet_distance` for the numerics: float64,
    symmetric eigensolvers only, never complex.) 0 means the two Gaussian fits coincide; lower is better. Values
    are in squared feature units: only numbers from the same extractor and layer compare, and only
    ``extractor="inception-fid"`` with the ``pool`` layer gives numbers comparable with published FIDs
    (:attr:`comparable_with_published`). FID is biased upwards by roughly ``b / N`` with a model-dependent ``b``;
    compare models at equal ``N``, or use :meth:`compute_infinity`.

    States are running float64 sums per class (``sum`` ``(D,)``, ``outer_sum`` ``(D, D)``, ``count``), reduced by
    ``sum`` under DDP, so memory does not grow with ``N`` and batch sizes change the result only by round-off.
    ``keep_features=True`` also keeps every row (``cat``-synced), needed by :meth:`compute_interval` and
    :meth:`compute_infinity`; ``compute()`` then takes the rows' ``N x N`` Gram route when it is cheaper than the
    ``D x D`` one (fewer samples than about ``D``; see :func:`ganprobe.functional.frechet.fid_route`), the same
    value up to float64 round-off.

    Feature width ``D``: ``feature_dim`` fixes it up front (later updates of another width raise); by default the
    states start empty and take their width from the first ``update`` (and return to empty on ``reset``), so
    constructing the metric costs no forward pass. Under DDP, lazily sized states need every rank to see at least
    one batch before ``compute()`` (``DistributedSampler`` ensures it); otherwise pass ``feature_dim`` (2048 for
    ``inception-fid`` ``pool``).

    ``update(x, real)``: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``) when the metric has an extractor,
    else precomputed ``(N, D)`` features. ``compute()`` returns a scalar float64 tensor and warns (``UserWarning``)
    when either class has ``N <= D`` samples (singular covariance: finite but strongly biased).

    Per class: ``update(x, real, labels=y)`` with ``y`` an integer ``(N,)`` tensor of class indices, one per row (in
    every update or in none), keeps the labels as ``cat``-synced states; :meth:`compute_per_class` then returns
    this metric on each class's reals against its fakes, one record per class with its counts and values, or a
    reason below the headline sample-size rule (see :mod:`ganprobe.scorers.per_class`);
    :meth:`compute_per_class_dict` flattens them for ``self.log_dict`` (``val/<value>/<class>``).
    Per-class FID needs the rows: ``keep_features=True``.

    Args:
        extractor: a registry name (default ``"efficientnet-lite0"``), a ``FeatureExtractor``, or ``None`` to
            ``update`` with precomputed features.
        layer: the extractor layer to compare (default: the extractor's pooled features).
        extractor_kwargs: passed to the extractor factory when ``extractor`` is a name.
        feature_dim: the feature width ``D``, or ``None`` to take it from the first update; see above.
        keep_features: also store every feature row (memory grows with ``N``).
        bootstrap: random halves behind the interval of the records a report holds (:meth:`records`; 0, the
            default: no interval; see :meth:`compute_interval`); implies ``keep_features``. Also
            ``--set fid.bootstrap=N`` or ``--fid-bootstrap N`` on the command line.
        infinity: reports also hold FID-infinity (``fid_infinity``, :meth:`compute_infinity`; 15 extra FIDs);
            implies ``keep_features``. Also ``--set fid.infinity=true`` or ``--fid-infinity``.
        kwargs: torchmetrics ``Metric`` options.

    Raises:
        InputError: bad arguments; at ``update``: wrong shapes, dtypes, or a width other than ``feature_dim``; at
            ``compute``: fewer than 2 samples of a class.

    Example:
        >>> import torch
        >>> metric = FID(extractor=None)
        >>> real = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
        >>> metric.update(real, real=True)
        >>> metric.update(real + 1.0, real=False)  # a shift of 1 in each of 8 dimensions
        >>> round(float(metric.compute()), 6)
        8.0
    """

    def merge_state(self, incoming_state: dict[str, Any] | FeatureMetric) -> None:
        """Add another FID's states (or a state dict) to this one; a fresh metric takes the incoming width."""
        incoming = incoming_state.metric_state if isinstance(incoming_state, FeatureMetric) else incoming_state
        width = incoming.get("real_sum", torch.zeros(0)).shape[0] if isinstance(incoming, Mapping) else 0
        if self.real_sum.shape[0] == 0 and width:
            self._resize_sums(width, incoming["real_sum"].device)
        super().merge_state(incoming_state)
