"""The Inception-v3 used for published FID/KID/IS numbers (pytorch-fid's ``pt_inception-2015-12-05`` weights).

The declaration (taps, the three reference input pipelines) is
:data:`ganprobe.extractors.backbones.INCEPTION_FID`, the weights file's name, URL and checksum are in
:mod:`ganprobe.extractors.published`; this module holds the weights loader.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ganprobe.extractors.backbone import BackboneExtractor
from ganprobe.extractors.backbones import INCEPTION_FID, INCEPTION_PIPELINES, INCEPTION_TAPS
from ganprobe.extractors.published import FID_INCEPTION_SHA256, FID_INCEPTION_WEIGHTS, find_inception_weights
from ganprobe.extractors.weights import load_state_dict, load_weights_into

__all__ = [
    "FID_INCEPTION_SHA256",
    "FID_INCEPTION_WEIGHTS",
    "INCEPTION_PIPELINES",
    "INCEPTION_TAPS",
    "InceptionFIDExtractor",
    "load_inception_weights",
]


def load_inception_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Find, check and load the FID Inception weights into ``model``; return the file's SHA-256."""
    path, digest = find_inception_weights(weights_path, verify)
    load_weights_into(model, load_state_dict(path), path, "FID Inception-v3")
    return digest


class InceptionFIDExtractor(BackboneExtractor):
    """The FID Inception-v3: 299x299 input; ``pool`` is the 2048-d pool3 embedding.

    Only features from this extractor with the official weights and ``pipeline="tf"`` (the default) give numbers
    comparable with published FID/KID/IS. The ``pipeline`` option picks the reference input pipeline:

    * ``"tf"``: the original TensorFlow graph's, as torch-fidelity reproduces it: TF1 bilinear resize (no
      antialiasing) of ``[0, 255]`` pixels, then ``(x - 128) / 128``;
    * ``"clean"``: clean-fid's ``mode="clean"``: PIL bicubic resize of each channel as a float image, clipped to
      ``[0, 255]``, then ``(x - 128) / 128``;
    * ``"pytorch-fid"``: pytorch-fid's: bilinear ``F.interpolate`` without antialiasing of ``[0, 1]`` pixels, then
      ``2x - 1``.

    Args:
        options: ``weights_path``, ``verify_checksum``, ``pretrained``, ``seed``, ``pipeline``, ``channels_last``,
            ``autocast``, ``compile``; see :class:`~ganprobe.extractors.backbone.BackboneExtractor`.

    Layers: ``mixed_5d`` (288), ``mixed_6e`` (768), ``mixed_7c`` (2048 maps), ``pool`` (2048), ``logits`` (1008).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(INCEPTION_FID, **options)
