"""The Inception-v3 used for published FID/KID/IS numbers (pytorch-fid's ``pt_inception-2015-12-05`` weights)."""

from __future__ import annotations

import os

import torch

from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.nets.inception_fid import (
    FID_INCEPTION_WEIGHTS_FILENAME,
    FID_INCEPTION_WEIGHTS_URL,
    FIDInceptionV3,
)
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.extractors.weights import WeightsFile, load_state_dict, load_weights_into, resolve_weights

# The full SHA-256 of pytorch-fid's 95,628,359-byte file (its name carries only the prefix 6726825d), from public
# pins of the same file (torch-fidelity ships it under the name weights-inception-2015-12-05-6726825d.pth).
FID_INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FID_INCEPTION_WEIGHTS = WeightsFile(
    filename=FID_INCEPTION_WEIGHTS_FILENAME, url=FID_INCEPTION_WEIGHTS_URL, sha256=FID_INCEPTION_SHA256
)
INCEPTION_TAPS = {
    "mixed_5d": "Mixed_5d",
    "mixed_6e": "Mixed_6e",
    "mixed_7c": "Mixed_7c",
    "pool": "avgpool",
    "logits": "fc",
}


class InceptionFIDExtractor(FeatureExtractor):
    """The FID Inception-v3: 299x299 input scaled to ``[-1, 1]``; ``pool`` is the 2048-d pool3 embedding.

    Only features from this extractor (with the official weights) give numbers comparable with published
    FID/KID/IS. Resizing follows ganprobe's one method (bilinear, antialiased), which equals pytorch-fid's
    bilinear resize whenever images are enlarged (e.g. 32x32 or 64x64 to 299x299).

    Args:
        weights_path: an explicit ``pt_inception-2015-12-05-6726825d.pth``; otherwise see
            :mod:`ganprobe.extractors.weights` for the search (``$GANPROBE_WEIGHTS_DIR``, caches, download).
        verify_checksum: check the file's full SHA-256 against :data:`FID_INCEPTION_SHA256`.
        pretrained: ``False`` gives seeded random weights (``random-inception-fid``).
        seed: the random initialisation's seed when ``pretrained=False``.
        channels_last: run the backbone in the channels-last memory layout (faster convolutions, features equal
            to float32 round-off; see :class:`~ganprobe.extractors.base.FeatureExtractor`). ``False``: standard layout.
        autocast, compile: opt-in speed options (off by default); see the base class.

    Layers: ``mixed_5d`` (288), ``mixed_6e`` (768), ``mixed_7c`` (2048 maps), ``pool`` (2048), ``logits`` (1008).
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
            model = FIDInceptionV3()
        if pretrained:
            path, digest = resolve_weights(FID_INCEPTION_WEIGHTS, weights_path, verify_checksum)
            load_weights_into(model, load_state_dict(path), path, "FID Inception-v3")
            name, weights = "inception-fid", digest
        else:
            name, weights = "random-inception-fid", f"random-init-seed-{seed}"
        super().__init__(
            name=name,
            model=model,
            taps=INCEPTION_TAPS,
            preprocessing=Preprocessing(size=(299, 299), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
            default_layer="pool",
            block_layers=("mixed_5d", "mixed_6e", "mixed_7c"),
            logits_layer="logits",
            weights_sha256=weights,
            channels_last=channels_last,
            autocast=autocast,
            compile=compile,
        )
