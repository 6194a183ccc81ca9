"""Every built-in backbone by name: the declarations of the family folders (``<family>/declaration.py``), collected
into :data:`BACKBONES`. The registry (:mod:`ganprobe.extractors.registry`) registers ``<name>`` and
``random-<name>`` for each; nothing here imports torch. Adding a backbone: a folder with its declaration, weights
loader and network, a torch-free weights finder in :mod:`ganprobe.extractors.published`, and an entry here.
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone
from ganprobe.extractors.efficientnet_lite.declaration import efficientnet_lite_backbone
from ganprobe.extractors.inception_fid.declaration import INCEPTION_FID
from ganprobe.extractors.lenet_mnist.declaration import LENET_MNIST
from ganprobe.extractors.torchvision_resnet.declaration import resnet_backbone
from ganprobe.extractors.vit_l14.declaration import CLIP_VITL14_336, DINOV2_VITL14

BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        *(efficientnet_lite_backbone(index) for index in (0, 1, 2)),
        *(resnet_backbone(arch) for arch in ("resnet18", "resnet34", "resnet50")),
        INCEPTION_FID,
        LENET_MNIST,
        DINOV2_VITL14,
        CLIP_VITL14_336,
    )
}


def backbone(name: str) -> Backbone:
    """The built-in declaration called ``name`` (without any ``random-`` prefix).

    Raises:
        KeyError: no built-in backbone has that name.
    """
    return BACKBONES[name]
