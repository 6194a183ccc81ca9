"""32x32 ACGAN-style trainer for a labelled colour folder (the CIFAR-10 study, docs/studies.md §3).

The discriminator (eight 3x3 convolutions with LayerNorm, a real/fake head ``fc1`` and a class head ``fc10``) is
trained twice, as in the study: alone, as a classifier (``--mode classifier``), and with a generator (``--mode gan``:
WGAN-GP critic loss + gradient penalty + auxiliary classification loss). ``--mode both`` (default) does both and
reports the discriminator's class accuracy on the held-out split side by side (the study: 89.3% alone after 100
epochs, 83.5% with the generator after 180, on CIFAR-10's test set).

Losses: critic ``E[D(G(z))] - E[D(x)] + gp_weight * GP + CE(class(x), y)``; generator ``-E[D(G(z, c))] +
CE(class(G(z, c)), c)``, with the class ``c`` written into the first noise entries as a one-hot. Optimiser: Adam,
lr 1e-4, betas (0, 0.9) (WGAN-GP's), batch 64, gradient-penalty weight 10.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan import cli, outputs
from gan.data import ImageData, balanced_subset, epoch_batches, split, to_signed
from gan.loop import GAN, RunResult, fixed_inputs, generate, train
from gan.losses import gradient_penalty
from gan.models import DISCRIMINATOR_TAPS, ACGANDiscriminator, ACGANGenerator, count_parameters
from gan.monitor import MetricMonitor
from gan.progress import TrainingProgress

# The layers whose features the study maximised (its 3c): the 4th and 8th convolutions.
STUDY_FEATURE_LAYERS = ("features.conv4", "features.conv8")


@dataclass
class ClassifierResult:
    """The discriminator trained alone as a classifier: its log rows and final held-out accuracy."""

    rows: list[dict[str, float]]
    accuracy: float
    discriminator: ACGANDiscriminator


@dataclass
class ACGANResult:
    """Both trainings of ``--mode both`` (``None`` for a mode that was not run) and the comparison file."""

    classifier: ClassifierResult | None
    gan: RunResult | None
    comparison: dict[str, float]


def build_parser() -> argparse.ArgumentParser:
    """Flags of the ACGAN trainer."""
    parser = argparse.ArgumentParser(
        description="Train the 32x32 ACGAN-style discriminator of the CIFAR-10 study alone and with a generator on a "
        "labelled colour folder, tracking ganprobe metrics and the discriminator's held-out class accuracy.",
    )
    cli.add_colour_data_arguments(parser, labelled=True)
    cli.add_loop_arguments(
        parser,
        {
            "out": "runs/acgan32",
            "steps": None,
            "batch_size": 64,
            "extractor": "efficientnet-lite0",
            "eval_samples": 500,
        },
    )
    model = parser.add_argument_group("model and optimiser (defaults: the study's)")
    model.add_argument("--mode", choices=("both", "gan", "classifier"), default="both", help="default: both")
    model.add_argument("--epochs", type=int, default=180, help="GAN epochs when --steps is not given (default: 180)")
    model.add_argument("--classifier-epochs", type=int, default=100, help="epochs of the classifier-only run")
    model.add_argument("--classifier-steps", type=int, default=None, help="overrides --classifier-epochs")
    model.add_argument("--latent-dim", type=int, default=100, help="noise size (default: 100)")
    model.add_argument("--width", type=int, default=196, help="channels of every layer of both nets (default: 196)")
    model.add_argument("--lr", type=float, default=1e-4, help="Adam lr of both nets (default: 1e-4)")
    model.add_argument("--betas", type=float, nargs=2, default=(0.0, 0.9), help="Adam betas (default: 0 0.9)")
    model.add_argument("--gp-weight", type=float, default=10.0, help="gradient-penalty weight (default: 10)")
    model.add_argument(
        "--held-out", type=float, default=0.1, help="held-out fraction (< 1) or count of a --data folder's images"
    )
    probe = parser.add_argument_group("--probe (the study's visualisations)")
    probe.add_argument("--ascent-steps", type=int, default=100, help="gradient-ascent steps per synthesised image")
    probe.add_argument(
        "--epsilon", type=float, default=0.05, help="attack budget in [-1, 1] units (default: 0.05, ~6/255)"
    )
    probe.add_argument(
        "--attack-steps", type=int, default=1, help="signed-gradient steps (default: 1, the study's single step)"
    )
    probe.add_argument(
        "--feature-channels", type=int, default=8, help="channels maximised per layer (layers 4 and 8; default: 8)"
    )
    return parser


@torch.no_grad()
def class_accuracy(discriminator: ACGANDiscriminator, data: ImageData, device: torch.device, batch: int = 256) -> float:
    """Fraction of ``data`` whose class head prediction equals its label (discriminator in eval mode)."""
    was_training = discriminator.training
    discriminator.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(data), batch):
        images = to_signed(data.images[start : start + batch].to(device))
        labels = data.labels[start : start + batch].to(device)
        correct += (discriminator(images)[1].argmax(dim=1) == labels).sum()
    discriminator.train(was_training)
    return int(correct) / len(data)


def train_classifier(
    args: argparse.Namespace, train_set: ImageData, held_out: ImageData, device: torch.device, out: Path
) -> ClassifierResult:
    """The discriminator alone, trained with cross-entropy on its class head; logs held-out accuracy."""
    num_classes = len(train_set.classes)
    discriminator = ACGANDiscriminator(num_classes, args.width).to(device)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=tuple(args.betas))
    steps = args.classifier_steps or max(1, args.classifier_epochs * (len(train_set) // args.batch_size))
    batches = epoch_batches(train_set, args.batch_size, args.seed, device)
    rows: list[dict[str, float]] = []
    running = torch.zeros((), device=device)
    with TrainingProgress(steps, description="classifier") as bar:
        for step in range(1, steps + 1):
            epoch, images, labels, _ = next(batches)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(discriminator(images)[1], labels)
            loss.backward()
            optimizer.step()
            running += loss.detach()
            if step % args.eval_every == 0 or step == steps:
                count = (step - 1) % args.eval_every + 1
                accuracy = class_accuracy(discriminator, held_out, device)
                row = {"step": step, "epoch": epoch, "train_loss": float(running) / count, "accuracy": accuracy}
                rows.append(row)
                running.zero_()
                bar.update(step, losses={"train_loss": row["train_loss"]}, metrics={"d_class_accuracy": accuracy})
                bar.print(f"classifier step {step:6d}  held-out accuracy {accuracy:.3f}")
            else:
                bar.update(step)
    outputs.write_csv(rows, out / "metrics.csv")
    outputs.save_checkpoint(
        {"discriminator": discriminator.state_dict(), "step": steps}, out / "checkpoints" / "last.pt"
    )
    _plot_accuracy(rows, out / "plots" / "accuracy.png")
    return ClassifierResult(rows, rows[-1]["accuracy"], discriminator)


def _plot_accuracy(rows: Sequence[dict[str, float]], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.plot([r["step"] for r in rows], [r["accuracy"] for r in rows], marker="o")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("step")
    axes.set_ylabel("held-out class accuracy")
    axes.set_title("Discriminator trained alone as a classifier")
    axes.grid(alpha=0.3)
    outputs._save_figure(figure, path)


def build_gan(args: argparse.Namespace, num_classes: int, held_out: ImageData, device: torch.device) -> GAN:
    """Networks, optimisers and WGAN-GP + auxiliary-classifier losses (seed the global RNG first)."""
    generator = ACGANGenerator(args.latent_dim, args.width).to(device)
    discriminator = ACGANDiscriminator(num_classes, args.width).to(device)
    noise = cli.normal_noise(args.latent_dim)

    def conditioned(n: int) -> tuple[Tensor, Tensor]:
        labels = torch.randint(num_classes, (n,), device=device)
        z = ACGANGenerator.noise_with_labels(noise(n, None).to(device), labels, num_classes)
        return z, labels

    def d_loss(real: Tensor, labels: Tensor | None, _progress: float) -> dict[str, Tensor]:
        z, _ = conditioned(real.shape[0])
        with torch.no_grad():
            fake = generator(z)
        real_score, real_classes = discriminator(real)
        fake_score, _ = discriminator(fake)
        critic = fake_score.mean() - real_score.mean()
        penalty = gradient_penalty(discriminator, real, fake)
        aux = F.cross_entropy(real_classes, labels)
        return {
            "d_loss": critic + args.gp_weight * penalty + aux,
            "wasserstein": -critic.detach(),
            "d_aux": aux.detach(),
        }

    def g_loss(batch_size: int, _labels: Tensor | None, _progress: float) -> dict[str, Tensor]:
        z, labels = conditioned(batch_size)
        score, classes = discriminator(generator(z))
        aux = F.cross_entropy(classes, labels)
        return {"g_loss": -score.mean() + aux, "g_aux": aux.detach()}

    def extra_metrics() -> dict[str, float]:
        return {"d_class_accuracy": class_accuracy(discriminator, held_out, device)}

    betas = tuple(args.betas)
    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), lr=args.lr, betas=betas),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=betas),
        d_loss=d_loss,
        g_loss=g_loss,
        sample=lambda z, labels: generator(ACGANGenerator.noise_with_labels(z, labels, num_classes)),
        noise=noise,
        num_classes=num_classes,
        extra_metrics=extra_metrics,
    )


def _probe(
    discriminator: ACGANDiscriminator,
    gan: GAN | None,
    held_out: ImageData,
    args: argparse.Namespace,
    out: Path,
    name: str,
) -> dict[str, float]:
    """``--probe``: the study's visualisations for one discriminator (class-head attack, class maximisation)."""
    from gan.probes import probe_discriminator

    device = torch.device(args.device)
    probed = balanced_subset(held_out, args.probe_samples, seed=args.seed + 2)
    count = len(probed)
    real = to_signed(probed.images.to(device))
    real_labels = probed.labels.to(device)
    num_classes = discriminator.fc10.out_features
    if gan is not None:
        noise, fake_labels = fixed_inputs(gan, count, args.seed + 3, device)
        fake = generate(gan, noise, fake_labels)
        labels = {"real": real_labels.cpu(), "fake": fake_labels.cpu()}
    else:  # the classifier alone has no generator: embed the held-out images by class
        fake, labels = None, {"real": real_labels.cpu()}
    layers = DISCRIMINATOR_TAPS[ACGANDiscriminator]
    scores = probe_discriminator(
        discriminator,
        real,
        fake,
        layers,
        out / "probe",
        labels,
        real_labels,
        num_classes,
        epsilon=args.epsilon,
        attack_steps=args.attack_steps,
        ascent_steps=args.ascent_steps,
        seed=args.seed,
        class_names=held_out.classes,
        feature_layers=STUDY_FEATURE_LAYERS,
        feature_channels=args.feature_channels,
        who="D trained with G" if gan is not None else "D trained alone (classifier)",
    )
    return {f"{name}_{key}": value for key, value in scores.items()}


def run(argv: Sequence[str] | None = None) -> ACGANResult:
    """Parse flags, run the classifier-only and/or GAN training, write ``comparison.json``; return the results."""
    args = cli.parse(build_parser(), argv)
    cli.seed_everything(args.seed, args.threads)
    device = torch.device(args.device)
    data = cli.load_colour_data(args, 32, labelled=True)
    if args.torchvision is not None:  # a torchvision dataset has its own test split
        train_set, held_out = data, cli.load_colour_data(args, 32, labelled=True, train=False)
    else:
        train_set, held_out = split(data, args.held_out, seed=args.seed)
    num_classes = len(data.classes) or int(data.labels.max()) + 1
    out = Path(args.out)
    classifier = gan_result = None
    comparison: dict[str, float] = {}
    if args.mode in ("both", "classifier"):
        cli.seed_everything(args.seed, args.threads)
        classifier = train_classifier(args, train_set, held_out, device, out / "classifier")
        comparison["classifier_only_accuracy"] = classifier.accuracy
        if args.probe:
            comparison.update(
                _probe(classifier.discriminator, None, held_out, args, out / "classifier", "classifier_only")
            )
    if args.mode in ("both", "gan"):
        cli.seed_everything(args.seed, args.threads)
        args.steps = cli.steps_from_epochs(args, len(train_set))
        gan = build_gan(args, num_classes, held_out, device)
        monitor = None
        if not args.no_metrics:
            monitor = MetricMonitor(
                balanced_subset(held_out, args.eval_samples, seed=args.seed).images,
                cli.resolve_extractor(args.extractor, args.extractor_weights),
                discriminator=gan.discriminator,
                discriminator_layers=DISCRIMINATOR_TAPS[ACGANDiscriminator],
                image_size=(32, 32),
                channels=3,
                protocols=args.protocols,
                device=device,
            )
        parameters = {
            "generator": count_parameters(gan.generator),
            "discriminator": count_parameters(gan.discriminator),
        }
        info = cli.run_info(args, "acgan32", {"parameters": parameters, "classes": list(data.classes)})
        config = cli.loop_config(args)
        config.out = out / "gan"
        config.grid_nrow = num_classes  # fixed labels cycle through the classes: one class per grid column
        config.grid_size = num_classes * max(1, round(64 / num_classes))
        config.grid_classes = tuple(data.classes) or tuple(str(i) for i in range(num_classes))
        gan_result = train(gan, train_set, config, monitor, info)
        comparison["with_generator_accuracy"] = class_accuracy(gan.discriminator, held_out, device)
        if args.probe:
            comparison.update(_probe(gan.discriminator, gan, held_out, args, out / "gan", "with_generator"))
    comparison["held_out_images"] = len(held_out)
    outputs.write_json(comparison, out / "comparison.json")
    for key, value in comparison.items():
        print(f"{key:28s} {value:.4g}")
    return ACGANResult(classifier, gan_result, comparison)
