"""The per-class values' standard errors that regression gates allow for (issue 24): the class total variation's
count bootstrap is checked by simulation against the true spread, and the per-class halves keep every class."""

from __future__ import annotations

import torch

from ganprobe.functional.class_distribution import class_distribution
from ganprobe.run.per_class import PerClassReport, _class_halves, _total_variation_error


def test_the_total_variation_error_matches_its_spread_over_independent_samples() -> None:
    """Known truth: class shares p for both sets; over 120 independent draws of 600 reals and 600 fakes the standard
    deviation of the total variation is its true standard error, and the per-draw estimates must agree with it."""
    generator = torch.Generator().manual_seed(0)
    shares = torch.tensor([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    values, estimates = [], []
    for trial in range(120):
        real = torch.multinomial(shares, 600, True, generator=generator)
        fake = torch.multinomial(shares, 600, True, generator=generator)
        test = class_distribution(real, fake, names=[str(i) for i in range(8)])
        values.append(test.total_variation)
        estimates.append(_total_variation_error(test, seed=trial, draws=100))
    truth = float(torch.tensor(values).std())
    mean_estimate = float(torch.tensor(estimates).mean())
    assert 0.75 * truth < mean_estimate < 1.33 * truth, (truth, mean_estimate)


def test_class_halves_hold_half_of_every_class_and_do_not_overlap() -> None:
    labels = torch.tensor([0] * 7 + [1] * 4 + [2] * 1 + [3] * 10)
    first, second = _class_halves(labels, torch.Generator().manual_seed(0))
    assert set(first.tolist()).isdisjoint(second.tolist())
    for value, size in ((0, 3), (1, 2), (2, 0), (3, 5)):
        assert int((labels[first] == value).sum()) == size == int((labels[second] == value).sum())


def test_a_report_without_its_features_has_no_errors() -> None:
    test = class_distribution(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 1]))
    assert PerClassReport("tensors", "fc1", test).standard_errors() == {}
