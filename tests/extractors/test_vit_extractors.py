"""DINOv2 ViT-L/14 and CLIP ViT-L/14@336 extractors (timm), with random weights: taps, shapes, the reference
preprocessing on the same images, weight conversion and the offline error. Nothing is downloaded."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

import ganprobe.extractors.weights as weights_mod
from ganprobe.errors import WeightsChecksumError, WeightsNotFoundError
from ganprobe.extractors import available_extractors, get_extractor
from ganprobe.extractors.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ganprobe.extractors.vit_l14.declaration import CLIP_MEAN, CLIP_STD
from ganprobe.extractors.vit_l14.weights import CLIP_WEIGHTS, DINOV2_WEIGHTS, PINNED_SHA256

pytest.importorskip("timm")
transforms = pytest.importorskip("torchvision.transforms")


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty weight folders, no downloads."""
    monkeypatch.setenv("GANPROBE_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.cache/clip is searched for OpenAI's CLIP file
    monkeypatch.setenv("GANPROBE_OFFLINE", "1")
    monkeypatch.setattr(weights_mod, "_download", lambda *a: pytest.fail("no download in tests"))


@pytest.fixture(scope="module")
def dinov2():
    return get_extractor("random-dinov2-vitl14", channels_last=False)


@pytest.fixture(scope="module")
def clip():
    return get_extractor("random-clip-vitl14-336", channels_last=False)


def _images(count: int, height: int, width: int, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 3, height, width, generator=gen) * 255).to(torch.uint8)


def _pil(image: Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).numpy())


def test_listed_by_the_registry() -> None:
    names = available_extractors()
    for name in ("dinov2-vitl14", "clip-vitl14-336"):
        assert name in names and f"random-{name}" in names


def test_dinov2_preprocessing_is_dgm_evals(dinov2) -> None:
    """dgm-eval: torchvision Resize((224, 224), BICUBIC) on the PIL image, ToTensor, ImageNet Normalize."""
    images = _images(2, 70, 45)
    reference = transforms.Compose(
        [
            transforms.Resize((224, 224), transforms.InterpolationMode.BICUBIC),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    expected = torch.stack([reference(_pil(image)) for image in images])
    torch.testing.assert_close(dinov2.preprocess(images), expected, rtol=0, atol=1e-6)


def test_clip_preprocessing_is_the_cmmd_references(clip) -> None:
    """CMMD's io_util: centred square crop, PIL bicubic resize to 336, / 255, CLIP normalisation."""
    images = _images(2, 90, 131, seed=1)

    def reference(image: Image.Image) -> Tensor:
        width, height = image.size
        side = min(width, height)
        top, left = (height - side) // 2, (width - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)
        pixels = torch.from_numpy(np.asarray(image).astype(np.float32) / 255.0).permute(2, 0, 1)
        return (pixels - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)

    expected = torch.stack([reference(_pil(image)) for image in images])
    torch.testing.assert_close(clip.preprocess(images), expected, rtol=0, atol=1e-6)


def test_dinov2_taps_and_shapes(dinov2) -> None:
    assert dinov2.name == "random-dinov2-vitl14" and dinov2.default_layer == "embedding"
    assert dinov2.block_layers == ("block4", "block8", "block12", "block16", "block20", "block24")
    assert set(dinov2.block_layers) <= set(dinov2.layers) and len(dinov2.layers) == 25
    features = dinov2(_images(2, 32, 32), layers=["block4", "block24", "embedding"])
    assert {name: tuple(value.shape) for name, value in features.items()} == {
        "block4": (2, 1024),
        "block24": (2, 1024),
        "embedding": (2, 1024),
    }
    # The embedding is the final-normed class token: the last block's class token through the final LayerNorm.
    norm = dinov2.model.vit.norm
    torch.testing.assert_close(features["embedding"], norm(features["block24"]), rtol=1e-5, atol=1e-5)
    assert "pipeline=dgm-eval" in dinov2.preprocessing.describe()


def test_clip_embedding_is_normalised(clip) -> None:
    features = clip(_images(2, 40, 40, seed=2), layers=["block12", "pool", "embedding"])
    assert tuple(features["block12"].shape) == (2, 1024) and tuple(features["pool"].shape) == (2, 1024)
    assert tuple(features["embedding"].shape) == (2, 768)
    torch.testing.assert_close(features["embedding"].norm(dim=1), torch.ones(2), rtol=0, atol=1e-5)
    assert clip.published_reference is None  # random weights never compare with published numbers


@pytest.mark.parametrize(("name", "spec"), [("dinov2-vitl14", DINOV2_WEIGHTS), ("clip-vitl14-336", CLIP_WEIGHTS)])
def test_offline_error_names_the_file_the_url_and_the_folder(name, spec, tmp_path) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        get_extractor(name)
    message = str(info.value)
    assert "\n" not in message
    assert spec.filename in message and spec.url in message and "GANPROBE_WEIGHTS_DIR" in message
    assert str(tmp_path / "weights") in message


def test_both_files_are_pinned_by_their_full_published_digests() -> None:
    """Meta's file by the digest public projects pin for it (1,217,586,395 bytes); OpenAI's by the digest in its own
    download URL, which OpenAI's clip package checks."""
    assert DINOV2_WEIGHTS.sha256 == "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428"
    assert CLIP_WEIGHTS.sha256 == CLIP_WEIGHTS.url.split("/")[-2]
    assert CLIP_WEIGHTS.url.endswith("/" + CLIP_WEIGHTS.filename)
    assert all(len(digest) == 64 for digest in PINNED_SHA256.values()) and len(PINNED_SHA256) == 2


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path) -> None:
    path = tmp_path / "weights" / DINOV2_WEIGHTS.filename
    path.parent.mkdir(parents=True)
    torch.save({"pos_embed": torch.zeros(1)}, path)
    with pytest.raises(WeightsChecksumError) as info:
        get_extractor("dinov2-vitl14")
    message = str(info.value)
    assert "\n" not in message and str(path) in message and PINNED_SHA256[DINOV2_WEIGHTS.filename] in message


def test_dinov2_checkpoint_loads_with_dinov2s_position_embedding(dinov2, tmp_path) -> None:
    """A checkpoint in Meta's layout (37x37 position grid, mask_token) loads strictly; the grid is resampled the
    way DINOv2's forward resamples it for a 224x224 input (bicubic, scale (16 + 0.1) / 37, no antialiasing)."""
    state = {key: value.clone() for key, value in dinov2.model.vit.state_dict().items()}
    grid = torch.randn(1, 1 + 37 * 37, 1024, generator=torch.Generator().manual_seed(3))
    state["pos_embed"] = grid
    state["mask_token"] = torch.zeros(1, 1024)
    path = tmp_path / "weights" / DINOV2_WEIGHTS.filename
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pinned: no "unverified" warning, even with the check turned off
        loaded = get_extractor("dinov2-vitl14", channels_last=False, verify_checksum=False)
    patches = grid[:, 1:].reshape(1, 37, 37, 1024).permute(0, 3, 1, 2)
    expected = F.interpolate(patches, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic", antialias=False)
    expected = torch.cat([grid[:, :1], expected.permute(0, 2, 3, 1).reshape(1, 256, 1024)], dim=1)
    torch.testing.assert_close(loaded.model.vit.pos_embed, expected)
    assert loaded.name == "dinov2-vitl14" and len(loaded.weights_sha256) == 64
    # Weights not checked against the pin: never labelled as reproducing the published reference.
    assert loaded.published_reference is None


class _Holder(nn.Module):
    """A scripted module tree that only holds tensors under given dotted names (the layout of OpenAI's archive)."""

    def forward(self, x: Tensor) -> Tensor:
        return x


def _script_archive(state: dict[str, Tensor], path: Path) -> None:
    root = _Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        node = root
        for part in parents:
            if not hasattr(node, part):
                node.add_module(part, _Holder())
            node = getattr(node, part)
        node.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated: only OpenAI's files use it
        torch.jit.save(torch.jit.script(root), str(path))


_OPENAI_BLOCK_NAMES = {
    "norm1": "ln_1",
    "norm2": "ln_2",
    "attn.qkv.weight": "attn.in_proj_weight",
    "attn.qkv.bias": "attn.in_proj_bias",
    "attn.proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def _openai_layout(vit_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """timm's CLIP tower state in OpenAI's names and shapes, written out here (not with timm's converter)."""
    out: dict[str, Tensor] = {}
    for key, value in vit_state.items():
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            old = next(name for name in _OPENAI_BLOCK_NAMES if rest.startswith(name))
            out[f"visual.transformer.resblocks.{index}.{_OPENAI_BLOCK_NAMES[old]}{rest[len(old) :]}"] = value
        elif key == "cls_token":
            out["visual.class_embedding"] = value.reshape(-1)
        elif key == "pos_embed":
            out["visual.positional_embedding"] = value[0]
        elif key == "patch_embed.proj.weight":
            out["visual.conv1.weight"] = value
        elif key.startswith(("norm_pre.", "norm.")):
            prefix, leaf = key.split(".")
            out[f"visual.{'ln_pre' if prefix == 'norm_pre' else 'ln_post'}.{leaf}"] = value
        elif key == "head.weight":
            out["visual.proj"] = value.t().contiguous()
        elif key != "head.bias":  # OpenAI's projection has no bias
            raise KeyError(key)
    return out


def test_openais_torchscript_checkpoint_loads_tensors_only(clip, tmp_path, monkeypatch) -> None:
    """A TorchScript archive in the layout of OpenAI's ViT-L-14-336px.pt (fp16, with text-tower tensors beside the
    image tower's) loads into the extractor: every weight equals the fp16-rounded original; the file is refused
    while it is not OpenAI's (checked by default), and is also found where OpenAI's clip package keeps it."""
    original = {key: value.clone() for key, value in clip.model.vit.state_dict().items()}
    state = {key: value.half() for key, value in _openai_layout(original).items()}
    state["token_embedding.weight"] = torch.randn(16, 768).half()  # text tower: ignored
    state["logit_scale"] = torch.ones([])
    path = tmp_path / "weights" / CLIP_WEIGHTS.filename
    _script_archive(state, path)
    del state

    with pytest.raises(WeightsChecksumError, match=PINNED_SHA256[CLIP_WEIGHTS.filename]):
        get_extractor("clip-vitl14-336", channels_last=False, backend="torch")
    loaded = get_extractor("clip-vitl14-336", channels_last=False, backend="torch", verify_checksum=False)
    for key, value in loaded.model.vit.state_dict().items():
        expected = torch.zeros_like(value) if key == "head.bias" else original[key].half().float()
        assert value.dtype == torch.float32 and torch.equal(value, expected), key
    assert loaded.name == "clip-vitl14-336" and loaded.published_reference is None
    digest = loaded.weights_sha256
    del loaded

    clip_cache = tmp_path / "home" / ".cache" / "clip"
    clip_cache.mkdir(parents=True)
    path.rename(clip_cache / CLIP_WEIGHTS.filename)
    again = get_extractor("clip-vitl14-336", channels_last=False, backend="torch", verify_checksum=False)
    assert again.weights_sha256 == digest


def test_cmmd_says_when_it_is_not_on_clip(monkeypatch) -> None:
    from ganprobe.metrics import CMMD

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric = CMMD()
    assert metric.extractor is not None and metric.extractor.name == "efficientnet-lite0"
    text = " ".join(str(w.message) for w in caught)
    assert "not on CLIP ViT-L/14@336" in text and CLIP_WEIGHTS.filename in text
    assert not metric.comparable_with_published
