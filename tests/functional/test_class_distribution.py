"""Class distribution of the fakes against the reals (issue 24 item 3): chi-square test, total variation, and the
classes named missing or over-produced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mnist_classes import digits
from scipy.stats import chi2_contingency

from ganprobe.errors import InputError
from ganprobe.functional.class_distribution import (
    MISSING,
    OK,
    OVER_PRODUCED,
    UNDER_PRODUCED,
    chi2_sf,
    class_distribution,
    total_variation,
)

# Small solves and products on a shared 2-core machine: one thread (see conftest).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scipy(real: torch.Tensor, fake: torch.Tensor, classes: int) -> tuple[float, float, int]:
    table = np.stack([np.bincount(real.numpy(), minlength=classes), np.bincount(fake.numpy(), minlength=classes)])
    table = table[:, table.sum(axis=0) > 0]  # scipy refuses a class with no sample in either set
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


@pytest.mark.parametrize("seed", range(5))
def test_statistic_p_value_and_dof_match_scipy_including_zero_count_classes(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    real = torch.multinomial(torch.tensor([5.0, 3, 0, 1, 1, 0.2]), 300, True, generator=generator)
    fake = torch.multinomial(torch.tensor([5.0, 0, 0, 2, 1, 0.4]), 200, True, generator=generator)
    ours = class_distribution(real, fake, num_classes=7)  # class 2 and 6 empty in both, class 1 absent from fakes
    statistic, p_value, dof = _scipy(real, fake, 7)
    assert ours.chi2 == pytest.approx(statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(p_value, rel=1e-4, abs=1e-300)  # torch's gammaincc: ~1e-5 relative
    assert ours.dof == dof == 4
    shares = np.abs(np.bincount(real.numpy(), minlength=7) / 300 - np.bincount(fake.numpy(), minlength=7) / 200)
    assert ours.total_variation == pytest.approx(shares.sum() / 2, abs=1e-15)
    assert total_variation(real, fake, 7) == pytest.approx(ours.total_variation, abs=1e-15)


def test_chi2_survival_function_matches_scipy() -> None:
    from scipy.stats import chi2

    for dof in (1, 2, 9, 99, 999):
        for statistic in np.linspace(0.0, 5.0 * dof + 50, 200):
            assert chi2_sf(float(statistic), dof) == pytest.approx(float(chi2.sf(statistic, dof)), rel=1e-4, abs=1e-300)


def test_identical_distributions_give_zero_and_disjoint_classes_give_one() -> None:
    labels = torch.arange(10).repeat(30)
    same = class_distribution(labels, labels.flip(0))
    assert same.chi2 == 0 and same.p_value == 1 and same.total_variation == 0 and not same.flagged()
    disjoint = class_distribution(torch.zeros(50, dtype=torch.long), torch.ones(40, dtype=torch.long))
    assert disjoint.total_variation == 1 and disjoint.p_value < 1e-15
    assert [share.status for share in disjoint.classes] == [MISSING, OVER_PRODUCED]


def test_mnist_with_digit_7_removed_from_the_fakes_names_7_missing() -> None:
    data = digits()
    real, fake = data.labels[data.real], data.labels[data.fake]
    result = class_distribution(real, fake[fake != 7])
    assert result.p_value < 1e-3
    flagged = result.flagged()
    assert flagged[0].name == "7" and flagged[0].status == MISSING and flagged[0].fake_count == 0
    # Only 7: the other classes' fake shares all rose to fill its place, which is no finding of their own.
    assert [share.name for share in flagged] == ["7"]
    line = result.describe()[1]
    assert line.startswith("7: 0 of ") and "fakes (0.0 %) vs 9.6 % of reals (239 of 2,500): missing" in line


def test_over_and_under_produced_classes_are_named_by_their_residuals() -> None:
    real = torch.arange(4).repeat(250)  # 25 % each
    fake = torch.cat([torch.full((400,), 0), torch.full((100,), 1), torch.full((250,), 2), torch.full((250,), 3)])
    result = class_distribution(real, fake, names=["a", "b", "c", "d"])
    assert [share.status for share in result.classes] == [OVER_PRODUCED, UNDER_PRODUCED, OK, OK]
    assert result.classes[0].residual > result.threshold > 0 > result.classes[1].residual


def test_over_production_is_still_named_beside_a_missing_class() -> None:
    real = torch.arange(4).repeat(250)
    fake = torch.cat([torch.full((500,), 0), torch.full((250,), 1), torch.full((250,), 2)])  # 3 missing, 0 doubled
    result = class_distribution(real, fake)
    assert [share.status for share in result.classes] == [OVER_PRODUCED, OK, OK, MISSING]  # 1, 2: their real share
    fewer = torch.cat([torch.full((500,), 0), torch.full((150,), 1), torch.full((250,), 2)])
    statuses = [share.status for share in class_distribution(real, fewer).classes]
    assert statuses == [OVER_PRODUCED, UNDER_PRODUCED, OK, MISSING]


def test_the_test_is_calibrated_when_fakes_are_held_out_reals() -> None:
    labels = digits().labels
    generator = torch.Generator().manual_seed(0)
    p_values, named = [], 0
    for _ in range(400):
        order = torch.randperm(labels.shape[0], generator=generator)
        result = class_distribution(labels[order[:2500]], labels[order[2500:]])
        p_values.append(result.p_value)
        named += bool(result.flagged())
    below = float(np.mean(np.array(p_values) < 0.05))
    assert 0.02 <= below <= 0.09
    # Uniform p-values: every decile holds about a tenth (binomial sd 0.015 at 400 splits).
    deciles = np.histogram(p_values, bins=10, range=(0, 1))[0] / len(p_values)
    assert np.all(np.abs(deciles - 0.1) < 0.06)
    assert named / 400 <= 0.09  # Bonferroni: a class is named in at most about alpha of the null splits


def test_bad_inputs_fail_with_one_line() -> None:
    good = torch.tensor([0, 1])
    for real, fake, message in (
        (torch.tensor([0.5]), good, "real_labels: expected integer"),
        (good, torch.tensor([[0]]), r"fake_labels: expected a \(N,\) tensor"),
        (good, torch.tensor([-1]), "fake_labels: class indices must be >= 0"),
        (torch.tensor([], dtype=torch.long), good, "needs labels in both sets"),
    ):
        with pytest.raises(InputError, match=message):
            class_distribution(real, fake)
    with pytest.raises(InputError, match="class index 1 is beyond num_classes=1"):
        class_distribution(good, good, num_classes=1)
    with pytest.raises(InputError, match="alpha"):
        class_distribution(good, good, alpha=1.5)
