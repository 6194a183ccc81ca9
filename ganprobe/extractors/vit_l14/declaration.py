"""The declaration of the ViT-L/14 feature spaces: DINOv2 (FD_DINOv2) and OpenAI CLIP@336 (CMMD); need timm: taps,
layers and input pipelines, as plain data (no torch).
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone, Lazy
from ganprobe.extractors.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

VIT_DEPTH = 24
VIT_BLOCK_TAPS = {f"block{i + 1}": f"block_tokens.{i}" for i in range(VIT_DEPTH)}
VIT_BLOCK_LAYERS = tuple(f"block{i}" for i in (4, 8, 12, 16, 20, 24))
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's normalisation constants
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

DINOV2_VITL14 = Backbone(
    name="dinov2-vitl14",
    description="DINOv2 ViT-L/14 (Oquab et al. 2023), dgm-eval's FD_DINOv2 space; needs timm (ganprobe[vit])",
    build=Lazy("ganprobe.extractors.vit_l14.network:dinov2_vitl14"),
    taps={**VIT_BLOCK_TAPS, "embedding": "embedding"},
    default_layer="embedding",
    block_layers=VIT_BLOCK_LAYERS,
    # dgm-eval's default transform: torchvision Resize((224, 224), BICUBIC) of the 8-bit PIL image, ToTensor,
    # ImageNet normalisation.
    pipelines={
        "dgm-eval": Preprocessing(
            size=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD, resize="pil-bicubic-uint8", pipeline="dgm-eval"
        )
    },
    weights=Lazy("ganprobe.extractors.vit_l14.weights:load_dinov2_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_dinov2_weights"),
    unavailable=Lazy("ganprobe.extractors.published:timm_missing"),
    published_reference={"dgm-eval": "dgm-eval FD_DINOv2 (Stein et al. 2023)"},
)

CLIP_VITL14_336 = Backbone(
    name="clip-vitl14-336",
    description="OpenAI CLIP ViT-L/14@336 image tower, the space of CMMD (Jayasumana et al. 2024); needs timm "
    "(ganprobe[vit])",
    build=Lazy("ganprobe.extractors.vit_l14.network:clip_vitl14_336"),
    taps={**VIT_BLOCK_TAPS, "pool": "pool", "embedding": "embedding"},
    default_layer="embedding",
    block_layers=VIT_BLOCK_LAYERS,
    # The CMMD reference reads a file, crops the centred square, resizes it with PIL bicubic to 336 (8 bits),
    # divides by 255 and applies CLIP's normalisation.
    pipelines={
        "cmmd": Preprocessing(
            size=(336, 336),
            mean=CLIP_MEAN,
            std=CLIP_STD,
            resize="pil-bicubic-uint8",
            crop="center-square",
            pipeline="cmmd",
        )
    },
    weights=Lazy("ganprobe.extractors.vit_l14.weights:load_clip_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_clip_weights"),
    unavailable=Lazy("ganprobe.extractors.published:timm_missing"),
    published_reference={"cmmd": "CMMD reference (google-research/cmmd)"},
)
