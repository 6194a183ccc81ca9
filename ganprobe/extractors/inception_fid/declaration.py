"""The declaration of the FID Inception-v3 of published FID/KID/IS numbers, with its three reference input pipelines:
taps, layers and input pipelines, as plain data (no torch).
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone, Lazy
from ganprobe.extractors.preprocessing import Preprocessing

INCEPTION_TAPS = {
    "mixed_5d": "Mixed_5d",
    "mixed_6e": "Mixed_6e",
    "mixed_7c": "Mixed_7c",
    "pool": "avgpool",
    "logits": "fc",
}
INCEPTION_SIZE = (299, 299)
# The three reference pipelines of the FID Inception, by the name the ``pipeline=`` option takes. The first is the
# default: the original TensorFlow graph's (TF1 bilinear resize of [0, 255] pixels, then (x - 128) / 128), as
# torch-fidelity reproduces it.
INCEPTION_PIPELINES = {
    "tf": Preprocessing(
        size=INCEPTION_SIZE,
        mean=(128.0,) * 3,
        std=(128.0,) * 3,
        resize="tf1-bilinear",
        pixel_range=255.0,
        pipeline="tf",
    ),
    "clean": Preprocessing(
        size=INCEPTION_SIZE,
        mean=(128.0,) * 3,
        std=(128.0,) * 3,
        resize="pil-bicubic-float",
        pixel_range=255.0,
        pipeline="clean",
    ),
    "pytorch-fid": Preprocessing(
        size=INCEPTION_SIZE, mean=(0.5,) * 3, std=(0.5,) * 3, resize="bilinear", pipeline="pytorch-fid"
    ),
}
# Which implementation's numbers each pipeline reproduces (with the official weights).
INCEPTION_REFERENCES = {
    "tf": "TensorFlow FID (TTUR) / torch-fidelity",
    "clean": "clean-fid mode='clean'",
    "pytorch-fid": "pytorch-fid",
}
# Published FID/KID/IS numbers are TensorFlow-pipeline numbers: only that pipeline is "comparable with published".
INCEPTION_PUBLISHED_PIPELINE = "tf"

INCEPTION_FID = Backbone(
    name="inception-fid",
    description="Inception-v3 of published FID/KID/IS (pt_inception-2015-12-05); pipeline='tf' (default), "
    "'clean' or 'pytorch-fid'",
    build=Lazy("ganprobe.extractors.inception_fid.network:FIDInceptionV3"),
    taps=INCEPTION_TAPS,
    default_layer="pool",
    block_layers=("mixed_5d", "mixed_6e", "mixed_7c"),
    pipelines=INCEPTION_PIPELINES,
    weights=Lazy("ganprobe.extractors.inception_fid.weights:load_inception_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_inception_weights"),
    logits_layer="logits",
    published_reference=INCEPTION_REFERENCES,
)
