"""torchvision ResNets (18, 34, 50): the weights loader of their declarations in
:mod:`ganprobe.extractors.backbones` (taps ``layer1``..``layer4``, ``pool`` and ``logits``)."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ganprobe.errors import InputError
from ganprobe.extractors.backbone import BackboneExtractor
from ganprobe.extractors.backbones import BACKBONES, RESNET_TAPS
from ganprobe.extractors.published import RESNET_FILES, RESNET_SHA256, find_resnet_weights, resnet_weights_file
from ganprobe.extractors.weights import load_state_dict, load_weights_into

__all__ = ["RESNET_SHA256", "RESNET_TAPS", "ResNetExtractor", "load_resnet_weights", "resnet_weights_file"]


def load_resnet_weights(
    model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool, arch: str = "resnet18"
) -> str:
    """Find, check and load torchvision's ImageNet weights of ``arch`` into ``model``; return the file's SHA-256."""
    path, digest = find_resnet_weights(weights_path, verify, arch)
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
        if arch not in RESNET_FILES:
            raise InputError(f"arch: expected one of {list(RESNET_FILES)}, got {arch!r}")
        super().__init__(BACKBONES[arch], **options)
