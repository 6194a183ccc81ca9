"""The declaration of torchvision's ImageNet ResNets 18, 34 and 50: taps, layers and input pipelines, as plain data (no
torch).
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone, Lazy
from ganprobe.extractors.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

RESNET_TAPS = {
    "layer1": "layer1",
    "layer2": "layer2",
    "layer3": "layer3",
    "layer4": "layer4",
    "pool": "avgpool",
    "logits": "fc",
}


def resnet_backbone(arch: str) -> Backbone:
    """The declaration of torchvision's ImageNet ``arch`` (``resnet18``, ``resnet34`` or ``resnet50``)."""
    return Backbone(
        name=arch,
        description=f"torchvision ImageNet {arch}; weights via torchvision URL or file",
        build=Lazy(f"torchvision.models:{arch}", {"weights": None}),
        taps=RESNET_TAPS,
        default_layer="pool",
        block_layers=("layer1", "layer2", "layer3", "layer4"),
        pipelines={"imagenet": Preprocessing(size=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD)},
        weights=Lazy("ganprobe.extractors.torchvision_resnet.weights:load_resnet_weights", {"arch": arch}),
        find_weights=Lazy("ganprobe.extractors.published:find_resnet_weights", {"arch": arch}),
        logits_layer="logits",
    )
