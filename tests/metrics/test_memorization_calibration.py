"""Memorisation's calibrated thresholds: fresh real images are rarely flagged, planted copies are found.

Fresh reals (images not in the real set, playing honest fakes) may be flagged at most 0.1 % of the time; planted
copies of real images (exact, shifted by one pixel, JPEG at quality 90) should be found. The old fixed threshold
0.5 flagged fresh MNIST digits (the quickstart reported a garbled blob as a copy of a clean "2").
The image sets and augmentations are the calibration script's (``benchmarks/memorization_calibration.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from ganprobe.functional.memorization import (
    leave_one_out_ratios,
    leave_one_out_threshold,
    memorization_details,
    memorization_fraction,
)
from ganprobe.metrics.declarations.memorization import CALIBRATED_THRESHOLDS
from ganprobe.metrics.memorization import Memorization

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from memorization_calibration import AUGMENTATIONS, digit_images, embed  # noqa: E402

# Splits of the calibration script use seeds 0-9; the tests draw others.
SPLIT_SEED = 1234


def split(count: int, real_size: int, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices ``(real, fresh)`` of a seeded random split of ``count`` images."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:real_size], order[real_size:]


def flagged_and_found(metric: Memorization, fresh: int, copies: int) -> tuple[int, dict[str, int]]:
    """Fresh reals flagged, and copies found per augmentation; fakes were updated as fresh, then each kind."""
    threshold, _ = metric.copy_threshold()
    below = metric.compute_details().ratio < threshold
    found = {
        kind: int(below[fresh + n * copies : fresh + (n + 1) * copies].sum()) for n, kind in enumerate(AUGMENTATIONS)
    }
    return int(below[:fresh].sum()), found


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return digit_images()


def test_fresh_digits_are_not_flagged_as_copies(digits: torch.Tensor) -> None:
    """lenet-mnist, the quickstart's setting: 1,000 reals; 4,000 other MNIST digits must not look like copies."""
    real_rows, fresh_rows = split(len(digits), 1000)
    originals = digits[real_rows[:200]]
    metric = Memorization(extractor="lenet-mnist")
    metric.update(digits[real_rows], real=True)
    metric.update(digits[fresh_rows], real=False)
    for augment in AUGMENTATIONS.values():
        metric.update(augment(originals), real=False)
    threshold, origin = metric.copy_threshold()
    assert (
        origin == "calibrated offline for lenet-mnist fc1" and threshold == CALIBRATED_THRESHOLDS["lenet-mnist"]["fc1"]
    )
    flagged, found = flagged_and_found(metric, 4000, 200)
    # measured 0.10 % over 20,000 fresh digits (docs/memorization.md); 8 of 4,000 is the top of its binomial range here
    assert flagged <= 8
    assert found["exact"] == 200 and found["JPEG q=90"] == 200
    # A 1-pixel shift moves a 28 px digit about as far in fc1 space as a different digit: rarely found
    # (docs/memorization.md).
    assert found["1-pixel shift"] < 100
    # ... which the pixel check finds, adding (almost) no fresh digits: what compute() counts is the union
    union = (metric.compute_details().ratio < threshold) | (metric.pixel_details().ratio < metric.pixel_threshold())
    assert int(union[:4000].sum()) <= 8 and bool(union[4000:].all())
    assert float(metric.compute()) == pytest.approx(float(union.double().mean()))
    # The old statistic (raw features, fixed threshold 0.5) flagged honest digits: the quickstart's false alarm.
    real, fake = metric.stored_features()
    old = memorization_details(real["fc1"], fake["fc1"][:4000], normalize=False).ratio
    assert int((old < 0.5).sum()) > 8


def test_leave_one_out_ratios_match_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(40, 5, generator=gen).double()
    real[7] = real[3]  # an exact duplicate: ratio 0 for both
    expected = []
    for row in range(len(real)):
        others = torch.cat([real[:row], real[row + 1 :]])
        expected.append(float(memorization_details(others, real[row : row + 1]).ratio[0]))
    torch.testing.assert_close(leave_one_out_ratios(real, block_bytes=4 * 40 * 3), torch.tensor(expected).double())
    positive = sorted(value for value in expected if value > 0)
    assert leave_one_out_threshold(real, rate=0.001) == positive[0]
    assert leave_one_out_threshold(real, rate=0.5) == positive[int(0.5 * (len(positive) - 1))]


def test_fallback_calibrates_on_the_real_set(digits: torch.Tensor) -> None:
    """Features without a calibrated extractor: the leave-one-out threshold keeps fresh digits unflagged."""
    features = embed("lenet-mnist", digits)
    real_rows, fresh_rows = split(len(digits), 1000)
    metric = Memorization(extractor=None)
    metric.update(features[real_rows], real=True)
    metric.update(features[fresh_rows], real=False)
    metric.update(features[real_rows[:100]], real=False)
    threshold, origin = metric.copy_threshold()
    assert origin == "leave-one-out on the real samples" and 0 < threshold < 0.5
    below = metric.compute_details().ratio < threshold
    # 1,000 reals: the threshold is their smallest leave-one-out ratio, which a fresh digit falls below with
    # probability p ~ Beta(1, 1000) over real sets: 1 / 1001 on average, at most 0.3 % in 95 % of real sets.
    assert int(below[:4000].sum()) <= 12 and bool(below[4000:].all())
    assert float(memorization_fraction(features[real_rows], features[fresh_rows])) <= 12 / 4000


def test_random_weights_fall_back_to_leave_one_out(digits: torch.Tensor) -> None:
    metric = Memorization(extractor="random-lenet-mnist")
    metric.update(digits[:50], real=True)
    metric.update(digits[:10], real=False)
    threshold, origin = metric.copy_threshold()
    assert origin == "leave-one-out on the real samples" and 0 < threshold < float("inf")
    assert float(metric.compute()) == 1.0  # exact copies: ratio 0
    assert Memorization(extractor="lenet-mnist", threshold=0.2).copy_threshold() == (0.2, "given")
