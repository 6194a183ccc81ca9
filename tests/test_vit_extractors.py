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
from torch import Tensor

import ganprobe.extractors.weights as weights_mod
from ganprobe.errors import WeightsNotFoundError
from ganprobe.extractors import available_extractors, get_extractor
from ganprobe.extractors.backbones import CLIP_MEAN, CLIP_STD
from ganprobe.extractors.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ganprobe.extractors.vit import CLIP_WEIGHTS, DINOV2_WEIGHTS

pytest.importorskip("timm")
transforms = pytest.importorskip("torchvision.transforms")


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty weight folders, no downloads."""
    monkeypatch.setenv("GANPROBE_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
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
    with pytest.warns(UserWarning, match="no SHA-256 is pinned"):
        loaded = get_extractor("dinov2-vitl14", channels_last=False)
    patches = grid[:, 1:].reshape(1, 37, 37, 1024).permute(0, 3, 1, 2)
    expected = F.interpolate(patches, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic", antialias=False)
    expected = torch.cat([grid[:, :1], expected.permute(0, 2, 3, 1).reshape(1, 256, 1024)], dim=1)
    torch.testing.assert_close(loaded.model.vit.pos_embed, expected)
    assert loaded.name == "dinov2-vitl14" and len(loaded.weights_sha256) == 64
    # Unpinned official weights: never labelled as reproducing the published reference.
    assert loaded.published_reference is None


def test_cmmd_says_when_it_is_not_on_clip(monkeypatch) -> None:
    from ganprobe.metrics import CMMD

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric = CMMD()
    assert metric.extractor is not None and metric.extractor.name == "efficientnet-lite0"
    text = " ".join(str(w.message) for w in caught)
    assert "not on CLIP ViT-L/14@336" in text and CLIP_WEIGHTS.filename in text
    assert not metric.comparable_with_published
