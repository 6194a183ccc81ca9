"""Extractors end to end: real ImageNet weights offline, taps, batch-size independence, metrics on images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from ganprobe import KNNLOOAccuracy, LayerSeparability, ModuleExtractor, extract_features, get_extractor
from ganprobe.functional import knn_loo_accuracy, layer_separability

ESPRESSO = 967  # ImageNet class index of "espresso"
TABBY, TIGER_CAT, EGYPTIAN_CAT = 281, 282, 285


@pytest.fixture(scope="module")
def lite0():
    return get_extractor("efficientnet-lite0")


def as_batch(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def test_default_extractor_classifies_photos_offline(lite0) -> None:
    coffee = lite0(as_batch(skdata.coffee()), layers="logits")["logits"]
    assert int(coffee.argmax()) == ESPRESSO
    cat = lite0(as_batch(skdata.chelsea()), layers="logits")["logits"]
    assert int(cat.argmax()) in (TABBY, TIGER_CAT, EGYPTIAN_CAT)
    # float [0, 1] input gives the same answer as uint8
    coffee_float = lite0(as_batch(skdata.coffee()).float() / 255, layers="logits")["logits"]
    torch.testing.assert_close(coffee_float, coffee)


def test_taps_shapes_and_one_pass(lite0) -> None:
    images = torch.rand(3, 3, 64, 64)
    feats = lite0(images, layers=list(lite0.layers))
    widths = {layer: value.shape[1] for layer, value in feats.items()}
    assert widths == {
        "stem": 32,
        "stage1": 16,
        "stage2": 24,
        "stage3": 40,
        "stage4": 80,
        "stage5": 112,
        "stage6": 192,
        "stage7": 320,
        "head": 1280,
        "pool": 1280,
        "logits": 1000,
    }
    raw = lite0(images, layers=["stage3"], pool=False)["stage3"]
    assert raw.ndim == 4 and raw.shape[:2] == (3, 40)
    torch.testing.assert_close(raw.mean(dim=(2, 3)), feats["stage3"])
    torch.testing.assert_close(feats["head"], feats["pool"])  # pool is the spatial mean of head
    # early taps stop the forward pass: only the stem is computed, and the answer is unchanged
    torch.testing.assert_close(lite0(images, layers="stem")["stem"], feats["stem"])


def test_features_do_not_depend_on_batch_size(lite0) -> None:
    images = (torch.rand(7, 3, 40, 50) * 255).to(torch.uint8)
    one_batch = extract_features(lite0, images, ["stage2", "pool"], batch_size=7)
    small_batches = extract_features(lite0, images, ["stage2", "pool"], batch_size=2)
    for layer in one_batch:
        torch.testing.assert_close(one_batch[layer], small_batches[layer], rtol=1e-5, atol=1e-5)


def test_grayscale_equals_repeated_rgb(lite0) -> None:
    gray = torch.rand(2, 1, 32, 32)
    torch.testing.assert_close(lite0(gray)["pool"], lite0(gray.repeat(1, 3, 1, 1))["pool"])


def test_random_resnet_layers_widths() -> None:
    extractor = get_extractor("random-resnet18", seed=3)
    feats = extractor(torch.rand(2, 3, 32, 32), layers=list(extractor.layers))
    assert {k: v.shape[1] for k, v in feats.items()} == {
        "layer1": 64,
        "layer2": 128,
        "layer3": 256,
        "layer4": 512,
        "pool": 512,
        "logits": 1000,
    }
    assert extractor.block_layers == ("layer1", "layer2", "layer3", "layer4")


def test_metrics_on_images_equal_metrics_on_extracted_features(tmp_path, lite0) -> None:
    gen = torch.Generator().manual_seed(0)
    real = (torch.rand(12, 3, 48, 48, generator=gen) * 255).to(torch.uint8)
    fake = (torch.rand(12, 3, 48, 48, generator=gen) * 128).to(torch.uint8)
    knn = KNNLOOAccuracy(extractor=lite0)
    knn.update(real, real=True)
    knn.update(fake, real=False)
    pooled_real = lite0(real)["pool"]
    pooled_fake = lite0(fake)["pool"]
    assert float(knn.compute()) == float(knn_loo_accuracy(pooled_real, pooled_fake))

    # the same images from folders, through update_from (decoded in a worker process)
    for name, batch in (("real", real), ("fake", fake)):
        (tmp_path / name).mkdir()
        for index, image in enumerate(batch):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / name / f"{index:03d}.png")
    sep = LayerSeparability(extractor=lite0, layers=["stage1", "stage4"], protocols=["knn_loo", "pca2_svm"])
    sep.update_from(tmp_path / "real", real=True, batch_size=5, num_workers=1)
    sep.update_from(tmp_path / "fake", real=False, batch_size=5, num_workers=0)
    real_feats = lite0(real, layers=["stage1", "stage4"])
    fake_feats = lite0(fake, layers=["stage1", "stage4"])
    expected = layer_separability(real_feats, fake_feats, ["knn_loo", "pca2_svm"])
    got = sep.compute()
    assert set(got) == {f"separability.{layer}.{protocol}" for layer in expected for protocol in expected[layer]}
    table = sep.compute_table()
    for layer in expected:
        for protocol in expected[layer]:
            assert float(got[f"separability.{layer}.{protocol}"]) == pytest.approx(expected[layer][protocol], abs=1e-9)
            assert float(table[layer][protocol]) == float(got[f"separability.{layer}.{protocol}"])


def test_default_separability_layers_are_the_blocks(lite0) -> None:
    assert LayerSeparability(extractor=lite0).layers == lite0.block_layers
    assert KNNLOOAccuracy(extractor=lite0).layer == "pool"


def test_generator_callable_source_with_a_user_discriminator_as_extractor() -> None:
    torch.manual_seed(0)
    generator = torch.nn.Sequential(torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Sigmoid())

    def sample(n: int) -> torch.Tensor:
        return generator(torch.randn(n, 8)).view(n, 3, 16, 16)

    disc = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.LeakyReLU(0.2), torch.nn.Conv2d(4, 6, 3))
    disc.train()
    extractor = ModuleExtractor(disc, layers=["1", "2"], input_size=(16, 16))
    metric = LayerSeparability(extractor=extractor, protocols=["knn_loo"])
    metric.update_from(sample, real=False, num_samples=20, batch_size=8, seed=1)
    real = torch.rand(20, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    metric.update_from(real, real=True, batch_size=6)
    first = metric.compute()
    assert disc.training  # the user's module keeps its mode
    metric.reset()
    metric.update_from(sample, real=False, num_samples=20, batch_size=20, seed=1)
    metric.update_from(real, real=True)
    second = metric.compute()
    assert set(first) == {"separability.1.knn_loo", "separability.2.knn_loo"}
    assert set(metric.compute_table()) == {"1", "2"}
    assert first == second  # seeded sampling, independent of batch sizes
    metric.update_from(sample, real=False, num_samples=20, seed=2)  # more data: no stale cached result
    assert metric.compute() != second


@pytest.mark.parametrize("name", ["efficientnet-lite0", "random-resnet18", "random-inception-fid", "lenet-mnist"])
def test_channels_last_layout_matches_standard_layout(name: str) -> None:
    # The memory layout is an option of the torch backend (ONNX Runtime picks its own).
    fast = get_extractor(name, backend="torch")
    plain = get_extractor(name, channels_last=False, backend="torch")
    assert fast.channels_last and fast.memory_layout == "channels_last"
    assert plain.memory_layout == "contiguous"
    conv_weights = [p for p in fast.model.parameters() if p.ndim == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    assert all(p.is_contiguous() for p in plain.model.parameters())
    images = (torch.rand(5, 3, 48, 48, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    layers = list(fast.block_layers) + [fast.default_layer]
    ours, reference = fast(images, layers=layers), plain(images, layers=layers)
    for layer in layers:
        # Same network, other summation order: equal to float32 round-off.
        torch.testing.assert_close(ours[layer], reference[layer], rtol=1e-4, atol=1e-5)
    # Independent of the batch size in the channels-last layout too (convolutions bit-identical here; a Linear
    # layer's GEMM may pick a batch-dependent kernel in either layout, one float32 ulp).
    whole = extract_features(fast, images, layers, batch_size=5)
    pieces = extract_features(fast, images, layers, batch_size=2)
    for layer in layers:
        torch.testing.assert_close(whole[layer], pieces[layer], rtol=1e-6, atol=1e-6)
    # Raw maps come back in the standard layout.
    raw = fast(images, layers=fast.block_layers[0], pool=False)[fast.block_layers[0]]
    assert raw.ndim == 4 and raw.is_contiguous()
    assert "execution='channels_last float32'" in fast.describe()
    assert plain.execution == "contiguous float32"


def test_module_extractor_leaves_the_users_layout_alone() -> None:
    disc = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    extractor = ModuleExtractor(disc, layers=["1"], input_size=(16, 16))
    assert extractor.memory_layout == "contiguous"
    assert disc[0].weight.is_contiguous()
