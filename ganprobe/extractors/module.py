"""Wrap any user ``nn.Module`` (a discriminator, a classifier) as an extractor with named layer taps."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.preprocessing import Preprocessing


class ModuleExtractor(FeatureExtractor):
    """Use your own network's layers as feature spaces.

    The module is *not* frozen or switched to eval mode for good: each forward pass runs it in eval mode under
    ``torch.no_grad()`` and then restores its previous mode, so a discriminator can keep training between
    evaluations. Its parameters are not copied: later training changes the features.

    Args:
        module: the network; it is called as ``module(batch)``.
        layers: dotted names of submodules (as in ``module.named_modules()``) to tap, in network order.
        input_size: ``(H, W)`` the module expects; images are resized to it.
        mean: per-channel mean subtracted from ``[0, 1]`` pixels; the default maps pixels to ``[-1, 1]`` (tanh
            GAN convention).
        std: per-channel divisor after the mean.
        channels: 1 to average RGB to grayscale before the module (MNIST networks), 3 to feed RGB.
        name: the name used in reports.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> disc = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3))
        >>> extractor = ModuleExtractor(disc, layers=["1", "2"], input_size=(32, 32))
        >>> feats = extractor(torch.rand(4, 3, 32, 32), layers=["1", "2"])
        >>> {k: tuple(v.shape) for k, v in feats.items()}
        {'1': (4, 8), '2': (4, 16)}
    """

    def __init__(
        self,
        module: nn.Module,
        layers: Sequence[str],
        input_size: tuple[int, int],
        mean: float | tuple[float, float, float] = 0.5,
        std: float | tuple[float, float, float] = 0.5,
        channels: int = 3,
        name: str = "module",
    ) -> None:
        if not isinstance(module, nn.Module):
            raise InputError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
        if not layers:
            raise InputError("layers: name at least one submodule of the module to tap")
        if channels not in (1, 3):
            raise InputError(f"channels: expected 1 or 3, got {channels}")
        means = (mean,) * 3 if isinstance(mean, (int, float)) else tuple(mean)
        stds = (std,) * 3 if isinstance(std, (int, float)) else tuple(std)
        known = dict(module.named_modules())
        unknown = [layer for layer in layers if layer not in known]
        if unknown:
            names = [n for n in known if n][:20]
            raise InputError(f"layers: {unknown} are not submodules of {type(module).__name__}; it has {names}")
        nn.Module.__init__(self)  # FeatureExtractor.__init__ would freeze the module: do its work without that
        self.name = name
        self.model = module
        self.taps = {layer: layer for layer in layers}
        self.preprocessing = Preprocessing(size=tuple(input_size), mean=means, std=stds)  # type: ignore[arg-type]
        self.default_layer = layers[-1]
        self.block_layers = tuple(layers)
        self.logits_layer = None
        self.weights_sha256 = None
        self.channels_last = False  # the user's module keeps its own memory layout, precision and code
        self.autocast = None
        self.compiled = False
        self.channels = channels

    def train(self, mode: bool = True) -> ModuleExtractor:
        """Leave the wrapped module's mode to its owner (a metric's ``.train()`` must not flip a discriminator)."""
        self.training = mode
        return self

    def describe(self) -> str:
        """One line naming the module, its channel mode and preprocessing (its weights are not fixed: no cache)."""
        return (
            f"{self.name} module={type(self.model).__name__} channels={self.channels} {self.preprocessing.describe()}"
        )

    def _run_model(self, batch: Tensor) -> None:
        was_training = self.model.training
        if self.channels == 1:  # here, not in preprocess(): folder/evaluator paths call forward_preprocessed
            batch = batch.mean(dim=1, keepdim=True)
        self.model.eval()
        try:
            with torch.no_grad():
                self.model(batch)
        finally:
            self.model.train(was_training)
