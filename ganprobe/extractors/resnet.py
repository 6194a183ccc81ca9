"""torchvision ResNets (18, 34, 50): the weights loader of their declarations in
:mod:`ganprobe.extractors.backbones` (taps ``layer1``..``layer4``, ``pool`` and ``logits``)."""

from __future__ import annotations

import os
from typing import Any

import torchvision
from torch import nn

from ganprobe.errors import InputError
from ganprobe.extractors.backbone import BackboneExtractor
from ganprobe.extractors.backbones import BACKBONES, RESNET_TAPS
from ganprobe.extractors.weights import WeightsFile, load_state_dict, load_weights_into, resolve_weights

__all__ = ["RESNET_TAPS", "ResNetExtractor", "load_resnet_weights", "resnet_weights_file"]

_WEIGHTS_ENUMS = {
    "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
    # DEFAULT (V2) is what torchvision's ``weights="DEFAULT"`` gives, as used by the face-GAN study.
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
}


# The full SHA-256 of each published file (torchvision's file names carry only the first 8 hex digits). Taken from
# public pins of the same files (same name, same size: 46,830,571, 87,319,819 and 102,540,417 bytes), each digest
# beginning with the prefix of its torchvision file name (checked by a test).
RESNET_SHA256 = {
    "resnet18-f37072fd.pth": "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
    "resnet34-b627a593.pth": "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
    "resnet50-11ad3fa6.pth": "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
}


def resnet_weights_file(arch: str) -> WeightsFile:
    """The published ImageNet weights file of ``arch``: file name, URL and full SHA-256 (checked in full)."""
    url = _WEIGHTS_ENUMS[arch].url
    filename = url.rsplit("/", 1)[-1]
    return WeightsFile(filename=filename, url=url, sha256=RESNET_SHA256[filename])


def load_resnet_weights(
    model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool, arch: str = "resnet18"
) -> str:
    """Find, check and load torchvision's ImageNet weights of ``arch`` into ``model``; return the file's SHA-256."""
    path, digest = resolve_weights(resnet_weights_file(arch), weights_path, verify)
    load_weights_into(model, load_state_dict(path), path, arch)
    return digest


class ResNetExtractor(BackboneExtractor):
    """An ImageNet ResNet from torchvision, resized to 224x224 with ImageNet mean/std.

    Args:
        arch: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
        options: ``weights_path``, ``verify_checksum``, ``pretrained``, ``seed``, ``channels_last``, ``autocast``,
            ``compile``; see :class:`~ganprobe.extractors.backbone.BackboneExtractor`.

    Layers: ``layer1``..``layer4`` (64/128/256/512 channels for resnet18/34, 4x that for resnet50), ``pool``
    (512 or 2048) and ``logits`` (1000).
    """

    def __init__(self, arch: str = "resnet18", **options: Any) -> None:
        if arch not in _WEIGHTS_ENUMS:
            raise InputError(f"arch: expected one of {list(_WEIGHTS_ENUMS)}, got {arch!r}")
        super().__init__(BACKBONES[arch], **options)
