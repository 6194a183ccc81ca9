"""The three ``inception-fid`` pipelines against the implementations they reproduce, on shared random weights.

One random state dict (every layer and BatchNorm statistic randomised) is loaded into ganprobe's extractor,
torch-fidelity 0.4.0's ``FeatureExtractorInceptionV3`` and pytorch-fid's ``InceptionV3``. On structured ``uint8``
images of 32, 64, 256, 299, 512 px and a non-square size, each pipeline must give the reference's features within
1e-4 (max abs) and the same FID within 1e-4 relative; the clean pipeline's resized pixels must equal clean-fid's own
resizer's. The official weights cannot be downloaded here; the pipelines do not depend on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_fid.inception as pfi
import torch
from test_inception_fid_net import randomise  # one random-weights recipe for every reference comparison
from torch import Tensor, nn

from ganprobe.extractors import get_extractor
from ganprobe.extractors.inception_fid.network import FID_INCEPTION_WEIGHTS_URL, FIDInceptionV3
from ganprobe.extractors.resize import resize_pil_bicubic_float, resize_tf1_bilinear
from ganprobe.functional.frechet import frechet_distance
from ganprobe.functional.inception_score import inception_score

torch_fidelity = pytest.importorskip("torch_fidelity")
cleanfid_resize = pytest.importorskip("cleanfid.resize")
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3  # noqa: E402
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x  # noqa: E402
from torch_fidelity.metric_isc import isc_features_to_metric  # noqa: E402

SIZES = [(32, 32), (64, 64), (256, 256), (299, 299), (512, 512), (200, 333)]
COUNT = 6  # images per set; real and fake sets differ in their structure
FEATURE_ATOL = 1e-4
FID_RTOL = 1e-4


def structured_images(count: int, size: tuple[int, int], seed: int) -> Tensor:
    """``uint8`` images with edges, gradients and fine stripes (so resampling differences show), plus noise."""
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    y = torch.linspace(0, 1, height).view(1, 1, height, 1)
    x = torch.linspace(0, 1, width).view(1, 1, 1, width)
    freq = torch.rand(count, 3, 1, 1, generator=gen) * 40 + 5
    phase = torch.rand(count, 3, 1, 1, generator=gen) * 6.28
    stripes = torch.sin(freq * x * 6.28 + phase) * torch.cos(freq * 0.7 * y * 6.28)
    blocks = ((x * 8).floor() + (y * 8).floor()) % 2
    image = 0.35 * stripes + 0.3 * blocks + 0.3 * x * y + 0.05 * torch.rand(count, 3, height, width, generator=gen)
    image = (image - image.amin()) / (image.amax() - image.amin())
    return (image * 255).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def shared_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(13)
        source = FIDInceptionV3()
        randomise(source)
    path = tmp_path_factory.mktemp("weights") / "shared-random-inception.pth"
    torch.save(source.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def ours(shared_weights: Path) -> dict[str, nn.Module]:
    """ganprobe's inception-fid in each pipeline, on the shared weights (standard layout, float32)."""
    return {
        pipeline: get_extractor(
            "inception-fid",
            weights_path=shared_weights,
            verify_checksum=False,
            pipeline=pipeline,
            channels_last=False,
        )
        for pipeline in ("tf", "clean", "pytorch-fid")
    }


@pytest.fixture(scope="module")
def fidelity_net(shared_weights: Path) -> nn.Module:
    return FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(shared_weights)
    ).eval()


@pytest.fixture(scope="module")
def pytorch_fid_nets(shared_weights: Path) -> dict[str, nn.Module]:
    """pytorch-fid's InceptionV3 with its own resize + normalisation, and a bare one (for clean-fid's pixels)."""
    state = torch.load(shared_weights, map_location="cpu", weights_only=True)
    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda url, *a, **k: state if url == FID_INCEPTION_WEIGHTS_URL else original(url)
    try:
        own = pfi.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
        bare = pfi.InceptionV3([3], resize_input=False, normalize_input=False, use_fid_inception=True).eval()
    finally:
        pfi.load_state_dict_from_url = original
    return {"own": own, "bare": bare}


def _image_sets(size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    return structured_images(COUNT, size, seed=size[0] * 7 + size[1]), structured_images(COUNT, size, seed=99)


def _fid(real: Tensor, fake: Tensor) -> float:
    real, fake = real.double(), fake.double()
    return float(frechet_distance(real.mean(0), real.T.cov(), fake.mean(0), fake.T.cov()))


def _assert_same(ours_real: Tensor, ours_fake: Tensor, ref_real: Tensor, ref_fake: Tensor) -> None:
    worst = max(float((ours_real - ref_real).abs().max()), float((ours_fake - ref_fake).abs().max()))
    assert worst <= FEATURE_ATOL, f"max abs feature difference {worst:.3g}"
    ours_fid, ref_fid = _fid(ours_real, ours_fake), _fid(ref_real, ref_fake)
    assert ref_fid > 0
    assert abs(ours_fid - ref_fid) / ref_fid <= FID_RTOL, (ours_fid, ref_fid)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tf_pipeline_reproduces_torch_fidelity(size, ours, fidelity_net) -> None:
    real, fake = _image_sets(size)
    with torch.no_grad():
        ref_real, ref_real_logits = fidelity_net(real)
        ref_fake, _ = fidelity_net(fake)
    features = {name: ours["tf"](batch, layers=["pool", "logits"]) for name, batch in (("r", real), ("f", fake))}
    _assert_same(features["r"]["pool"], features["f"]["pool"], ref_real, ref_fake)
    # Inception Score: torch-fidelity's ISC uses the logits without the fc bias ("logits_unbiased").
    bias = ours["tf"].model.fc.bias
    unbiased = features["r"]["logits"] - bias
    assert float((unbiased - ref_real_logits).abs().max()) <= FEATURE_ATOL
    ours_is, _ = inception_score(unbiased.double(), splits=2)
    ref_is = isc_features_to_metric(ref_real_logits, splits=2, shuffle=False)["inception_score_mean"]
    assert abs(float(ours_is) - ref_is) / ref_is <= FID_RTOL


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pytorch_fid_pipeline_reproduces_pytorch_fid(size, ours, pytorch_fid_nets) -> None:
    real, fake = _image_sets(size)
    with torch.no_grad():  # pytorch-fid's loader: ToTensor, i.e. x / 255 in [0, 1]
        ref_real = pytorch_fid_nets["own"](real.float() / 255)[0].flatten(1)
        ref_fake = pytorch_fid_nets["own"](fake.float() / 255)[0].flatten(1)
    _assert_same(ours["pytorch-fid"](real)["pool"], ours["pytorch-fid"](fake)["pool"], ref_real, ref_fake)


def _cleanfid_pixels(images: Tensor) -> Tensor:
    """clean-fid's own clean-mode resizer, image by image on HWC uint8 arrays, back to NCHW float32."""
    resize = cleanfid_resize.build_resizer("clean")
    out = [resize(image.permute(1, 2, 0).numpy()) for image in images]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_clean_pipeline_reproduces_clean_fid(size, ours, pytorch_fid_nets) -> None:
    real, fake = _image_sets(size)
    ref_pixels = _cleanfid_pixels(real)
    our_pixels = resize_pil_bicubic_float(real.float(), (299, 299)) if size != (299, 299) else real.float()
    assert float((our_pixels - ref_pixels).abs().max()) <= FEATURE_ATOL
    # Features: clean-fid's pixels through clean-fid's normalisation ((x - 128) / 128) into the reference network.
    with torch.no_grad():
        ref_real = pytorch_fid_nets["bare"]((ref_pixels - 128) / 128)[0].flatten(1)
        ref_fake = pytorch_fid_nets["bare"]((_cleanfid_pixels(fake) - 128) / 128)[0].flatten(1)
    _assert_same(ours["clean"](real)["pool"], ours["clean"](fake)["pool"], ref_real, ref_fake)


@pytest.mark.parametrize("size", [(32, 32), (512, 512), (200, 333), (300, 7)], ids=str)
def test_tf1_resize_equals_torch_fidelitys(size) -> None:
    images = structured_images(2, size, seed=1).float()
    expected = interpolate_bilinear_2d_like_tensorflow1x(images, size=(299, 299), align_corners=False)
    assert torch.equal(resize_tf1_bilinear(images, (299, 299)), expected)


def test_pipelines_differ_where_the_references_do(ours) -> None:
    """The three pipelines are not the same function: shrinking 512 px images separates all of them."""
    images = structured_images(2, (512, 512), seed=3)
    batches = {name: extractor.preprocess(images) for name, extractor in ours.items()}
    assert not torch.allclose(batches["tf"], batches["clean"], atol=1e-2)
    assert not torch.allclose(batches["tf"], batches["pytorch-fid"], atol=1e-2)
    assert not torch.allclose(batches["clean"], batches["pytorch-fid"], atol=1e-2)
    assert len({extractor.preprocessing.describe() for extractor in ours.values()}) == 3
