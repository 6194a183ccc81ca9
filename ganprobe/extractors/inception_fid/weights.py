"""The Inception-v3 used for published FID/KID/IS numbers (pytorch-fid's ``pt_inception-2015-12-05`` weights).

The declaration (taps, the three reference input pipelines) is
:data:`ganprobe.extractors.inception_fid.declaration.INCEPTION_FID`, the weights file's name, URL and checksum are in
:mod:`ganprobe.extractors.published`; this module holds the weights loader.
"""

from __future__ import annotations

import os

from torch import nn

from ganprobe.extractors.inception_fid.declaration import INCEPTION_PIPELINES, INCEPTION_TAPS
from ganprobe.extractors.published import FID_INCEPTION_SHA256, FID_INCEPTION_WEIGHTS, find_inception_weights
from ganprobe.extractors.weights import load_state_dict, load_weights_into

__all__ = [
    "FID_INCEPTION_SHA256",
    "FID_INCEPTION_WEIGHTS",
    "INCEPTION_PIPELINES",
    "INCEPTION_TAPS",
    "load_inception_weights",
]


def load_inception_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Find, check and load the FID Inception weights into ``model``; return the file's SHA-256."""
    path, digest = find_inception_weights(weights_path, verify)
    load_weights_into(model, load_state_dict(path), path, "FID Inception-v3")
    return digest
