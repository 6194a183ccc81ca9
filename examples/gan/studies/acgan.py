"""Study §3, "A discriminator with and without its generator": ACGAN-style D alone vs with G, and what it sees.

Runs ``train_acgan32.py --mode both --probe`` on a labelled colour folder (``--data``, one subfolder per class;
without one, MNIST digits painted in random colours on random dark backgrounds, padded to 32x32, ten classes):

* the discriminator (eight 3x3 convolutions with LayerNorm, heads ``fc1`` and ``fc10``) trained alone as a
  classifier, and trained with its generator (WGAN-GP critic loss + gradient penalty + auxiliary classification);
  their held-out class accuracies side by side (the study: 89.3% vs 83.5% on CIFAR-10);
* (a) a small signed gradient step towards a wrong label on real held-out images, accuracy before and after (the
  study: 92.2% -> 15.6%);
* (b) gradient ascent from the average image on each class output, for both discriminators (captioned grids);
* (c) the same on single channels of layers 4 and 8;
* class-conditional sample grids during training (one class per column) and a captioned final grid;
* beyond the study, the generator's Classification Accuracy Score (Ravuri & Vinyals 2019): a linear probe on the
  extractor's features trained on generated images with the classes they were generated for, tested on held-out
  reals, beside the same probe trained on reals, and beside the fakes with their labels shuffled (chance).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan import acgan
from gan.data import image_folder, to_unit
from gan.models import ACGANGenerator
from gan.outputs import save_labelled_grid
from gan.studies.common import (
    Comparison,
    StudyResult,
    add_common_arguments,
    coloured_digits,
    common_flags,
    labelled_folder,
    resolve,
    settings_help,
)

NAME = "acgan"
TITLE = "§3 A discriminator with and without its generator (ACGAN-style, 32x32)"
SHORT = {
    "images": 1000,
    "held_out": 200,
    "width": 32,
    "classifier_epochs": 10,
    "epochs": 20,
    "batch_size": 64,
    "ascent_steps": 60,
    "probe_samples": 200,
}
FULL = {
    "images": 5000,
    "held_out": 1000,
    "width": 196,
    "classifier_epochs": 100,
    "epochs": 180,
    "batch_size": 64,
    "ascent_steps": 200,
    "probe_samples": 1000,
}
SAMPLES_PER_CLASS = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The study's flags (unset ones come from ``SHORT`` or, with ``--full``, ``FULL``)."""
    add_common_arguments(parser)
    for key, text in (
        ("images", "coloured digits built when --data is not given"),
        ("held_out", "held-out images (class accuracy, attack)"),
        ("width", "channels of every layer of D and G"),
        ("classifier_epochs", "epochs of D trained alone"),
        ("epochs", "epochs of D trained with G"),
        ("batch_size", "batch size"),
        ("ascent_steps", "gradient-ascent steps per maximised image"),
        ("probe_samples", "held-out images attacked and embedded"),
    ):
        flag = "--" + key.replace("_", "-")
        parser.add_argument(flag, type=int, default=None, help=settings_help(key, SHORT, FULL, text))
    parser.add_argument("--steps", type=int, default=None, help="GAN steps (overrides --epochs)")
    parser.add_argument("--classifier-steps", type=int, default=None, help="classifier steps (overrides its epochs)")
    parser.add_argument("--data", type=Path, default=None, help="your labelled folder (one subfolder per class)")
    parser.add_argument("--extractor", default="efficientnet-lite0", help="feature space of the GAN's metrics")


@torch.no_grad()
def samples_by_class(checkpoint: Path, classes: tuple[str, ...], args: argparse.Namespace, path: Path) -> Path:
    """A captioned grid of the trained generator: ``SAMPLES_PER_CLASS`` rows, one class per column."""
    generator = ACGANGenerator(100, args.width)
    generator.load_state_dict(torch.load(checkpoint, weights_only=True)["generator"])
    generator.eval()
    count = len(classes) * SAMPLES_PER_CLASS
    noise = torch.randn(count, 100, generator=torch.Generator().manual_seed(args.seed + 5))
    labels = torch.arange(count) % len(classes)
    images = generator(ACGANGenerator.noise_with_labels(noise, labels, len(classes)))
    captions = [classes[label] if row == 0 else "" for row in range(SAMPLES_PER_CLASS) for label in range(len(classes))]
    title = "Generator samples by class (columns; class given as the first noise entries)"
    return save_labelled_grid(images, captions, path, title, ncol=len(classes))


@torch.no_grad()
def classification_accuracy(checkpoint: Path, data: Path, args: argparse.Namespace) -> dict[str, float]:
    """The generator's CAS on the extractor's pooled features (``ganprobe.functional.classification_accuracy_score``).

    The reals are every image of ``data`` (one subfolder per class); as many fakes per class as that class has reals
    are generated for it. Half of each real class (seeded) tests the probes; the other half trains the real probe.
    The generator trained on these reals, so its CAS is, if anything, flattered (a memorising generator would score
    well); Ravuri & Vinyals test on reals the GAN never saw.

    Returns:
        ``cas`` (probe trained on the fakes), ``cas_real`` (the same probe trained on reals), ``cas_shuffled`` (on
        the fakes with their labels shuffled: near chance when CAS measures the classes), ``cas_chance`` (the most
        common held-out class's share), and ``cas_fakes`` (fakes generated).
    """
    from ganprobe.extractors import get_extractor
    from ganprobe.functional.probe_accuracy import classification_accuracy_score

    reals = image_folder(data, 32, labelled=True)
    assert reals.labels is not None
    classes = len(reals.classes)
    generator = ACGANGenerator(100, args.width)
    generator.load_state_dict(torch.load(checkpoint, weights_only=True)["generator"])
    generator.eval()
    labels = reals.labels.clone()  # the reals' class counts, for the fakes
    noise = torch.randn(len(labels), 100, generator=torch.Generator().manual_seed(args.seed + 7))
    fakes = to_unit(generator(ACGANGenerator.noise_with_labels(noise, labels, classes)))
    extractor = get_extractor(args.extractor)

    def features(images: torch.Tensor) -> torch.Tensor:
        rows = [extractor(images[start : start + 64])[extractor.default_layer] for start in range(0, len(images), 64)]
        return torch.cat(rows).double()

    real_features, fake_features = features(reals.images), features(fakes)
    right = classification_accuracy_score(real_features, reals.labels, fake_features, labels, seed=args.seed)
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(args.seed + 8))]
    wrong = classification_accuracy_score(real_features, reals.labels, fake_features, shuffled, seed=args.seed)
    return {
        "cas": right.cas,
        "cas_real": right.real_accuracy,
        "cas_shuffled": wrong.cas,
        "cas_chance": right.chance,
        "cas_fakes": float(right.num_fake_train),
    }


def run(args: argparse.Namespace) -> StudyResult:
    """Train D alone and with G, probe both; write the comparison table."""
    args = resolve(args, SHORT, FULL)
    out = Path(args.out or "runs/study_acgan")
    data = args.data or labelled_folder(coloured_digits(args.images, args.seed), out / "data")
    flags = ["--data", str(data), "--out", str(out), "--mode", "both", "--probe", "--width", str(args.width)]
    flags += ["--batch-size", str(args.batch_size), "--held-out", str(args.held_out)]
    flags += ["--ascent-steps", str(args.ascent_steps), "--probe-samples", str(args.probe_samples)]
    flags += ["--extractor", args.extractor, "--eval-samples", str(min(200, args.held_out)), "--log-every", "10"]
    flags += ["--steps", str(args.steps)] if args.steps else ["--epochs", str(args.epochs)]
    if args.classifier_steps:
        flags += ["--classifier-steps", str(args.classifier_steps)]
    else:
        flags += ["--classifier-epochs", str(args.classifier_epochs)]
    steps = args.steps or 0
    flags += ["--eval-every", str(max(1, steps // 4) if steps else 10**9)]
    result = acgan.run([*flags, *common_flags(args)])
    comparison = result.comparison
    classes = tuple(sorted(p.name for p in Path(data).iterdir() if p.is_dir()))
    files = {"comparison": out / "comparison.json"}
    checkpoint = out / "gan" / "checkpoints" / "last.pt"
    files["samples_by_class"] = samples_by_class(checkpoint, classes, args, out / "samples_by_class.png")
    numbers = {**comparison, **classification_accuracy(checkpoint, Path(data), args)}
    for who in ("classifier", "gan"):
        for plot in ("perturbation", "maximised", "maximised_features", "layer_embeddings"):
            files[f"{who}_{plot}"] = out / who / "probe" / f"{plot}.png"
    files["gan_samples"] = out / "gan" / "samples"

    def attack(name: str) -> str:
        return (
            f"{comparison[f'{name}_attack_accuracy_before']:.1%} -> {comparison[f'{name}_attack_accuracy_after']:.1%}"
        )

    note = "coloured MNIST digits, short run" if args.data is None else ""
    rows = [
        Comparison(
            "held-out class accuracy, D alone",
            "89.3% (CIFAR-10, 100 epochs)",
            f"{comparison['classifier_only_accuracy']:.1%}",
            note,
        ),
        Comparison(
            "held-out class accuracy, D with G",
            "83.5% (180 epochs)",
            f"{comparison['with_generator_accuracy']:.1%}",
            note,
        ),
        Comparison(
            "(a) signed-gradient attack, D alone",
            "92.2% -> 15.6% (images look unchanged)",
            attack("classifier_only"),
            "classifier/probe/perturbation.png",
        ),
        Comparison(
            "(a) signed-gradient attack, D with G",
            "(not reported separately)",
            attack("with_generator"),
            "gan/probe/perturbation.png",
        ),
        Comparison(
            "(b) class maximisation from the average image",
            "figure, both discriminators",
            "captioned grids, both discriminators",
            "*/probe/maximised.png",
        ),
        Comparison(
            "(c) feature maximisation, layers 4 and 8",
            "figure",
            "8 channels per layer, both discriminators",
            "*/probe/maximised_features.png",
        ),
        Comparison(
            "Classification Accuracy Score of G (Ravuri & Vinyals 2019)",
            "(not in the study)",
            f"{numbers['cas']:.1%} (real-trained probe {numbers['cas_real']:.1%}; labels shuffled "
            f"{numbers['cas_shuffled']:.1%}; chance {numbers['cas_chance']:.1%})",
            f"linear probe on {args.extractor} features, tested on held-out reals",
        ),
        Comparison(
            "sample grids",
            "epochs 0, 30, 90, 120, 180",
            "every epoch, one class per column",
            "gan/samples/, samples_by_class.png",
        ),
    ]
    return StudyResult(TITLE, rows, numbers, files)
