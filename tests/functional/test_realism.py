"""Per-sample realism (Kynkäänniemi et al. 2019) and the reals least covered by any fake (issue 24 item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mnist_classes import digits, noisy

from ganprobe.errors import InputError
from ganprobe.functional.prdc import prdc_details
from ganprobe.functional.realism import coverage_ratios, realism_details, realism_scores

# Small solves and products on a shared 2-core machine: one thread (see conftest).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _brute_realism(real: np.ndarray, fake: np.ndarray, k: int) -> np.ndarray:
    """The paper's score as its released code computes it (radii above the 50th percentile dropped), without eps."""
    radii = np.sort(np.linalg.norm(real[:, None] - real[None], axis=2), axis=1)[:, k]
    kept = radii <= np.percentile(radii, 50)
    distances = np.linalg.norm(fake[:, None] - real[kept][None], axis=2)
    return (radii[kept][None, :] / distances).max(axis=1)


def test_realism_matches_a_brute_force_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(301, 12, generator=generator, dtype=torch.float64)
    fake = torch.randn(150, 12, generator=generator, dtype=torch.float64) * 1.3 + 0.2
    for k in (1, 3, 5):
        scores, threshold = realism_scores(real, fake, k)
        reference = _brute_realism(real.numpy(), fake.numpy(), k)
        np.testing.assert_allclose(scores.numpy(), reference, rtol=1e-9)
        radii = np.sort(np.linalg.norm(real.numpy()[:, None] - real.numpy()[None], axis=2), axis=1)[:, k]
        assert threshold == pytest.approx(float(np.percentile(radii, 50)), rel=1e-12)


def test_coverage_ratios_agree_with_the_coverage_of_prdc_and_realism_with_precision() -> None:
    generator = torch.Generator().manual_seed(1)
    real = torch.randn(400, 16, generator=generator)
    fake = torch.randn(300, 16, generator=generator) * 0.8 + 0.3
    details = prdc_details(real, fake, 5, recall=False)
    assert torch.equal(coverage_ratios(real, fake, 5) <= 1, details.real_covered)
    assert torch.equal(~realism_details(real, fake).uncovered(), details.real_covered)  # the headline coverage's k
    realism, _ = realism_scores(real, fake, 5)
    # A fake inside a kept ball (realism >= 1) is inside the full real manifold that precision counts.
    assert bool((details.fake_balls[realism >= 1] > 0).all()) and bool((realism >= 1).any())


def test_identical_and_fully_separated_sets() -> None:
    real = torch.randn(200, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    same = realism_details(real, real.clone(), count=5)
    assert bool((same.coverage_ratio == 0).all())
    # Each kept real's own copy: distance 0 up to the expansion's round-off, so inf or a huge ratio.
    assert int((same.realism > 1e6).sum()) >= 100
    apart = realism_details(real, real + 100.0, count=5)
    assert bool((apart.realism < 1).all()) and bool(apart.uncovered().all())
    assert apart.least_covered.shape == apart.least_realistic.shape == (5,)


def test_the_least_realistic_fakes_are_the_noisy_3s() -> None:
    data = digits()
    real_images, fake_images = data.images[data.real], data.images[data.fake].clone()
    fake_labels = data.labels[data.fake]
    threes = fake_labels == 3
    fake_images[threes] = noisy(fake_images[threes], 120.0)
    # Raw pixels in [0, 1] as features: noise moves a digit away from every real digit.
    result = realism_details(real_images.flatten(1) / 255.0, fake_images.flatten(1) / 255.0, count=50)
    assert int((fake_labels[result.least_realistic] == 3).sum()) >= 45
    assert float(result.realism[threes].median()) < float(result.realism[~threes].median())


def test_with_digit_7_removed_the_least_covered_reals_are_7s() -> None:
    data = digits()
    fake_labels = data.labels[data.fake]
    keep = fake_labels != 7
    real, fake = data.features[data.real], data.features[data.fake][keep]
    result = realism_details(real, fake, count=50)
    real_labels = data.labels[data.real]
    assert int((real_labels[result.least_covered] == 7).sum()) >= 45
    assert bool(result.uncovered()[result.least_covered].all())
    ratios = result.coverage_ratio[result.least_covered]
    assert bool((ratios[:-1] >= ratios[1:]).all())  # least covered first


def test_bad_inputs_fail_with_one_line() -> None:
    real = torch.randn(10, 3)
    with pytest.raises(InputError, match="real: needs at least 4 samples"):
        realism_scores(real[:3], real)
    with pytest.raises(InputError, match="differ in width"):
        realism_scores(real, real[:, :2])
    with pytest.raises(InputError, match="count"):
        realism_details(real, real, count=-1)
