"""torchvision ResNets (18, 34, 50): the weights loader of their declarations in
:mod:`ganprobe.extractors.builtin` (taps ``layer1``..``layer4``, ``pool`` and ``logits``)."""

from __future__ import annotations

import os

from torch import nn

from ganprobe.extractors.published import RESNET_SHA256, find_resnet_weights, resnet_weights_file
from ganprobe.extractors.torchvision_resnet.declaration import RESNET_TAPS
from ganprobe.extractors.weights import load_state_dict, load_weights_into

__all__ = ["RESNET_SHA256", "RESNET_TAPS", "load_resnet_weights", "resnet_weights_file"]


def load_resnet_weights(
    model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool, arch: str = "resnet18"
) -> str:
    """Find, check and load torchvision's ImageNet weights of ``arch`` into ``model``; return the file's SHA-256."""
    path, digest = find_resnet_weights(weights_path, verify, arch)
    load_weights_into(model, load_state_dict(path), path, arch)
    return digest
