"""Shared machinery of ganprobe's metrics: an optional extractor, per-layer real/fake feature states, DDP sync."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from ganprobe.data.sources import ImageSource
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import DEFAULT_EXTRACTOR, get_extractor
from ganprobe.features.extract import iter_features


class FeatureMetric(Metric):
    """Base class: keeps real and fake features per layer as ``cat``-reduced list states.

    ``update(x, real)`` takes images (when the metric has an extractor) or precomputed features (when constructed
    with ``extractor=None``): a ``(N, D)`` tensor for a one-layer metric, a ``{layer: (N, D)}`` dict otherwise.
    Under DDP, torchmetrics gathers every rank's features before ``compute()``.

    Args:
        extractor: a registry name, a :class:`FeatureExtractor`, or ``None`` for precomputed features.
        layers: layer names; ``None`` means the extractor's default layer.
        extractor_kwargs: passed to the registry factory when ``extractor`` is a name (e.g. ``weights_path``).
        kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ``process_group``, ...).
    """

    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layers: Sequence[str] | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.extractor = None if extractor is None else get_extractor(extractor, **dict(extractor_kwargs or {}))
        if self.extractor is not None:
            self.layers: tuple[str, ...] = self.extractor.resolve_layers(layers)
        elif layers is None:
            self.layers = ("features",)
        else:
            names = (layers,) if isinstance(layers, str) else tuple(layers)
            if not names or not all(isinstance(name, str) and name for name in names):
                raise InputError(f"layers: expected a non-empty list of layer names, got {layers!r}")
            self.layers = tuple(dict.fromkeys(names))
        self._widths: dict[str, int] = {}
        self._add_feature_states()

    def _add_feature_states(self) -> None:
        """Declare the states; the default keeps every feature row (``cat``-synced lists) per layer and class.

        Metrics that only need running sums (FID) override this and :meth:`_accumulate`.
        """
        for index in range(len(self.layers)):
            self.add_state(f"real_{index}", default=[], dist_reduce_fx="cat")
            self.add_state(f"fake_{index}", default=[], dist_reduce_fx="cat")

    def _accumulate(self, features: Mapping[str, Tensor], real: bool) -> None:
        """Fold one validated batch ``{layer: (N, D)}`` (on the metric's device) into the states."""
        prefix = "real" if real else "fake"
        for index, layer in enumerate(self.layers):
            getattr(self, f"{prefix}_{index}").append(features[layer])

    @property
    def feature_space(self) -> str:
        """Which features the metric measures, e.g. ``"efficientnet-lite0"`` or ``"precomputed"``."""
        return self.extractor.name if self.extractor is not None else "precomputed"

    def update(self, x: Tensor | Sequence[Tensor] | Mapping[str, Tensor], real: bool) -> None:
        """Add a batch of real or fake samples.

        Args:
            x: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``, or a list of CHW images) when the metric has
                an extractor; otherwise precomputed features ``(N, D)`` (one layer) or ``{layer: (N, D)}``.
            real: ``True`` for real samples, ``False`` for generated ones.
        """
        if not isinstance(real, bool):
            raise InputError(f"real: expected True or False, got {real!r}")
        if self.extractor is not None:
            if isinstance(x, Mapping):
                raise InputError("x: this metric has an extractor and takes images; pass extractor=None for features")
            features = self.extractor(x, layers=self.layers)
        else:
            features = self._as_feature_dict(x)
        self._store(features, real)

    def forward(self, *args: Any, **kwargs: Any) -> None:
        """Calling the metric adds the batch (like :meth:`update`) and returns ``None``.

        torchmetrics' default ``forward`` would compute the metric on the batch alone, which needs both real and fake
        samples and, when that fails, loses the accumulated state; these metrics are only defined over whole sets.
        """
        self.update(*args, **kwargs)

    def update_features(self, features: Tensor | Mapping[str, Tensor], real: bool) -> None:
        """Add precomputed features even when the metric has an extractor (one extraction pass feeding many metrics).

        Args:
            features: ``(N, D)`` for a one-layer metric, or ``{layer: (N, D)}`` holding at least this metric's layers
                (extra layers are ignored), computed by this metric's extractor.
            real: ``True`` for real samples, ``False`` for generated ones.
        """
        if not isinstance(real, bool):
            raise InputError(f"real: expected True or False, got {real!r}")
        if isinstance(features, Mapping):
            missing = [layer for layer in self.layers if layer not in features]
            if missing:
                raise InputError(f"features: missing layers {missing} needed by {type(self).__name__}")
            features = {layer: features[layer] for layer in self.layers}
        self._store(self._as_feature_dict(features), real)
        # What torchmetrics' update() wrapper does, so compute() neither warns nor returns a stale cache.
        self._update_count += 1
        self._computed = None

    def update_from(
        self,
        source: ImageSource,
        real: bool,
        batch_size: int = 64,
        num_samples: int | None = None,
        seed: int = 0,
        num_workers: int | None = None,
        progress: bool = False,
    ) -> None:
        """Add every image of a folder, tensor, DataLoader or generator callable (see :mod:`ganprobe.data`).

        Folders are decoded and preprocessed in worker processes while the backbone runs.
        """
        if self.extractor is None:
            raise InputError("update_from: this metric was built with extractor=None; pass features to update()")
        if not isinstance(real, bool):
            raise InputError(f"real: expected True or False, got {real!r}")
        label = "real" if real else "fake"
        for features in iter_features(
            self.extractor,
            source,
            self.layers,
            batch_size,
            num_samples,
            seed,
            num_workers,
            progress=progress,
            description=f"{label} images",
        ):
            self.update_features(features, real)

    def _as_feature_dict(self, x: Any) -> dict[str, Tensor]:
        if isinstance(x, Tensor):
            if len(self.layers) != 1:
                raise InputError(f"x: expected a dict of features for layers {list(self.layers)}, got one tensor")
            return {self.layers[0]: x}
        if isinstance(x, Mapping):
            if set(x) != set(self.layers):
                raise InputError(f"x: expected features for layers {list(self.layers)}, got {list(x)}")
            return dict(x)
        raise InputError(f"x: expected precomputed features (a tensor or a dict of tensors), got {type(x).__name__}")

    def _store(self, features: Mapping[str, Tensor], real: bool) -> None:
        checked = {}
        for layer in self.layers:
            value = features[layer]
            if not isinstance(value, Tensor) or value.ndim != 2 or value.shape[0] == 0:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise InputError(f"features of layer {layer!r}: expected a non-empty (N, D) tensor, got {shape}")
            if not value.is_floating_point():
                raise InputError(f"features of layer {layer!r}: expected floating point, got {value.dtype}")
            width = self._widths.setdefault(layer, value.shape[1])
            if value.shape[1] != width:
                raise InputError(
                    f"features of layer {layer!r}: width {value.shape[1]} differs from {width} in earlier updates"
                )
            # One host sync per update (not per sample): NaN/Inf would otherwise surface as a silently wrong score.
            if not bool(torch.isfinite(value).all()):
                raise InputError(
                    f"features of layer {layer!r}: contain NaN or Inf values; check the extractor's inputs "
                    "(images in [0, 1] or uint8) and the module's weights"
                )
            checked[layer] = value.detach().to(self.device)
        self._accumulate(checked, real)

    def stored_features(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The accumulated ``(real, fake)`` features per layer (after DDP sync when called inside compute)."""
        real, fake = {}, {}
        for index, layer in enumerate(self.layers):
            real_parts, fake_parts = getattr(self, f"real_{index}"), getattr(self, f"fake_{index}")
            if (isinstance(real_parts, list) and not real_parts) or (isinstance(fake_parts, list) and not fake_parts):
                raise InputError(
                    f"{type(self).__name__}: needs both real and fake samples before compute(); call "
                    "update(x, real=True) and update(x, real=False)"
                )
            real[layer], fake[layer] = dim_zero_cat(real_parts), dim_zero_cat(fake_parts)
        return real, fake

    def reset(self) -> None:
        """Clear the stored features (and the remembered feature widths)."""
        super().reset()
        self._widths = {}


class SingleLayerMetric(FeatureMetric):
    """A metric over one layer's features (every score except :class:`LayerSeparability`).

    Args:
        extractor: a registry name, a :class:`FeatureExtractor`, or ``None`` for precomputed ``(N, D)`` features.
        layer: the extractor layer to use (default: the extractor's default layer, its pooled embedding).
        extractor_kwargs, kwargs: as in :class:`FeatureMetric`.
    """

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if layer is not None and not isinstance(layer, str):
            raise InputError(f"layer: expected one layer name, got {layer!r}")
        super().__init__(extractor, None if layer is None else [layer], extractor_kwargs, **kwargs)

    @property
    def layer(self) -> str:
        """The layer whose features are compared."""
        return self.layers[0]
