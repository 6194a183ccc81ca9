"""ganprobe metrics in a training loop: built once, then ``reset()`` / ``update...()`` / ``compute()`` per evaluation.

:class:`MetricMonitor` scores a batch of generated images against a fixed set of real images with

* ``ganprobe.KNNLOOAccuracy``: 1-NN leave-one-out accuracy of real vs fake (0.5 = indistinguishable, 1 = separable);
* ``ganprobe.FID`` on a non-Inception extractor (a Fréchet distance in that extractor's feature space, lower is
  better; not comparable with published FIDs);
* ``ganprobe.LayerSeparability`` at every block of the extractor (where do fakes become obvious?);
* ``ganprobe.LayerSeparability`` over the discriminator's own layers (``ganprobe.ModuleExtractor``): how separable
  the discriminator finds reals and fakes, layer by layer, as it trains.

The real features of the fixed extractor are computed once and fed with ``update_features`` (extract once, score
many); only the fakes are extracted at each evaluation. The discriminator changes as it trains, so its layers see
both sets at every evaluation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

import ganprobe
from ganprobe.extractors import FeatureExtractor, ModuleExtractor, get_extractor

DISCRIMINATOR_SPACE = "D"  # name of the discriminator's feature space in metric keys


def metric_key(space: str, layer: str, protocol: str) -> str:
    """Column name of one separability cell, e.g. ``sep.lenet-mnist.conv1.linear_probe``."""
    return f"sep.{space}.{layer}.{protocol}"


class MetricMonitor:
    """Scores generated images against fixed real images with ganprobe's metrics.

    Args:
        real_images: ``(N, C, H, W)`` real images, ``uint8`` ``[0, 255]`` or float ``[0, 1]`` (the evaluation set).
        extractor: a ganprobe registry name (e.g. ``"lenet-mnist"``, ``"efficientnet-lite0"``) or extractor.
        discriminator: the discriminator to probe layer by layer (``None``: skip).
        discriminator_layers: dotted submodule names of the discriminator to tap.
        image_size: ``(H, W)`` the discriminator takes.
        channels: 1 for gray discriminators (MNIST), 3 for RGB.
        protocols: separability protocols (``linear_probe``, ``knn_loo``, ``pca2_svm``, ``pca2_kmeans``).
        separability_seed: seed of the probe's folds and of k-means (2 reproduces the campus study's k-means).
        batch_size: images per forward pass of the extractors.
        device: where extractors and metrics run.
    """

    def __init__(
        self,
        real_images: Tensor,
        extractor: str | FeatureExtractor,
        discriminator: nn.Module | None = None,
        discriminator_layers: Sequence[str] = (),
        image_size: tuple[int, int] = (28, 28),
        channels: int = 3,
        protocols: Sequence[str] = ("linear_probe", "knn_loo"),
        separability_seed: int = 0,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.real_images = real_images
        self.extractor = get_extractor(extractor).to(self.device)
        self.space = self.extractor.name
        self.knn = ganprobe.KNNLOOAccuracy(extractor=self.extractor).to(self.device)
        self.fid = ganprobe.FID(extractor=self.extractor).to(self.device)
        self.separability = ganprobe.LayerSeparability(
            extractor=self.extractor, layers=self.extractor.block_layers, protocols=protocols, seed=separability_seed
        ).to(self.device)
        self.discriminator_separability = None
        if discriminator is not None and discriminator_layers:
            probe = ModuleExtractor(
                discriminator, list(discriminator_layers), input_size=image_size, channels=channels, name="D"
            )
            self.discriminator_separability = ganprobe.LayerSeparability(
                extractor=probe, protocols=protocols, seed=separability_seed
            )
        layers = tuple(dict.fromkeys([*self.separability.layers, *self.knn.layers, *self.fid.layers]))
        self.layers = layers
        self.real_features = self._extract(real_images)

    def _batches(self, images: Tensor) -> list[Tensor]:
        return [images[start : start + self.batch_size] for start in range(0, images.shape[0], self.batch_size)]

    def _extract(self, images: Tensor) -> dict[str, Tensor]:
        parts = [self.extractor(batch, layers=self.layers) for batch in self._batches(images)]
        return {layer: torch.cat([part[layer] for part in parts]) for layer in self.layers}

    def evaluate(self, fake_images: Tensor) -> dict[str, float]:
        """Every metric of ``fake_images`` (float ``[0, 1]`` or ``uint8``, NCHW) against the real set.

        Returns:
            ``{"knn_loo": ..., "fd": ..., "sep.<space>.<layer>.<protocol>": ...}`` as Python floats; ``<space>`` is
            the extractor's name or ``D`` for the discriminator's layers.
        """
        fake_features = self._extract(fake_images)
        for metric in (self.knn, self.fid, self.separability):
            metric.reset()
            metric.update_features(self.real_features, real=True)
            metric.update_features(fake_features, real=False)
        with warnings.catch_warnings():
            # Small evaluation sets make FD's covariance rank deficient; the trend over training still reads.
            warnings.filterwarnings("ignore", message=".*rank.*", category=UserWarning)
            values = {"knn_loo": self.knn.compute(), "fd": self.fid.compute()}
        tables = {self.space: self.separability.compute_table()}
        if self.discriminator_separability is not None:
            metric = self.discriminator_separability
            metric.reset()
            for batch in self._batches(self.real_images):
                metric.update(batch, real=True)
            for batch in self._batches(fake_images):
                metric.update(batch, real=False)
            tables[DISCRIMINATOR_SPACE] = metric.compute_table()
        for space, table in tables.items():
            for layer, scores in table.items():
                for protocol, value in scores.items():
                    values[metric_key(space, layer, protocol)] = value
        # One host transfer for every number of this evaluation.
        stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64).cpu() for v in values.values()])
        return dict(zip(values, stacked.tolist(), strict=True))
