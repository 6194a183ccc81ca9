"""The bundled ``lenet-mnist`` extractor: its weights, preprocessing, taps, registry entries and training script."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganprobe
import ganprobe.extractors.lenet_mnist.weights as lenet_module
from ganprobe.errors import WeightsChecksumError
from ganprobe.extractors import FeatureExtractor, get_extractor, published
from ganprobe.extractors.lenet_mnist.weights import LENET_MNIST_SHA256, lenet_mnist_split
from ganprobe.features.extract import extract_features

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    _, _, images, labels = lenet_mnist_split()
    return images, labels


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return get_extractor("lenet-mnist")  # type: ignore[return-value]


def test_bundled_weights_are_small_pinned_and_plain_tensors() -> None:
    path = lenet_module.BUNDLED_WEIGHTS
    assert path.stat().st_size < 1_000_000
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LENET_MNIST_SHA256
    state = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 for v in state.values())


def test_held_out_digits_as_uint8_rgb_are_classified(extractor, held_out) -> None:
    images, labels = held_out
    assert len(labels) == 1000 and torch.equal(torch.bincount(labels), torch.full((10,), 100))
    rgb = images.expand(-1, 3, -1, -1).contiguous()  # uint8 RGB, as decoded from an image folder
    logits = extractor(rgb, layers="logits")["logits"]
    accuracy = float((logits.argmax(dim=1) == labels).float().mean())
    assert accuracy >= 0.95
    train_images, _, _, _ = lenet_mnist_split()  # the split is disjoint from the training digits
    train_rows = {bytes(row) for row in train_images.flatten(1).numpy()}
    assert not any(bytes(row) for row in images.flatten(1).numpy() if bytes(row) in train_rows)


def test_an_image_folder_of_rgb_pngs_upscaled_gives_the_same_predictions(extractor, held_out, tmp_path: Path) -> None:
    images, labels = held_out
    count = 60
    for index in range(count):  # 56x56 RGB PNGs: decoding, RGB->gray and the resize back to 28x28 are exercised
        digit = Image.fromarray(images[index, 0].numpy()).convert("RGB").resize((56, 56), Image.BILINEAR)
        digit.save(tmp_path / f"{index:03d}.png")
    logits = extract_features(extractor, tmp_path, layers="logits", num_workers=0)["logits"]
    assert float((logits.argmax(dim=1) == labels[:count]).float().mean()) >= 0.95


def test_preprocessing_is_gray_mnist_scaled_like_pil(extractor) -> None:
    generator = torch.Generator().manual_seed(0)
    colour = torch.randint(0, 256, (4, 3, 28, 28), dtype=torch.uint8, generator=generator)
    gray_pil = torch.stack(
        [torch.from_numpy(np.array(Image.fromarray(img.permute(1, 2, 0).numpy()).convert("L"))) for img in colour]
    ).unsqueeze(1)
    ours = extractor.preprocess(colour)
    reference = (gray_pil.float() / 255 - 0.1307) / 0.3081
    assert ours.shape == (4, 1, 28, 28)
    assert (ours - reference).abs().max() <= 1.01 / 255 / 0.3081  # PIL rounds the gray level to an integer
    gray = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=generator)
    assert torch.allclose(extractor.preprocess(gray), extractor.preprocess(gray.expand(-1, 3, -1, -1)), atol=1e-6)
    assert "gray=" in extractor.describe() and LENET_MNIST_SHA256 in extractor.describe()


def test_taps_shapes_and_logits_equal_the_network(extractor, held_out) -> None:
    images = held_out[0][:5]
    raw = extractor(images, layers=list(extractor.layers), pool=False)
    assert {k: tuple(v.shape) for k, v in raw.items()} == {
        "conv1": (5, 32, 12, 12),
        "conv2": (5, 64, 4, 4),
        "fc1": (5, 128),
        "logits": (5, 10),
    }
    pooled = extractor(images, layers=["conv1", "conv2"])
    assert torch.allclose(pooled["conv1"], raw["conv1"].mean(dim=(2, 3)), atol=1e-6)
    assert extractor.default_layer == "fc1" and extractor.logits_layer == "logits"
    assert extractor.block_layers == ("conv1", "conv2", "fc1")
    with torch.no_grad():
        direct = extractor.model(extractor.preprocess(images))
    assert torch.allclose(raw["logits"], direct, atol=1e-5)


def test_evaluator_with_inception_score_in_digit_space(extractor, held_out) -> None:
    images, labels = held_out
    real = images[labels < 5][:20]
    fake = images[labels >= 5][:20]
    evaluator = ganprobe.Evaluator("lenet-mnist", metrics=["knn_loo", "is"], settings={"is": {"splits": 1}})
    evaluator.add(real, real=True)
    evaluator.add(fake, real=False)
    results = evaluator.compute()
    assert set(results) == {"knn_loo", "is"}
    value = results["is"]
    assert set(value) == {"is", "is_std"}
    score = float(value["is"])
    probs = torch.softmax(extractor(fake, layers="logits")["logits"].double(), dim=1)
    marginal = probs.mean(dim=0, keepdim=True)
    expected = math.exp(float((probs * (probs.log() - marginal.log())).sum(dim=1).mean()))
    assert score == pytest.approx(expected, rel=1e-4)
    assert 3.0 < score <= 5.0 + 1e-6  # five confidently predicted digit classes


def test_tampered_weights_raise_checksum_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = tmp_path / "lenet_mnist.pt"
    shutil.copyfile(lenet_module.BUNDLED_WEIGHTS, tampered)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError):
        get_extractor("lenet-mnist", weights_path=tampered)
    monkeypatch.setattr(published, "BUNDLED_WEIGHTS", tampered)
    with pytest.raises(WeightsChecksumError):
        get_extractor("lenet-mnist")


def test_random_variant_is_seeded_and_differs(extractor, held_out) -> None:
    first = get_extractor("random-lenet-mnist", seed=1)
    again = get_extractor("random-lenet-mnist", seed=1)
    assert first.name == "random-lenet-mnist" and first.weights_sha256 == "random-init-seed-1"
    images = held_out[0][:4]
    assert torch.equal(first(images)["fc1"], again(images)["fc1"])
    assert not torch.allclose(first(images)["fc1"], extractor(images)["fc1"])


def test_training_script_tiny_run_writes_loadable_weights(tmp_path: Path, held_out) -> None:
    script = ROOT / "examples" / "train_lenet_mnist.py"
    env = {**os.environ, "GANPROBE_OFFLINE": "1"}
    helped = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0 and "--epochs" in helped.stdout
    output = tmp_path / "tiny.pt"
    result = subprocess.run(
        [sys.executable, str(script), "--epochs", "1", "--limit", "500", "--output", str(output), "--threads", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    printed = float(re.search(r"held-out accuracy: ([0-9.]+)", result.stdout).group(1))
    sidecar = json.loads(output.with_suffix(".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    trained = get_extractor("lenet-mnist", weights_path=output, verify_checksum=False)
    images, labels = held_out
    accuracy = float((trained(images, layers="logits")["logits"].argmax(1) == labels).float().mean())
    assert accuracy == pytest.approx(printed, abs=1e-6) and sidecar["held_out_accuracy"] == pytest.approx(printed)
    assert accuracy > 0.5  # one epoch on 500 digits already learns far more than chance (0.1)
