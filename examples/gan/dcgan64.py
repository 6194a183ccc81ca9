"""64x64 colour DCGAN (the face study, docs/studies.md §2) on any image folder, with ganprobe metrics while it trains.

Defaults reproduce the study: latent 64, generator 64->512x4x4->...->3x64x64 (BatchNorm, LeakyReLU 0.2, tanh),
discriminator of strided 4x4 convolutions 64->128->256->512 (BatchNorm, LeakyReLU 0.2); BCE with noisy labels (real
targets drawn from U[0.7, 1.0], fake from U[0.0, 0.3]); Adam betas (0.5, 0.999), D lr 2e-4, G lr 1.5e-3; 80 epochs;
batch 128. ``--real-labels 0.9 0.9 --fake-labels 0 0`` gives classic one-sided label smoothing; ``--instance-noise
SIGMA`` adds Gaussian noise to every discriminator input, annealed linearly from SIGMA to 0.

Evaluation follows the campus study (docs/studies.md §1): 64 real and 64 generated images by default, per-block
separability with its two PCA-2 protocols (``pca2_svm``, ``pca2_kmeans`` with seed 2) beside the held-out ones
(``linear_probe``, ``knn_loo``; trust these). The study used ImageNet ResNet-18 blocks (``--extractor resnet18``, its
weights fetched once by torchvision or given with ``--extractor-weights``); the default ``efficientnet-lite0`` works
offline.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from gan import cli
from gan.data import ImageData, balanced_subset, split, to_signed, write_pngs
from gan.loop import GAN, RunResult, fixed_inputs, generate, train
from gan.losses import bce_discriminator_loss, bce_generator_loss
from gan.models import DISCRIMINATOR_TAPS, DCGAN64Discriminator, DCGAN64Generator, count_parameters
from gan.monitor import MetricMonitor

CAMPUS_PROTOCOLS = ["linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans"]
CAMPUS_KMEANS_SEED = 2


def build_parser() -> argparse.ArgumentParser:
    """Flags of the 64x64 colour DCGAN trainer."""
    parser = argparse.ArgumentParser(
        description="Train the 64x64 colour DCGAN of the face study on an image folder, tracking ganprobe metrics "
        "(1-NN accuracy, Fréchet distance, per-block separability by the campus study's protocols).",
    )
    cli.add_colour_data_arguments(parser, labelled=False)
    cli.add_loop_arguments(
        parser,
        {
            "out": "runs/dcgan64",
            "steps": None,
            "batch_size": 128,
            "extractor": "efficientnet-lite0",
            "eval_samples": 64,
            "protocols": CAMPUS_PROTOCOLS,
        },
    )
    model = parser.add_argument_group("model and optimiser (defaults: the study's)")
    model.add_argument("--epochs", type=int, default=80, help="passes over the data when --steps is not given")
    model.add_argument("--latent-dim", type=int, default=64, help="normal latent size (default: 64)")
    model.add_argument("--width", type=int, default=64, help="base channels of both nets (default: 64)")
    model.add_argument("--d-lr", type=float, default=2e-4, help="discriminator Adam lr (default: 2e-4)")
    model.add_argument("--g-lr", type=float, default=1.5e-3, help="generator Adam lr (default: 1.5e-3)")
    model.add_argument("--betas", type=float, nargs=2, default=(0.5, 0.999), help="Adam betas (default: 0.5 0.999)")
    model.add_argument("--real-labels", type=float, nargs=2, default=(0.7, 1.0), help="range of real BCE targets")
    model.add_argument("--fake-labels", type=float, nargs=2, default=(0.0, 0.3), help="range of fake BCE targets")
    model.add_argument("--instance-noise", type=float, default=0.0, help="initial std of D-input noise (default: 0)")
    model.add_argument(
        "--held-out",
        type=float,
        default=0.1,
        help="held-out fraction (< 1) or count of images, kept out of training for evaluation",
    )
    model.add_argument(
        "--export-samples",
        type=int,
        default=0,
        help="after training, write N generated images to OUT/export/fake/ and N held-out real ones to "
        "OUT/export/real/ as PNGs (the face study's evaluation sets; capped at the held-out count; default: 0)",
    )
    return parser


def build_gan(args: argparse.Namespace, device: torch.device) -> GAN:
    """Networks, optimisers and losses of the 64x64 DCGAN (seed the global RNG first)."""
    generator = DCGAN64Generator(args.latent_dim, args.width).to(device)
    discriminator = DCGAN64Discriminator(args.width).to(device)
    noise = cli.normal_noise(args.latent_dim)

    def targets(bounds: Sequence[float], n: int) -> torch.Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(n, device=device)

    def noisy(images: torch.Tensor, progress: float) -> torch.Tensor:
        sigma = args.instance_noise * (1.0 - progress)
        return images + sigma * torch.randn_like(images) if sigma > 0 else images

    def d_loss(real: torch.Tensor, _labels: torch.Tensor | None, progress: float) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = generator(noise(real.shape[0], None).to(device))
        real_logits, fake_logits = discriminator(noisy(real, progress)), discriminator(noisy(fake, progress))
        n = real.shape[0]
        loss = bce_discriminator_loss(
            real_logits, fake_logits, targets(args.real_labels, n), targets(args.fake_labels, n)
        )
        return {
            "d_loss": loss,
            "d_real": torch.sigmoid(real_logits).mean().detach(),
            "d_fake": torch.sigmoid(fake_logits).mean().detach(),
        }

    def g_loss(batch_size: int, _labels: torch.Tensor | None, progress: float) -> dict[str, torch.Tensor]:
        fake = generator(noise(batch_size, None).to(device))
        return {"g_loss": bce_generator_loss(discriminator(noisy(fake, progress)))}

    betas = tuple(args.betas)
    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_optimizer=torch.optim.Adam(generator.parameters(), lr=args.g_lr, betas=betas),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), lr=args.d_lr, betas=betas),
        d_loss=d_loss,
        g_loss=g_loss,
        sample=lambda z, _labels: generator(z),
        noise=noise,
    )


def export_samples(gan: GAN, real: ImageData, count: int, seed: int, folder: Path) -> dict[str, Path]:
    """Write ``count`` generated images (seeded noise) and as many held-out real ones as PNG folders.

    Equal counts keep 1-NN accuracy's 0.5 baseline; both are capped at the held-out set's size.

    Returns:
        ``{"export_fake": folder / "fake", "export_real": folder / "real"}``.
    """
    count = min(count, len(real))
    device = next(gan.generator.parameters()).device
    noise, labels = fixed_inputs(gan, count, seed + 4, device)
    fake = generate(gan, noise, labels).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()
    reals = balanced_subset(real, count, seed=seed).images
    write_pngs(fake, folder / "fake")
    write_pngs(reals, folder / "real")
    print(f"exported {count} generated and {count} held-out real images to {folder}")
    return {"export_fake": folder / "fake", "export_real": folder / "real"}


def probe_dcgan64(gan: GAN, evaluation: ImageData, args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """``--probe``: t-SNE of D's blocks (real vs fake), a gradient-sign attack, and D's favourite input."""
    from gan.probes import probe_discriminator

    probed = balanced_subset(evaluation, args.probe_samples, seed=args.seed + 2)
    noise, _ = fixed_inputs(gan, len(probed), args.seed + 3, device)
    fake = generate(gan, noise, None)
    real = to_signed(probed.images.to(device))
    layers = DISCRIMINATOR_TAPS[DCGAN64Discriminator]
    return probe_discriminator(gan.discriminator, real, fake, layers, Path(args.out) / "probe", seed=args.seed)


def run(argv: Sequence[str] | None = None) -> RunResult:
    """Parse flags, train the 64x64 DCGAN with ganprobe metrics, write the run folder; return the result."""
    args = cli.parse(build_parser(), argv)
    cli.seed_everything(args.seed, args.threads)
    device = torch.device(args.device)
    data = cli.load_colour_data(args, 64, labelled=False)
    train_set, evaluation = split(data, args.held_out, seed=args.seed)
    args.steps = cli.steps_from_epochs(args, len(train_set))
    gan = build_gan(args, device)
    monitor = None
    if not args.no_metrics:
        monitor = MetricMonitor(
            balanced_subset(evaluation, args.eval_samples, seed=args.seed).images,
            cli.resolve_extractor(args.extractor, args.extractor_weights),
            discriminator=gan.discriminator,
            discriminator_layers=DISCRIMINATOR_TAPS[DCGAN64Discriminator],
            image_size=(64, 64),
            channels=3,
            protocols=args.protocols,
            separability_seed=CAMPUS_KMEANS_SEED,
            device=device,
        )
    parameters = {"generator": count_parameters(gan.generator), "discriminator": count_parameters(gan.discriminator)}
    info = cli.run_info(args, "dcgan64", {"parameters": parameters, "train_images": len(train_set)})
    result = train(gan, train_set, cli.loop_config(args), monitor, info)
    if args.export_samples:
        result.files.update(export_samples(gan, evaluation, args.export_samples, args.seed, Path(args.out) / "export"))
    if args.probe:
        probe_dcgan64(gan, evaluation, args, device)
    last = result.losses[-1]
    print(f"done: {result.steps} steps, D loss {last['d_loss']:.3f}, G loss {last['g_loss']:.3f}; files in {args.out}")
    return result
